"""SQLite's online backup of the database file into a new file, then `PRAGMA integrity_check` of the copy.

Engine-specific on purpose: a SQLite database is one file, and the backup API copies a consistent snapshot while
the bot keeps writing (WAL mode), unlike copying the file. Here, under `bot/storage/`, because it is the one place
that opens connections (issue 19); `bot.backup` keeps the file handling around it (destination, permissions,
atomic rename). A PostgreSQL database is backed up with its own tools (`pg_dump`), not by the bot.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["BackupError", "copy_and_check"]


class BackupError(Exception):
    """The backup could not be made or is not sound."""


def copy_and_check(source: Path, target: Path) -> str:
    """Copy `source` (opened read-only) into `target`; return the copy's integrity check result ("ok" when sound).

    Raises `BackupError` when SQLite cannot read the source or write the copy.
    """
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"Backup failed: {exc}.") from None
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            return str(dst.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"Backup failed: {exc}.") from None
    finally:
        src.close()
