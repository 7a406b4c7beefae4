"""Gettext for every user-facing string.

The bot speaks one language, French. Source strings (msgids) are English so the catalog can be reviewed by a
translator; `locales/fr/LC_MESSAGES/messages.po` holds the French text and is compiled to `.mo` at set-up
(`python -m bot compile-catalog`, done by the README commands). As in aiogram's i18n, a catalog that exists as
`.po` but was not compiled is an error, never a silent fallback to English.

Questionnaire wording is not here: it is instrument data in `questionnaires/*.yaml`, written in French, versioned
with the instrument (a licensed instrument is dropped in as a file, so its text cannot live in our catalog).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
LANGUAGE = "fr"


_SOURCE_LANGUAGE: ContextVar[bool] = ContextVar("source_language", default=False)
"""True inside `source_language()`: `_()` returns the English msgid."""


class CatalogNotCompiledError(RuntimeError):
    """The French `.po` exists but its `.mo` was not compiled."""


@lru_cache(maxsize=1)
def translations() -> _gettext.NullTranslations:
    """Load the compiled French catalog once."""
    mo = LOCALES_DIR / LANGUAGE / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if not mo.exists():
        if po.exists():
            raise CatalogNotCompiledError(
                f"{mo} is missing: compile the catalog with `python -m bot compile-catalog`."
            )
        return _gettext.NullTranslations()
    with mo.open("rb") as fh:
        return _gettext.GNUTranslations(fh)


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
