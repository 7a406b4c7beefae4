"""The unit of work over one aiosqlite connection.

`async with store.transaction() as tx:` takes the store's lock, opens `BEGIN IMMEDIATE` (sent with the first
statement), and rolls back unless `await tx.commit()` was called (as in cosmicpython's unit of work: repositories
never commit). One writing connection and one lock for writes: the bot is one process, and serialising writes is
what SQLite does anyway; it also keeps "answer + audit + alert" atomic. `store.read()` uses a second, read-only
connection with its own lock (WAL: a read sees the last commit and never waits for a write in progress), so reads
do not queue behind writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.clock import Clock
from bot.storage.db import DatabaseFileError, connect, is_lock_error, is_postgres_url, locked_error, migrate


class Tx:
    """A database session handed to repositories; only the unit of work commits."""

    dialect = "sqlite"
    """Which engine runs the SQL ("sqlite" here, "postgresql" in `bot.storage.postgres.PgTx`), for the rare query
    that cannot be written once for both (a catalogue lookup)."""

    def __init__(self, conn: aiosqlite.Connection, writable: bool, *, begin: str | None = None) -> None:
        self._conn = conn
        self.writable = writable
        self.committed = False
        # Statements sent with the next one, in the same trip (`defer`); the session's BEGIN waits here too.
        self._deferred: list[Deferred] = [(begin, (), None)] if begin else []

    # Each aiosqlite call is a round trip to its worker thread: one call per statement, not three; a statement
    # `defer`red (and the BEGIN) travels with the next one.

    def defer(self, sql: str, params: Iterable[Any] = (), *, unless_changed: BaseException | None = None) -> None:
        """Queue a write whose result nobody reads (an audit entry, an answer row): it runs, in order, just before
        the session's next statement or its commit, in the same round trip to the database. `unless_changed`: an
        error raised there, before anything after it runs, if the write changed no row (the commit then never
        runs, and the transaction rolls back).

        Why: a transaction holds the write lock across every round trip, and each trip waits for a turn of the
        event loop, which is busy under load (issue #18: 13 trips per answer). The transaction sees the same rows
        either way — anything read later in it runs after the queued writes. The one difference: an error in a
        queued write is raised by that next statement (or the commit), and the transaction rolls back as usual."""
        if not self.writable:
            raise RuntimeError("a read-only session cannot write")
        self._deferred.append((sql, tuple(params), unless_changed))

    async def _trip(self, sql: str, params: Iterable[Any], result: str) -> Any:
        """Run what was deferred, then `sql`, in one call to aiosqlite's thread; `result` "rowid", "count" or
        "rows" says what to return."""
        pending, self._deferred = self._deferred, []
        values = tuple(params)
        if not pending:
            if result == "rows":
                return list(await self._conn.execute_fetchall(sql, values))
            cursor = await self._conn.execute(sql, values)
            return int(cursor.rowcount) if result == "count" else int(cursor.lastrowid or 0)
        return await in_worker_thread(self._conn, _run_batch, pending, [(sql, values)], result)

    async def fetch_each(self, queries: Sequence[tuple[str, Iterable[Any]]]) -> list[list[aiosqlite.Row]]:
        """Several reads in one round trip (after what was deferred): the rows of each query, in order. For the
        lookups every answer makes before it can be checked (the patient, their open questionnaire, its answers)."""
        pending, self._deferred = self._deferred, []
        statements = [(sql, tuple(params)) for sql, params in queries]
        return list(await in_worker_thread(self._conn, _run_batch, pending, statements, "each"))

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the last inserted row id (0 when none)."""
        return int(await self._trip(sql, params, "rowid"))

    async def execute_count(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return how many rows it changed (INSERT OR IGNORE: 0 when the row existed)."""
        return int(await self._trip(sql, params, "count"))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._trip(sql, params, "rows")
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self._trip(sql, params, "rows"))

    async def commit(self) -> None:
        if not self.writable:
            raise RuntimeError("read-only session cannot commit")
        await self._trip("COMMIT", (), "count")
        self.committed = True

    @property
    def began(self) -> bool:
        """The session's transaction is open on the connection (its BEGIN was sent and it did not end)."""
        return bool(self._conn.in_transaction)


Deferred = tuple[str, tuple[Any, ...], BaseException | None]
"""A statement waiting for the next trip: SQL, parameters, and the error to raise if it changes no row."""


def _run_batch(
    conn: sqlite3.Connection, pending: list[Deferred], statements: list[tuple[str, tuple[Any, ...]]], result: str
) -> Any:
    """In aiosqlite's thread: run the `pending` writes (each checked against its `unless_changed`), then
    `statements`; return what `result` asks: of the last statement ("rowid", "count", "rows"), or every
    statement's rows ("each")."""
    for sql, params, unless_changed in pending:
        cursor = conn.execute(sql, params)
        if unless_changed is not None and cursor.rowcount == 0:
            raise unless_changed
    if result == "each":
        return [conn.execute(sql, params).fetchall() for sql, params in statements]
    for sql, params in statements:
        cursor = conn.execute(sql, params)
    if result == "rows":
        return cursor.fetchall()
    return cursor.rowcount if result == "count" else (cursor.lastrowid or 0)


async def in_worker_thread(conn: aiosqlite.Connection, function: Any, *args: Any) -> Any:
    """Call `function(sqlite3_connection, *args)` in aiosqlite's worker thread: one round trip for several
    statements.

    aiosqlite has no public call for this; `Connection._execute` (queue a function for its thread) and `_conn`
    (the sqlite3 connection, only touched from that thread) are the two private names it relies on (checked on
    aiosqlite 0.22.1; pyproject asks for ≥ 0.20) — `tests/test_deferred_writes.py` fails first if an upgrade
    removes or changes them."""
    return await conn._execute(function, conn._conn, *args)


class SingleStatement(Tx):
    """A session for exactly one write statement, which SQLite commits on its own (the connection is in autocommit
    mode outside `BEGIN`): one round trip to aiosqlite's thread instead of three. A second statement is refused,
    since two would not be atomic."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__(conn, writable=True)
        self._used = False

    def defer(self, sql: str, params: Iterable[Any] = (), *, unless_changed: BaseException | None = None) -> None:
        raise RuntimeError("a single-statement session runs one statement now; use store.transaction()")

    async def fetch_each(self, queries: Sequence[tuple[str, Iterable[Any]]]) -> list[list[aiosqlite.Row]]:
        raise RuntimeError("a single-statement session runs one statement; use store.read() or transaction()")

    def _once(self) -> None:
        if self._used:
            raise RuntimeError("a single-statement session runs one statement; use store.transaction()")
        self._used = True

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        self._once()
        return await super().execute(sql, params)

    async def execute_count(self, sql: str, params: Iterable[Any] = ()) -> int:
        self._once()
        return await super().execute_count(sql, params)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        self._once()
        return await super().fetchone(sql, params)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        self._once()
        return await super().fetchall(sql, params)

    async def commit(self) -> None:
        """Nothing to do: the statement was committed when it ran."""
        self.committed = True


class SingleRead(SingleStatement):
    """A session for exactly one read statement, outside any transaction: a single SELECT is its own consistent
    snapshot, so the BEGIN and ROLLBACK of `Store.read` (two more round trips to aiosqlite's thread, each waiting
    for a turn of a busy event loop) buy nothing for it (issue #18)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__(conn)
        self.writable = False

    async def commit(self) -> None:
        raise RuntimeError("read-only session cannot commit")


async def _probe_write_lock(conn: aiosqlite.Connection) -> None:
    """Take the write lock once and give it back, so a database another process keeps locked is refused at start-up
    (one sentence, exit 2) instead of failing the bot's first write with a traceback (issue 39, item 6).

    `BEGIN IMMEDIATE` waits up to the busy timeout for a writer that is merely busy (the bot's own transactions
    last milliseconds), so an export or a backup taken while the bot runs is not refused.
    """
    await conn.execute("BEGIN IMMEDIATE")
    await conn.execute("ROLLBACK")


class Store:
    """The bot's SQLite database (`bot.storage.engines.open_store` gives a `bot.storage.postgres.PgStore` for a
    PostgreSQL URL)."""

    dialect = "sqlite"

    def __init__(
        self, conn: aiosqlite.Connection, path: Path | str, reader: aiosqlite.Connection | None = None
    ) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        # Reads on their own connection (and aiosqlite thread), under their own lock: in WAL mode a reader sees
        # the last committed state and never blocks the writer, so a handler that only reads (the next question,
        # a guard, a chart) does not queue behind another patient's answer transaction (issue #18: one lock for
        # every read and write serialised the handlers). Without a reader (":memory:"), reads share the writer.
        self._reader = reader
        self._read_lock = asyncio.Lock() if reader is not None else self._lock

    @classmethod
    async def open(cls, path: Path | str, clock: Clock) -> Store:
        """Open the SQLite file, apply pending migrations, and return the store.

        For a `BOT_DATABASE` that may be a PostgreSQL URL, use `bot.storage.engines.open_store`.
        """
        if is_postgres_url(path):
            raise ValueError("a PostgreSQL URL is opened by bot.storage.engines.open_store, not Store.open")
        conn = await connect(path)
        try:
            applied = await migrate(conn, clock)
            if applied and str(path) != ":memory:":
                # A fresh connection reads the schema as the migrations left it, whatever they did to it (0012
                # edits a CHECK in place: `writable_schema=RESET` already reloads it, on SQLite versions that know it).
                await conn.close()
                conn = await connect(path)
            if str(path) != ":memory:":
                await _probe_write_lock(conn)
        except BaseException as exc:
            await conn.close()  # else aiosqlite's thread keeps the process alive after the error
            if is_lock_error(exc):
                raise locked_error(path, exc) from None
            if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "disk image is malformed"
                raise DatabaseFileError(path, f"it is not a usable SQLite database ({exc})") from None
            raise
        reader = None
        if str(path) != ":memory:":
            try:
                reader = await connect(path)
                await reader.execute("PRAGMA query_only=ON")
            except BaseException:
                await conn.close()
                if reader is not None:
                    await reader.close()
                raise
        return cls(conn, path, reader)

    async def close(self) -> None:
        if self._reader is not None:
            async with self._read_lock:
                await self._reader.close()
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction; rolled back unless committed."""
        async with self._lock:
            tx = Tx(self._conn, writable=True, begin="BEGIN IMMEDIATE")  # sent with the first statement
            try:
                yield tx
            finally:
                if not tx.committed and tx.began:
                    await self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[Tx]:
        """One write statement, durable when it returns (for the per-answer bookkeeping on the hot path)."""
        async with self._lock:
            yield SingleStatement(self._conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A consistent read (deferred transaction, never commits anything)."""
        conn = self._reader or self._conn
        async with self._read_lock:
            tx = Tx(conn, writable=False, begin="BEGIN")  # sent with the first statement
            try:
                yield tx
            finally:
                if tx.began:
                    await conn.execute("ROLLBACK")

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[Tx]:
        """One read statement (a lookup on the hot path of every update): no transaction around it."""
        async with self._read_lock:
            yield SingleRead(self._reader or self._conn)

    @property
    def connection(self) -> aiosqlite.Connection:
        """The raw connection, for the backup command and integrity checks."""
        return self._conn
