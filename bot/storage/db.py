"""Opening the SQLite file the way health data needs it, and applying numbered migrations.

WAL (readers never block the writer), `synchronous=FULL` (a committed answer survives power loss), foreign keys
on, a busy timeout. Migrations are `migrations/NNNN_name.sql`, applied in order at start-up inside one transaction
each, and recorded in `schema_version`.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import Clock, utc_iso

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
POSTGRES_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgresql"
"""The PostgreSQL twins of the migrations: same numbers and names, same tables, columns, indexes and constraints."""
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000

URL_SCHEMES = ("postgresql://", "postgres://")

MIGRATION_LOCK_KEY = 0x5350_4252_0001
"""The advisory lock that makes replicas starting together apply each PostgreSQL migration once."""


def is_postgres_url(value: object) -> bool:
    """True when `value` (a `BOT_DATABASE` setting) names a PostgreSQL database rather than a SQLite file."""
    return isinstance(value, str) and value.lower().startswith(URL_SCHEMES)


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """The shipped migrations, in order (SQLite's by default; `POSTGRES_MIGRATIONS_DIR` for PostgreSQL's)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


class DatabaseFileError(Exception):
    """The database file cannot be used (an impossible path, a directory, not SQLite, corrupt).

    `reason` is the end of one sentence; the command line names the variable or option it came from
    (`BOT_DATABASE`, `--database`) and exits with code 2.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path} cannot be used as the database: {reason}")
        self.path: Path | str = path if is_postgres_url(path) else Path(path)
        self.reason = reason


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html, section 1.3)."""

DATABASE_FILE_MODE = 0o600
"""Health data: the database and its `-wal`/`-shm` are readable by the bot's user only, whatever the umask."""

DATA_DIR_MODE = 0o700
"""A folder the bot creates for its database is private to the bot's user, whatever the umask."""

SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and missing parents, each 0700 (mkdir's mode is masked by the umask, so chmod after)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DATA_DIR_MODE)
        os.chmod(folder, DATA_DIR_MODE)


def special_file_kind(path: Path) -> str | None:
    """ "a named pipe (FIFO)", "a device", "a socket" when `path` exists and is one (following symlinks), else None.

    Why: opening a FIFO for reading blocks until some other process writes to it, so the bot, an export or a
    backup given one as its database hung silently instead of saying what is wrong.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


LOCKED_REASON = (
    "another process holds a lock on it (SQLite waited {seconds:g} s: {error}): stop that process or "
    "let it finish, then start again"
)
"""The end of the sentence for a database another process keeps locked (`BEGIN EXCLUSIVE`, `locking_mode=EXCLUSIVE`)."""


def is_lock_error(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database table is locked" / busy errors (another connection)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def locked_error(path: Path | str, exc: BaseException) -> DatabaseFileError:
    """The `DatabaseFileError` for a database another process keeps locked (one sentence, exit 2)."""
    return DatabaseFileError(path, LOCKED_REASON.format(seconds=BUSY_TIMEOUT_MS / 1000, error=exc))


def prepare_database_file(path: Path) -> None:
    """Check `path` before SQLite opens it, and create it (and its folder) private to the bot's user.

    Why before SQLite: SQLite's own errors ("unable to open database file") do not say which part of the path is
    wrong, and a file it creates gets the umask's permissions (often 0644, readable by every local user).
    SQLite gives the `-wal` and `-shm` files the database file's permissions, so a 0600 database keeps them 0600.
    """
    if path.is_dir():
        raise DatabaseFileError(path, "it is a folder, give a file name such as data/bot.sqlite3")
    special = special_file_kind(path)
    if special:  # a FIFO would block the open below forever, silently (issue 39, item 6)
        raise DatabaseFileError(path, f"it is {special}, not a regular file: give a file name such as data/bot.sqlite3")
    try:
        make_private_dirs(path.parent)
    except OSError as exc:
        raise DatabaseFileError(path, f"the folder {path.parent} cannot be created ({exc.strerror or exc})") from None
    if not path.parent.is_dir():
        raise DatabaseFileError(path, f"{path.parent} is not a folder")
    if path.exists():
        try:
            with path.open("rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise DatabaseFileError(path, f"the file cannot be read ({exc.strerror or exc})") from None
        if header and header != SQLITE_HEADER:
            raise DatabaseFileError(path, "the file is not a SQLite database")
        if not os.access(path, os.W_OK):
            raise DatabaseFileError(path, "the file is not writable")
    else:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, DATABASE_FILE_MODE))
        except FileExistsError:
            pass  # created meanwhile by another process: SQLite opens it as it is
        except OSError as exc:
            raise DatabaseFileError(path, f"the file cannot be created ({exc.strerror or exc})") from None
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
        try:
            os.chmod(candidate, DATABASE_FILE_MODE)
        except FileNotFoundError:
            continue
        except OSError as exc:  # another user's file: SQLite will say whether it can be used
            log.warning("cannot make %s private: %s", candidate.name, exc.strerror or exc)


async def connect(path: Path | str) -> aiosqlite.Connection:
    """Open (creating if needed) the database with the pragmas we rely on.

    Raises `DatabaseFileError` for a path that cannot hold the database or a file that is not a usable SQLite
    database. The connection is closed on any failure: aiosqlite's thread would otherwise keep the process alive
    after the error, and a service manager's `Restart=always` would never fire.
    """
    if str(path) != ":memory:":
        prepare_database_file(Path(path))
    try:
        conn = await aiosqlite.connect(str(path), isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseFileError(path, f"SQLite cannot open it ({exc})") from None
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except BaseException as exc:
        await conn.close()
        if is_lock_error(exc):
            raise locked_error(path, exc) from None
        if isinstance(exc, sqlite3.DatabaseError):
            raise DatabaseFileError(path, f"it is not a usable SQLite database ({exc})") from None
        raise
    return conn


async def migrate(conn: aiosqlite.Connection, clock: Clock) -> list[int]:
    """Apply the migrations not yet applied; return their numbers."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    applied: list[int] = []
    for number, path in migration_files():
        if number <= current:
            continue
        script = path.read_text(encoding="utf-8")
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(script):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (number, utc_iso(clock.now()))
            )
            await conn.execute("COMMIT")
        except Exception:
            await conn.execute("ROLLBACK")
            raise
        log.info("applied migration %s", path.name)
        applied.append(number)
    return applied


async def migrate_postgres(conn: Any, clock: Clock) -> list[int]:
    """Apply the PostgreSQL migrations not yet applied (`migrations/postgresql/`); return their numbers.

    Each file runs whole (PostgreSQL's simple query protocol takes several statements, `$$` bodies included) in
    one transaction with its `schema_version` row. An advisory lock makes replicas starting at once wait for the
    first one instead of applying a migration twice.
    """
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        for number, path in migration_files(POSTGRES_MIGRATIONS_DIR):
            if number <= current:
                continue
            async with conn.transaction():  # a savepoint: the log line below says what was applied
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", number, utc_iso(clock.now())
                )
            log.info("applied migration postgresql/%s", path.name)
            applied.append(number)
    return applied


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements: a statement ends where `sqlite3.complete_statement` says it does (it
    knows about strings, comments and the `;` inside a trigger's BEGIN … END)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if _has_sql(buffer):
        statements.append(buffer.strip())
    return statements


def _has_sql(text: str) -> bool:
    """True when `text` holds more than blank lines and `--` comments."""
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())
