"""The PostgreSQL pass of the test suite (`BOT_TEST_DATABASE=postgresql://…`, set by scripts/test.sh).

Why this way: the tests were written against a SQLite file (`tmp_path / "bot.sqlite3"`), and most of them are about
the bot, not the file. So, in the PostgreSQL pass, every `Store.open(<file path>, clock)` of a test opens a fresh
PostgreSQL database instead, named after the path (`t_` + a hash): a test that restarts the bot on the same file
gets the same database back. Databases are copied from a template that already holds the migrations (a copy takes
milliseconds, migrating takes a second), and dropped when the test ends.

Many tests look at the database directly with `sqlite3.connect(bench.database)`; for a path that was opened as a
PostgreSQL database in this test, `sqlite3.connect` gives a small synchronous connection to that PostgreSQL
database instead (same SQL text, translated by the adapter's `translate`; rows as tuples). Nothing is mocked: the
queries run on the real server. A path never opened through `Store.open` goes to SQLite as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from bot.clock import Clock
from bot.storage import postgres
from bot.storage.db import is_postgres_url
from bot.storage.store import Store

T = TypeVar("T")

TEST_URL = os.environ.get("BOT_TEST_DATABASE", "")
ENABLED = is_postgres_url(TEST_URL)
TEMPLATE = f"t_template_{os.getpid()}"

_ORIGINAL_SQLITE_CONNECT = sqlite3.connect


def database_url(name: str) -> str:
    """The test server's URL with another database name."""
    parts = urlsplit(TEST_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


class _Loop:
    """One event loop in a thread, for the administrative connections and the synchronous `sqlite3` stand-in
    (a test's own loop may be running, or not: sync tests and fixtures call in too)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pg-test-admin", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)


_loop: _Loop | None = None


def loop() -> _Loop:
    global _loop
    if _loop is None:
        _loop = _Loop()
    return _loop


_admin_conn: asyncpg.Connection | None = None


async def _admin(sql: str) -> None:
    """One statement on the server's own database, over one connection kept for the session (a connection per
    statement cost more than the `CREATE DATABASE … TEMPLATE` itself, several times per test)."""
    global _admin_conn
    if _admin_conn is None or _admin_conn.is_closed():
        _admin_conn = await asyncpg.connect(TEST_URL)
    await _admin_conn.execute(sql)


def create_template() -> None:
    """Create the migrated template database once per session."""
    from bot.clock import SystemClock

    async def build() -> None:
        await _admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{TEMPLATE}"')
        store = await postgres.PgStore.open(database_url(TEMPLATE), SystemClock())
        await store.close()

    loop().run(build())


def drop_template() -> None:
    loop().run(_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))


def name_for(path: Path | str) -> str:
    """The database a file path stands for: the same path (a restart) gives the same database."""
    text = str(path)
    if text.startswith("file:"):  # sqlite3's URI form: file:/path?mode=ro
        text = unquote(text[5:].split("?", 1)[0])
    resolved = str(Path(text).resolve()) if text != ":memory:" else text
    return "t_" + hashlib.sha1(resolved.encode()).hexdigest()[:16]


class TestDatabases:
    """The PostgreSQL databases one test opened, by the file path they stand for."""

    def __init__(self) -> None:
        self.by_name: dict[str, str] = {}  # name → URL
        self.memory = 0
        self.connections: dict[str, asyncpg.Connection] = {}  # URL → the one connection the stand-ins share

    def url_for(self, path: Path | str, *, empty: bool = False) -> str:
        """The URL of the database standing for `path`, created (from the migrated template, or `empty`) the first
        time this test asks."""
        if str(path) == ":memory:":  # every ":memory:" store is a new empty database, as in SQLite
            self.memory += 1
            name = f"{name_for(str(os.getpid()))}_m{self.memory}"
        else:
            name = name_for(path)
        if name not in self.by_name:
            loop().run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            loop().run(_admin(f'CREATE DATABASE "{name}"' + ("" if empty else f' TEMPLATE "{TEMPLATE}"')))
            self.by_name[name] = database_url(name)
        return self.by_name[name]

    def known(self, path: object) -> str | None:
        if not isinstance(path, (str, Path)) or str(path) == ":memory:":
            return None
        return self.by_name.get(name_for(path))

    def drop_all(self) -> None:
        global current
        current = None
        for conn in self.connections.values():
            loop().run(conn.close())
        self.connections.clear()
        for name in self.by_name:
            loop().run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


current: TestDatabases | None = None
"""The running test's databases (None outside the PostgreSQL pass)."""

