"""The unit of work: a transaction commits only when told to and rolls back otherwise (on an exception, on a
forgotten commit, on cancellation), the single-statement session is durable on its own and refuses a second
statement; the migration splitter; the trajectory plot is safe to render from several threads at once."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import VirtualClock
from bot.plots import trajectory_png
from bot.storage.db import _split_sql, migration_files
from bot.storage.store import Store

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def keys(path: Path) -> list[str]:
    """The settings rows, read by another connection (what is really committed)."""
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT key FROM settings ORDER BY key")]


async def test_a_transaction_is_rolled_back_on_an_exception_a_missing_commit_and_cancellation(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await Store.open(path, VirtualClock(T0))
    try:
        with pytest.raises(ZeroDivisionError):
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO settings (key, value) VALUES ('raised', '1')")
                raise ZeroDivisionError  # any error inside the transaction
        async with store.transaction() as tx:  # no commit: nothing is kept
            await tx.execute("INSERT INTO settings (key, value) VALUES ('forgotten', '1')")

        started = asyncio.Event()

        async def cancelled() -> None:
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO settings (key, value) VALUES ('cancelled', '1')")
                started.set()
                await asyncio.sleep(60)
                await tx.commit()

        task = asyncio.create_task(cancelled())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with store.transaction() as tx:  # the store is usable again, and a commit is kept
            await tx.execute("INSERT INTO settings (key, value) VALUES ('kept', '1')")
            await tx.commit()
        with pytest.raises(RuntimeError, match="read-only"):
            async with store.read() as ro:
                await ro.commit()
        assert keys(path) == ["kept"]
    finally:
        await store.close()


async def test_a_failing_statement_rolls_back_the_earlier_ones_of_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await Store.open(path, VirtualClock(T0))
    try:
        with pytest.raises(sqlite3.IntegrityError):
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO settings (key, value) VALUES ('first', '1')")
                await tx.execute("INSERT INTO settings (key, value) VALUES ('first', '2')")  # duplicate key
                await tx.commit()
        assert keys(path) == []
    finally:
        await store.close()


def test_the_migration_splitter_keeps_triggers_strings_and_comments_whole() -> None:
    script = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');\n"
        "CREATE TRIGGER no_update BEFORE UPDATE ON t BEGIN\n"
        "  SELECT RAISE(ABORT, 'append-only; never updated');\n"
        "END;\n"
        "-- trailing comment\n"
    )
    statements = _split_sql(script)
    assert len(statements) == 2 and statements[1].endswith("END;"), statements
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    for _number, path in migration_files():  # every shipped migration splits into complete statements
        assert all(sqlite3.complete_statement(s) for s in _split_sql(path.read_text(encoding="utf-8")))


async def test_the_trajectory_plot_renders_in_several_threads_at_once() -> None:
    args = ("P-001", [0, 1, 2, 15], [6, 5, None, 2], [30.0, None, 20.0, 10.0])
    images = await asyncio.gather(*(asyncio.to_thread(trajectory_png, *args, rt_days=[0]) for _ in range(4)))
    assert all(image.startswith(b"\x89PNG") for image in images)
    assert len(set(images)) == 1  # no figure state shared between threads


async def test_a_single_statement_is_committed_on_its_own_and_a_second_one_is_refused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.sqlite3", VirtualClock(datetime(2027, 3, 1, tzinfo=UTC)))
    try:
        async with store.single_statement() as tx:
            inserted = await tx.execute_count(
                "INSERT OR IGNORE INTO processed_updates (update_id, processed_at) VALUES (1, 'x')"
            )
            with pytest.raises(RuntimeError, match="one statement"):
                await tx.execute("INSERT INTO processed_updates (update_id, processed_at) VALUES (2, 'x')")
        async with store.single_statement() as tx:
            again = await tx.execute_count(
                "INSERT OR IGNORE INTO processed_updates (update_id, processed_at) VALUES (1, 'y')"
            )
        # another connection sees the first row at once: nothing waits for a COMMIT
        seen = sqlite3.connect(tmp_path / "bot.sqlite3").execute("SELECT * FROM processed_updates").fetchall()
        assert (inserted, again) == (1, 0)
        assert seen == [(1, "x")]
    finally:
        await store.close()
