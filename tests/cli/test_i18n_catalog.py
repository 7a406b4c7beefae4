"""A missing or stale `.mo` never shows old wording: the `.po` is read instead (issue #20, "A real package")."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import i18n
from bot.catalog import compile_catalog
from bot.domain.enrolment import usage

OLD = "Utilisation : /enroll"
NEW = "Mode d'emploi : /enroll"


@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the catalog that the bot reads instead of the real one."""
    copy = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES_DIR, copy)
    monkeypatch.setattr(i18n, "LOCALES_DIR", copy)
    i18n.translations.cache_clear()
    yield copy
    i18n.translations.cache_clear()


def reword(po: Path) -> None:
    """Change a translation in the `.po` and make it newer than the `.mo`."""
    po.write_text(po.read_text(encoding="utf-8").replace(f'"{OLD}', f'"{NEW}', 1), encoding="utf-8")
    later = po.stat().st_mtime + 10
    os.utime(po, (later, later))


def test_a_po_newer_than_its_mo_wins(locales: Path) -> None:
    po = locales / "fr" / "LC_MESSAGES" / "messages.po"
    compile_catalog(locales)
    assert usage().startswith(OLD)
    reword(po)
    i18n.translations.cache_clear()
    assert usage().startswith(NEW)


def test_without_a_mo_the_po_is_read(locales: Path) -> None:
    (locales / "fr" / "LC_MESSAGES" / "messages.mo").unlink(missing_ok=True)
    assert usage().startswith(OLD)
    with i18n.source_language():
        assert usage().startswith("Usage: /enroll")  # the command line speaks English
