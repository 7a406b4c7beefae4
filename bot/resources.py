"""Where the bot's data files are: `questionnaires/` (instruments, schedule, rules, opioid table) and `locales/`.

In a source checkout (and an editable install) they are the repository's own folders, next to `bot/`. A built
package (`pip install .`) carries a copy inside the package, `bot/_data/` (see `setup.py`: the build copies the
folders and compiles the French catalog), so an installed bot finds them without the repository.
`BOT_DATA_DIR` points at another folder holding `questionnaires/` and `locales/` (a site's own instruments).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

PACKAGE_DIR: Final[Path] = Path(__file__).resolve().parent
PACKAGED_DATA: Final[Path] = PACKAGE_DIR / "_data"
"""Filled by the package build only; absent in a source checkout."""
SOURCE_DATA: Final[Path] = PACKAGE_DIR.parent
DATA_DIR_VARIABLE: Final[str] = "BOT_DATA_DIR"


class DataFilesMissingError(RuntimeError):
    """Neither the package nor the checkout holds the data files; the message says what to do."""


def data_root() -> Path:
    """The folder holding `questionnaires/` and `locales/`: BOT_DATA_DIR, the package's copy, or the checkout."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    if configured:
        return Path(configured)
    if (PACKAGED_DATA / "questionnaires").is_dir():
        return PACKAGED_DATA
    return SOURCE_DATA


def data_path(name: str) -> Path:
    """`questionnaires` or `locales` under `data_root()`."""
    return data_root() / name


def require_data_files() -> None:
    """Fail with one sentence when the questionnaires are not where the bot looks (a broken install)."""
    folder = data_path("questionnaires")
    if not (folder / "schedule.yaml").is_file():
        raise DataFilesMissingError(
            f"Configuration error: the questionnaires folder {folder} is missing (a broken install?); "
            f"reinstall the package, or set {DATA_DIR_VARIABLE} to a folder holding questionnaires/ and locales/."
        )
