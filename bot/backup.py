"""Online backup of the live database (SQLite's backup API, `bot.storage.sqlite_backup`), checked with
`PRAGMA integrity_check`.

The backup API copies a consistent snapshot while the bot keeps writing (WAL mode), unlike copying the file.
Restore = stop the bot, replace the database file with the backup (and remove any `-wal`/`-shm` next to it),
start the bot (see docs/operations.md, "Backups and restore").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.output_files import output_problem
from bot.storage.db import DATABASE_FILE_MODE, SIDE_FILES, make_private_dirs, special_file_kind
from bot.storage.sqlite_backup import BackupError, copy_and_check

__all__ = ["BackupError", "backup"]


def backup(source: Path, destination: Path) -> Path:
    """Copy `source` to `destination` (a file, or a directory to put a dated file in) and verify the copy.

    The copy is made in a private temporary file (0600: a backup is health data) next to the destination, checked,
    then renamed into place: an interrupted backup never leaves a plausible-looking partial file, and the database
    and its `-wal`/`-shm` are never a destination.
    """
    if not source.exists():
        raise BackupError(f"The database {source} does not exist.")
    special = special_file_kind(source)
    if special:  # SQLite would block opening a FIFO for ever (issue 39, item 6)
        raise BackupError(f"The database {source} is {special}, not a regular file.")
    if destination.is_dir():
        destination = destination / f"{source.stem}-backup.sqlite3"
    problem = output_problem(destination, database=source, force=False, can_force=False)
    if problem:
        raise BackupError(f"Cannot write the backup: {problem}.")
    try:
        make_private_dirs(destination.parent)
        handle, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
        os.close(handle)  # mkstemp creates it 0600, whatever the umask
    except OSError as exc:
        raise BackupError(f"Cannot write the backup {destination}: {exc.strerror or exc}.") from None
    tmp = Path(tmp_name)
    try:
        result = copy_and_check(source, tmp)
        if result != "ok":
            raise BackupError(f"The backup {destination} failed its integrity check: {result}.")
        os.chmod(tmp, DATABASE_FILE_MODE)
        os.replace(tmp, destination)
    except OSError as exc:
        raise BackupError(f"Cannot write the backup {destination}: {exc.strerror or exc}.") from None
    finally:
        tmp.unlink(missing_ok=True)
        for suffix in SIDE_FILES:
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    return destination