opened_database = False
"""Whether the running test opened a database through the storage port (`Store.open`, `PgStore.open`) or gave one to
a `python -m bot` child (`child_database`): set in the SQLite pass, which lists the tests that did not, so that the
PostgreSQL pass can leave out those pure tests (they would run exactly as in the SQLite pass)."""


statements: set[str] = set()
"""The product SQL the running test sent through the storage port (keys of `statement_key`), noted in the SQLite pass:
the PostgreSQL pass runs every statement at least once, and leaves out a test whose statements others already run
(`select_covering`)."""

gave_child = False
"""Whether the running test handed its database to a `python -m bot` child (whose SQL this process does not see)."""


def statement_key(sql: str) -> str:
    """A short, stable key for one SQL text (whitespace folded)."""
    return hashlib.sha1(" ".join(sql.split()).encode()).hexdigest()[:12]


def note_statements() -> None:
    """Note every statement sent through the SQLite `Tx` (SQLite pass): deferred writes, round trips, batched reads.
    PostgreSQL's `PgTx` runs the same SQL texts, translated."""
    from bot.storage.store import Tx

    original_defer, original_trip, original_each = Tx.defer, Tx._trip, Tx.fetch_each

    def defer(self: Tx, sql: str, *args: Any, **kwargs: Any) -> None:
        statements.add(statement_key(sql))
        original_defer(self, sql, *args, **kwargs)

    async def trip(self: Tx, sql: str, params: Any, result: str) -> Any:
        statements.add(statement_key(sql))
        return await original_trip(self, sql, params, result)

    async def fetch_each(self: Tx, queries: Any) -> Any:
        queries = list(queries)
        statements.update(statement_key(sql) for sql, _ in queries)
        return await original_each(self, queries)

    Tx.defer = defer  # type: ignore[method-assign]  # the SQLite pass only, for the whole session
    Tx._trip = trip  # type: ignore[method-assign]  # idem
    Tx.fetch_each = fetch_each  # type: ignore[method-assign]  # idem


def select_covering(
    candidates: list[str], known: dict[str, dict[str, Any]], always: set[str]
) -> tuple[list[str], list[str]]:
    """Which database tests the PostgreSQL pass runs: every test of `always`, then, greedily, the tests that add
    the most statements not yet run per second of their SQLite-pass time, until every statement any candidate ran
    in the SQLite pass is run at least once. Returns (kept, left out), each in the candidates' order.

    `known`: node id → {"seconds": …, "sql": [statement keys]} from the SQLite pass. A candidate the SQLite pass did
    not see (new, skipped there) is always kept. Deterministic (ties by node id), so every xdist worker picks the
    same tests."""
    kept = {nodeid for nodeid in candidates if nodeid in always or nodeid not in known}
    covered: set[str] = set()
    for nodeid in kept:
        covered.update(known.get(nodeid, {}).get("sql", ()))
    pool = {nodeid: set(known[nodeid]["sql"]) - covered for nodeid in candidates if nodeid not in kept}
    while True:
        best: tuple[float, str] | None = None
        for nodeid, new in pool.items():
            if new:
                score = len(new) / max(float(known[nodeid]["seconds"]), 0.05)
                if best is None or score > best[0] or (score == best[0] and nodeid < best[1]):
                    best = (score, nodeid)
        if best is None:
            break
        chosen = best[1]
        kept.add(chosen)
        gained = pool.pop(chosen)
        for nodeid in pool:
            pool[nodeid] -= gained
    return [n for n in candidates if n in kept], [n for n in candidates if n not in kept]


def note_database_openings() -> None:
    """Set `opened_database` whenever a store is opened (SQLite pass: `install` takes over in the PostgreSQL pass)."""
    for cls in (Store, postgres.PgStore):
        original = cls.__dict__["open"].__func__

        async def open_noted(cls: type[Store], path: Path | str, clock: Clock, _original: Any = original) -> Store:
            global opened_database
            opened_database = True
            return await _original(cls, path, clock)  # type: ignore[no-any-return]

        cls.open = classmethod(open_noted)


def database_setting(path: Path | str, otherwise: str | None = None) -> str:
    """What a `python -m bot` child of this test should get as BOT_DATABASE for `path`: the PostgreSQL URL when this
    test opened `path` as a PostgreSQL database, else `otherwise` (default: the path itself)."""
    global gave_child
    gave_child = True
    url = current.known(path) if current is not None else None
    return url or (otherwise if otherwise is not None else str(path))


