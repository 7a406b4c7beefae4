"""SQLite's online backup of the database file into a new file, then `PRAGMA integrity_check` of the copy.

Engine-specific on purpose: a SQLite database is one file, and the backup API copies a consistent snapshot while
the bot keeps writing (WAL mode), unlike copying the file. Here, under `bot/storage/`, because it is the one place
that opens connections (issue 19); `bot.backup` keeps the file handling around it (destination, permissions,
atomic rename). A PostgreSQL database is backed up with its own tools (`pg_dump`), not by the bot.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["BackupError", "copy_and_check"]


class BackupError(Exception):
    """The backup could not be made or is not sound."""


LOCKED_WAIT_SECONDS = 5.0
"""How long a backup waits for a database another process keeps locked (the bot's own busy timeout)."""


def _give_up_when_locked(source: Path) -> Callable[[int, int, int], None]:
    """A `backup(progress=…)` callback that ends the backup once SQLite has answered busy/locked for
    `LOCKED_WAIT_SECONDS`: Python's `Connection.backup` retries those for ever, so a database another process
    keeps locked (`locking_mode=EXCLUSIVE`, a rollback journal under `BEGIN EXCLUSIVE`) hung `python -m bot
    backup` silently (issue 39, item 6)."""
    started: list[float] = []

    def progress(status: int, remaining: int, total: int) -> None:
        if status not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            started.clear()
            return
        now = time.monotonic()
        if not started:
            started.append(now)
        elif now - started[0] >= LOCKED_WAIT_SECONDS:
            raise BackupError(
                f"Backup failed: another process holds a lock on {source} (waited "
                f"{LOCKED_WAIT_SECONDS:g} s); stop that process or let it finish, then try again."
            )

    return progress


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
            src.backup(dst, progress=_give_up_when_locked(source))
            return str(dst.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"Backup failed: {exc}.") from None
    finally:
        src.close()
