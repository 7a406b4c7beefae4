"""The PostgreSQL adapter behind the storage port: `PgStore` and `PgTx`, the same interface as `Store` and `Tx`.

Why: several replicas of the bot can share one PostgreSQL database (issue 19), while SQLite stays the default for a
single process. `BOT_DATABASE=postgresql://…` (or `postgres://…`) selects it (`bot.storage.engines.open_store`).

The repositories under `bot/storage/` keep writing one SQL text for both engines (SQLite's `?` placeholders,
`INSERT OR IGNORE`, `x IS ?`); `translate` rewrites it for PostgreSQL once per distinct SQL string (cached). What
differs in values is smoothed here too, so a repository sees what SQLite gives it: NUMERIC (`SUM` of a BIGINT)
comes back as int or float, booleans (`EXISTS (…)`) as 0/1, and parameters are coerced to the types PostgreSQL
inferred for them (asyncpg refuses a str for a BIGINT, where SQLite would store anything anywhere).

Writers are serialised like SQLite's: within a process by an asyncio lock (so at most one pooled connection waits),
and across processes by a transaction-level advisory lock taken right after `BEGIN`, released at commit or rollback.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.clock import Clock
from bot.storage.db import DatabaseFileError, is_postgres_url
from bot.storage.store import Deferred, Store, Tx  # store.py never imports this module (bot.storage.engines chooses)

__all__ = ["PgRow", "PgStore", "PgTx", "Translated", "WRITE_LOCK_KEY", "is_postgres_url", "translate"]

WRITE_LOCK_KEY = 0x5350_4252_0019
"""The `pg_advisory_xact_lock` key every write transaction takes ("SPBR" + issue 19): one writer at a time across
every replica sharing the database, as the SQLite code assumes."""

POOL_MAX_SIZE = 10
"""Reads run in parallel on the pool; writes take one connection at a time (the process lock)."""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ---- SQL translation ------------------------------------------------------------------------------------------------

_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*")
_INSERT_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_IS_NOT_PARAM = re.compile(r"\bIS\s+NOT\s+\?", re.IGNORECASE)
_IS_PARAM = re.compile(r"\bIS\s+\?", re.IGNORECASE)
_INSERT_TABLE = re.compile(r"^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.IGNORECASE)


@dataclass(frozen=True)
class Translated:
    """A SQLite-flavoured statement rewritten for PostgreSQL.

    `sql` is the statement to run; `insert_table` the target of an INSERT (None otherwise), so `execute` can ask
    for the new id; `returning` is True when the statement already says RETURNING.
    """

    sql: str
    insert_table: str | None
    returning: bool


def _segments(sql: str) -> Iterator[tuple[bool, str]]:
    """The statement cut into (is_code, text): quoted strings, quoted identifiers and comments are not code."""
    position = 0
    for match in _QUOTED.finditer(sql):
        if match.start() > position:
            yield True, sql[position : match.start()]
        yield False, match.group(0)
        position = match.end()
    if position < len(sql):
        yield True, sql[position:]


@lru_cache(maxsize=4096)
def translate(sql: str) -> Translated:
    """Rewrite one statement: `?` → `$1…$n` (not inside quotes), `x IS ?` → `IS NOT DISTINCT FROM` (PostgreSQL's
    IS takes only NULL/TRUE/FALSE), `INSERT OR IGNORE INTO` → `INSERT INTO … ON CONFLICT DO NOTHING`.

    Pure and cached (the repositories use a few hundred distinct strings, each translated once).
    """
    parts: list[str] = []
    number = 0
    ignore = False
    returning = False
    has_conflict = False

    def placeholder(_: re.Match[str] | None = None) -> str:
        nonlocal number
        number += 1
        return f"${number}"

    for is_code, text in _segments(sql):
        if not is_code:
            parts.append(text)
            continue
        if _INSERT_OR_IGNORE.search(text):
            ignore = True
            text = _INSERT_OR_IGNORE.sub("INSERT INTO", text)
        returning = returning or bool(_RETURNING.search(text))
        has_conflict = has_conflict or bool(_ON_CONFLICT.search(text))
        out: list[str] = []
        index = 0
        while index < len(text):
            is_not = _IS_NOT_PARAM.match(text, index)
            is_ = _IS_PARAM.match(text, index) if is_not is None else None
            if is_not is not None:
                out.append("IS DISTINCT FROM " + placeholder())
                index = is_not.end()
            elif is_ is not None and (index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")):
                out.append("IS NOT DISTINCT FROM " + placeholder())
                index = is_.end()
            elif text[index] == "?":
                out.append(placeholder())
                index += 1
            else:
                out.append(text[index])
                index += 1
        parts.append("".join(out))
    body = "".join(parts).rstrip()
    if body.endswith(";"):
        body = body[:-1].rstrip()
    if ignore and not has_conflict:
        if returning:
            match = list(_RETURNING.finditer(body))[-1]
            body = f"{body[: match.start()].rstrip()} ON CONFLICT DO NOTHING {body[match.start() :]}"
        else:
            body += " ON CONFLICT DO NOTHING"
    table = _INSERT_TABLE.match(body)
    return Translated(body, table.group(1).lower() if table else None, returning)


@lru_cache(maxsize=4096)
def with_returning_id(sql: str) -> str:
    """The INSERT asking for the new row's id (what SQLite's `lastrowid` gives)."""
    return f"{sql} RETURNING id"


# ---- values ---------------------------------------------------------------------------------------------------------

_INT_TYPES = frozenset({"int2", "int4", "int8", "oid"})
_FLOAT_TYPES = frozenset({"float4", "float8"})
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "unknown"})


def coerce(value: object, type_name: str) -> object:
    """A parameter as PostgreSQL's inferred type wants it (SQLite stores any value in any column; asyncpg encodes
    by the statement's parameter types and refuses a mismatch). None stays None."""
    if value is None:
        return None
    if type_name in _INT_TYPES:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (str, float, Decimal)):
            return int(value)
        return value
    if type_name in _FLOAT_TYPES:
        return float(value) if isinstance(value, (int, str, Decimal)) else value
    if type_name == "numeric":
        return Decimal(str(value)) if isinstance(value, (int, float, str)) else value
    if type_name in _TEXT_TYPES:
        text = value if isinstance(value, str) else str(int(value) if isinstance(value, bool) else value)
        # PostgreSQL text cannot hold NUL (SQLite stores it): a patient's message with one would otherwise be lost
        # with its whole transaction. U+FFFD (the replacement character) marks where it was.
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    if type_name == "bool":
        return bool(value) if isinstance(value, (int, str)) else value
    return value


