"""The unit of work over one aiosqlite connection.

`async with store.transaction() as tx:` takes the store's lock, opens `BEGIN IMMEDIATE`, and rolls back unless
`await tx.commit()` was called (as in cosmicpython's unit of work: repositories never commit). One connection and
one lock: the bot is one process, and serialising writes is what SQLite does anyway; it also keeps "answer + audit +
alert" atomic without cross-connection surprises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import Clock
from bot.storage.db import connect, migrate


class Tx:
    """A database session handed to repositories; only the unit of work commits."""

    def __init__(self, conn: aiosqlite.Connection, writable: bool) -> None:
        self._conn = conn
        self.writable = writable
        self.committed = False

    # Each aiosqlite call is a round trip to its worker thread: one call per statement, not three.

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the last inserted row id (0 when none)."""
        cursor = await self._conn.execute(sql, tuple(params))
        return int(cursor.lastrowid or 0)

    async def execute_count(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return how many rows it changed (INSERT OR IGNORE: 0 when the row existed)."""
        cursor = await self._conn.execute(sql, tuple(params))
        return int(cursor.rowcount)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def commit(self) -> None:
        if not self.writable:
            raise RuntimeError("read-only session cannot commit")
        await self._conn.execute("COMMIT")
        self.committed = True


class Store:
    """The bot's SQLite database."""

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, clock: Clock) -> "Store":
        """Open the file, apply pending migrations, and return the store."""
        conn = await connect(path)
        await migrate(conn, clock)
        return cls(conn, path)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction; rolled back unless committed."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            tx = Tx(self._conn, writable=True)
            try:
                yield tx
            finally:
                if not tx.committed:
                    await self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A consistent read (deferred transaction, never commits anything)."""
        async with self._lock:
            await self._conn.execute("BEGIN")
            try:
                yield Tx(self._conn, writable=False)
            finally:
                await self._conn.execute("ROLLBACK")

    @property
    def connection(self) -> aiosqlite.Connection:
        """The raw connection, for the backup command and integrity checks."""
        return self._conn
