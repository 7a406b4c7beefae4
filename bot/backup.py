"""Online backup of the live database (SQLite's backup API), checked with `PRAGMA integrity_check`.

The backup API copies a consistent snapshot while the bot keeps writing (WAL mode), unlike copying the file.
Restore = stop the bot, replace the database file with the backup (and remove any `-wal`/`-shm` next to it),
start the bot (see README, "Backups").
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class BackupError(Exception):
    """The backup could not be made or is not sound."""


def backup(source: Path, destination: Path) -> Path:
    """Copy `source` to `destination` (a file, or a directory to put a dated file in) and verify the copy."""
    if not source.exists():
        raise BackupError(f"The database {source} does not exist.")
    if destination.is_dir():
        destination = destination / f"{source.stem}-backup.sqlite3"
    if destination.exists():
        raise BackupError(f"{destination} already exists: choose a new file name.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(destination)
        try:
            src.backup(dst)
            result = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"Backup failed: {exc}.") from exc
    finally:
        src.close()
    if result != "ok":
        raise BackupError(f"The backup {destination} failed its integrity check: {result}.")
    return destination