def child_database(path: Path) -> str:
    """BOT_DATABASE for a `python -m bot` child started by this test on `path`: in the PostgreSQL pass, the URL of
    the PostgreSQL database standing for `path` (created now, so the child migrates it and the test reads it back
    through `sqlite3.connect(path)`); otherwise the path."""
    global opened_database, gave_child
    opened_database = True
    gave_child = True
    if current is None:
        return str(path)
    return current.url_for(path)


def install(databases: TestDatabases, monkeypatch: Any) -> None:
    """Route this test's `Store.open` and `sqlite3.connect` of file paths to PostgreSQL databases."""
    global current
    current = databases

    async def open_store(cls: type[Store], path: Path | str, clock: Clock) -> Store:
        if is_postgres_url(path):
            return await postgres.PgStore.open(path, clock)
        return await postgres.PgStore.open(databases.url_for(path), clock)

    def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        url = databases.known(database)
        if url is None:
            return _ORIGINAL_SQLITE_CONNECT(database, *args, **kwargs)
        if url not in databases.connections:  # one per database: tests open thousands and never close them
            databases.connections[url] = loop().run(asyncpg.connect(url))
        return ShimConnection(databases.connections[url])

    monkeypatch.setattr(Store, "open", classmethod(open_store))
    monkeypatch.setattr(sqlite3, "connect", connect)
    # The export opens an existing database after checking its file; a path this test opened as a PostgreSQL
    # database has no file, so it goes straight to the store (any other path keeps the file checks).
    from bot.export import dataset

    original_existing = dataset.open_existing_store

    async def open_existing(path: Path | str, clock: Clock) -> Store:
        if databases.known(path) is not None:
            return await Store.open(path, clock)
        return await original_existing(path, clock)

    for module in list(sys.modules.values()):  # the bot's modules and the tests that imported it by name
        if getattr(module, "open_existing_store", None) is original_existing:
            monkeypatch.setattr(module, "open_existing_store", open_existing)


# ---- a synchronous stand-in for sqlite3.connect, on the test's PostgreSQL database -------------------------------


def _error(exc: Exception) -> sqlite3.Error:
    """The sqlite3 exception a test expects for a PostgreSQL error (constraints and trigger refusals are integrity
    errors in both)."""
    if isinstance(exc, (asyncpg.IntegrityConstraintViolationError, asyncpg.RaiseError)):
        return sqlite3.IntegrityError(str(exc))
    return sqlite3.OperationalError(str(exc))


class ShimCursor:
    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class ShimConnection:
    """`sqlite3.connect(path)` for a path whose database is on PostgreSQL in this test: autocommit statements, rows
    as tuples (or `PgRow` with `row_factory = sqlite3.Row`), on the test's shared connection to that database."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn: asyncpg.Connection | None = conn
        self.row_factory: Any = None

    def _run(self, sql: str, params: Any) -> ShimCursor:
        if self._conn is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        conn = self._conn
        translated = postgres.translate(sql)

        async def go() -> ShimCursor:
            statement = await conn.prepare(translated.sql)
            types = [t.name for t in statement.get_parameters()]
            args = [postgres.coerce(v, types[i]) if i < len(types) else v for i, v in enumerate(params)]
            if statement.get_attributes():
                records = await statement.fetch(*args)
                rows = postgres._rows(records)
                plain = rows if self.row_factory is not None else [tuple(r) for r in rows]
                return ShimCursor(plain, -1, 0)
            status = await conn.execute(translated.sql, *args)
            return ShimCursor([], postgres._rowcount(status), 0)

        try:
            return loop().run(go())
        except asyncpg.PostgresError as exc:
            raise _error(exc) from None

    def execute(self, sql: str, params: Any = ()) -> ShimCursor:
        return self._run(sql, tuple(params))

    def executemany(self, sql: str, seq: Any) -> ShimCursor:
        count = 0
        for params in seq:
            count += max(self._run(sql, tuple(params)).rowcount, 0)
        return ShimCursor([], count, 0)

    def cursor(self) -> ShimConnection:
        return self

    def commit(self) -> None:
        """Statements are committed as they run."""

    def rollback(self) -> None:
        """Nothing to roll back (autocommit)."""

    def close(self) -> None:
        """The shared connection stays open for the test's other stand-ins (closed when the test ends)."""
        self._conn = None

    def __enter__(self) -> ShimConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