def _plain(value: object) -> object:
    """A column value as SQLite would give it: bool → 0/1, NUMERIC → int when whole, else float."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class PgRow:
    """A result row indexable by column name and by position, like `sqlite3.Row`; iterating gives the values (as
    `tuple(row)` does for a sqlite3.Row), `keys()` the names."""

    __slots__ = ("_names", "_values", "_index")

    def __init__(self, names: tuple[str, ...], values: tuple[object, ...], index: Mapping[str, int]) -> None:
        self._names = names
        self._values = values
        self._index = index

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return self._values == other._values and self._names == other._names
        if isinstance(other, tuple):
            return self._values == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._names, self._values))!r})"


def _rows(records: list[asyncpg.Record]) -> list[Any]:
    if not records:
        return []
    names = tuple(records[0].keys())
    index = {name: position for position, name in enumerate(names)}
    return [PgRow(names, tuple(_plain(v) for v in record.values()), index) for record in records]


def _rowcount(status: str) -> int:
    """The row count of a command status ("INSERT 0 1", "UPDATE 3", "DELETE 0"); 0 when it has none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgIntegrityError(sqlite3.IntegrityError):
    """A constraint (or an append-only trigger) refused the statement: raised as the DB-API's IntegrityError, the
    class a caller of the SQLite store catches, so callers catch one class whichever engine runs."""


@contextmanager
def _integrity_errors() -> Iterator[None]:
    try:
        yield
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.RaiseError) as exc:
        raise PgIntegrityError(str(exc)) from exc


# ---- sessions -------------------------------------------------------------------------------------------------------


