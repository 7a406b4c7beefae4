"""Gettext for every user-facing string.

The bot speaks one language, French. Source strings (msgids) are English so the catalog can be reviewed by a
translator; `locales/fr/LC_MESSAGES/messages.po` holds the French text and is compiled to `.mo` at set-up
(`python -m bot compile-catalog`, done by the README commands, and by the package build). A `.mo` that is
missing or older than its `.po` is never used: the `.po` is read instead, so old wording is never shown.

Questionnaire wording is not here: it is instrument data in `questionnaires/*.yaml`, written in French, versioned
with the instrument (a licensed instrument is dropped in as a file, so its text cannot live in our catalog).
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.resources import data_path

LOCALES_DIR = data_path("locales")
DOMAIN = "messages"
LANGUAGE = "fr"


_SOURCE_LANGUAGE: ContextVar[bool] = ContextVar("source_language", default=False)
"""True inside `source_language()`: `_()` returns the English msgid."""


@lru_cache(maxsize=1)
def translations() -> _gettext.NullTranslations:
    """Load the French catalog once: the compiled `.mo`, or the `.po` itself when the `.mo` is missing or older.

    Why the `.po` fallback: a `pip install` or a `git pull` without `compile-catalog` must neither crash nor show
    wording the `.po` no longer has (a stale `.mo`). The `.po` is the source of truth; the `.mo` is only faster.
    """
    mo = LOCALES_DIR / LANGUAGE / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        return _from_po(po)
    if not mo.exists():
        return _gettext.NullTranslations()
    with mo.open("rb") as fh:
        return _gettext.GNUTranslations(fh)


def _from_po(po: Path) -> _gettext.GNUTranslations:
    """Compile `po` in memory (Babel), as `python -m bot compile-catalog` would write it."""
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=LANGUAGE)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def _(message: str) -> str:
    """Translate `message` into French."""
    if _SOURCE_LANGUAGE.get():
        return message
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a plural form."""
    if _SOURCE_LANGUAGE.get():
        return singular if n == 1 else plural
    return translations().ngettext(singular, plural, n)


@contextmanager
def source_language() -> Iterator[None]:
    """Speak English (the msgids) inside the block.

    Why: the command line talks to an operator, in English like the rest of its output and the README; the
    domain's messages (an enrolment error, say) are written for the clinicians' group and go through `_()`.
    """
    token = _SOURCE_LANGUAGE.set(True)
    try:
        yield
    finally:
        _SOURCE_LANGUAGE.reset(token)


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it with `_()` where it is used."""
    return message
