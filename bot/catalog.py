"""Compiling the French catalog (`.po` → `.mo`) with Babel, refusing fuzzy or empty translations."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, LANGUAGE, LOCALES_DIR


class CatalogError(Exception):
    """The catalog would show patients untranslated text."""


def untranslated(po_path: Path) -> list[str]:
    """msgids that are missing a translation or marked fuzzy."""
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return problems


def compile_catalog(locales_dir: Path = LOCALES_DIR) -> Path:
    """Write `messages.mo` next to `messages.po`; raise `CatalogError` on untranslated entries."""
    po_path = locales_dir / LANGUAGE / "LC_MESSAGES" / f"{DOMAIN}.po"
    missing = untranslated(po_path)
    if missing:
        raise CatalogError(f"{po_path}: {len(missing)} untranslated or fuzzy message(s), e.g. {missing[0]!r}")
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=LANGUAGE)
    mo_path = po_path.with_suffix(".mo")
    with mo_path.open("wb") as fh:
        write_mo(fh, catalog)
    return mo_path