class PgTx(Tx):
    """A session on one pooled connection, with `Tx`'s interface (a subclass, so every repository typed `Tx` takes
    it unchanged); `dialect` lets the few engine-specific queries (catalogue lookups) choose their SQL."""

    dialect = "postgresql"

    def __init__(self, store: PgStore, conn: asyncpg.Connection, writable: bool, transaction: Any = None) -> None:
        self._store = store
        self._pg = conn
        self._transaction = transaction
        self.writable = writable
        self.committed = False
        self._deferred: list[Deferred] = []

    async def _flush(self) -> None:
        """Run the statements `defer`red so far, in order, before the next one (asyncpg sends one statement per
        trip: on PostgreSQL deferring changes when a write runs, not how many trips it takes)."""
        pending, self._deferred = self._deferred, []
        for sql, params, unless_changed in pending:
            if await self.execute_count(sql, params) == 0 and unless_changed is not None:
                raise unless_changed

    async def fetch_each(self, queries: Sequence[tuple[str, Iterable[Any]]]) -> list[list[Any]]:
        """Each query's rows, in order (one trip each: asyncpg has no batch of parametrised reads)."""
        return [await self.fetchall(sql, params) for sql, params in queries]

    async def _prepared(self, sql: str, params: Iterable[Any]) -> tuple[str, list[object]]:
        args = list(params)
        types = self._store.parameter_types.get(sql)
        if types is None:
            # Once per SQL text for the process (the schema is the same on every connection); the executions
            # below go through asyncpg's own per-connection statement cache.
            statement = await self._pg.prepare(sql)
            types = tuple(t.name for t in statement.get_parameters())
            self._store.parameter_types[sql] = types
        return sql, [coerce(value, types[i]) if i < len(types) else value for i, value in enumerate(args)]

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the inserted row's id for an INSERT into a table with an `id` (0 otherwise, and
        0 when `INSERT OR IGNORE` inserted nothing), as SQLite's `lastrowid` does."""
        await self._flush()
        translated = translate(sql)
        with _integrity_errors():
            if translated.insert_table in self._store.tables_with_id and not translated.returning:
                text, args = await self._prepared(with_returning_id(translated.sql), params)
                value = await self._pg.fetchval(text, *args)
                return int(value or 0)
            text, args = await self._prepared(translated.sql, params)
            if translated.returning:
                value = await self._pg.fetchval(text, *args)
                return int(value) if isinstance(value, int) else 0
            await self._pg.execute(text, *args)
            return 0

    async def execute_count(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return how many rows it changed (INSERT OR IGNORE: 0 when the row existed)."""
        await self._flush()
        with _integrity_errors():
            text, args = await self._prepared(translate(sql).sql, params)
            return _rowcount(await self._pg.execute(text, *args))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        await self._flush()
        with _integrity_errors():
            text, args = await self._prepared(translate(sql).sql, params)
            return _rows(await self._pg.fetch(text, *args))

    async def commit(self) -> None:
        if not self.writable:
            raise RuntimeError("read-only session cannot commit")
        await self._flush()
        await self._transaction.commit()
        self.committed = True


class PgSingleStatement(PgTx):
    """One write statement in autocommit mode (PostgreSQL commits it on its own), as `SingleStatement` on SQLite;
    a second statement is refused, since two would not be atomic."""

    def __init__(self, store: PgStore, conn: asyncpg.Connection) -> None:
        super().__init__(store, conn, writable=True)
        self._used = False

    def defer(self, sql: str, params: Iterable[Any] = (), *, unless_changed: BaseException | None = None) -> None:
        raise RuntimeError("a single-statement session runs one statement now; use store.transaction()")

    async def fetch_each(self, queries: Sequence[tuple[str, Iterable[Any]]]) -> list[list[Any]]:
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

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any | None:
        self._once()
        rows = await PgTx.fetchall(self, sql, params)  # not self.fetchall: that would count a second statement
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        self._once()
        return await super().fetchall(sql, params)

    async def commit(self) -> None:
        """Nothing to do: the statement was committed when it ran."""
        self.committed = True


class PgSingleRead(PgSingleStatement):
    """One read statement outside a transaction, as `bot.storage.store.SingleRead`."""

    def __init__(self, store: PgStore, conn: asyncpg.Connection) -> None:
        super().__init__(store, conn)
        self.writable = False

    async def commit(self) -> None:
        raise RuntimeError("read-only session cannot commit")


class PgStore(Store):
    """The bot's PostgreSQL database, with `Store`'s interface (a subclass, so `Services.store` and every caller
    typed `Store` take it unchanged)."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str, tables_with_id: frozenset[str]) -> None:
        self._pool = pool
        self.path = redacted(url)  # what messages name; `url` is what connects
        self.url = url
        self.tables_with_id = tables_with_id
        self.parameter_types: dict[str, tuple[str, ...]] = {}
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, clock: Clock) -> PgStore:
        """Connect a pool to the database at the URL, apply pending migrations, and return the store."""
        from bot.storage.db import migrate_postgres

        url = str(path)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_MAX_SIZE)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # One sentence for the operator (exit 2, as for an unusable SQLite file), never the password.
            raise DatabaseFileError(
                redacted(url), f"PostgreSQL cannot be reached or refused the connection ({exc})"
            ) from None
        try:
            async with pool.acquire() as conn:
                await migrate_postgres(conn, clock)
                rows = await conn.fetch(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND column_name = 'id'"
                )
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url, frozenset(str(r["table_name"]) for r in rows))

    async def close(self) -> None:
        async with self._lock:
            await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        """A write transaction; rolled back unless committed. The advisory lock is held until it ends."""
        async with self._lock, self._pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            tx = PgTx(self, conn, writable=True, transaction=transaction)
            try:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
                yield tx
            finally:
                if not tx.committed:
                    await transaction.rollback()

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[Tx]:
        """One write statement, durable when it returns. No advisory lock: the statement is atomic on its own and
        PostgreSQL's row locks order it against any transaction writing the same rows; the two callers are blind
        one-column updates (the question's message id, a notice's next attempt) that read nothing first, so
        they cannot act on a stale read. The process lock still keeps the SQLite ordering within a process."""
        async with self._lock, self._pool.acquire() as conn:
            yield PgSingleStatement(self, conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PgTx]:
        """A consistent read: one REPEATABLE READ READ ONLY transaction (one snapshot), never committed."""
        async with self._pool.acquire() as conn:
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            try:
                yield PgTx(self, conn, writable=False)
            finally:
                await transaction.rollback()

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[Tx]:
        """One read statement in autocommit mode (its own snapshot), as `Store.read_one`."""
        async with self._pool.acquire() as conn:
            yield PgSingleRead(self, conn)

    @property
    def connection(self) -> Any:
        raise RuntimeError("a PostgreSQL store has no single connection: backups are the database host's job")
