"""Opening the SQLite file the way health data needs it, and applying numbered migrations.

WAL (readers never block the writer), `synchronous=FULL` (a committed answer survives power loss), foreign keys
on, a busy timeout. Migrations are `migrations/NNNN_name.sql`, applied in order at start-up inside one transaction
each, and recorded in `schema_version`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import aiosqlite

from bot.clock import Clock, utc_iso

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000


def migration_files() -> list[tuple[int, Path]]:
    """The shipped migrations, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


async def connect(path: Path | str) -> aiosqlite.Connection:
    """Open (creating if needed) the database with the pragmas we rely on."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=FULL")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (triggers contain `;` inside BEGIN … END)."""
    statements: list[str] = []
    buffer: list[str] = []
    in_trigger = False
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        buffer.append(line)
        upper = stripped.upper()
        if upper.startswith("CREATE TRIGGER"):
            in_trigger = True
        if in_trigger:
            if upper.endswith("END;"):
                statements.append("\n".join(buffer))
                buffer, in_trigger = [], False
        elif stripped.endswith(";"):
            statements.append("\n".join(buffer))
            buffer = []
    if buffer:
        statements.append("\n".join(buffer))
    return statements
