"""`Store.read_one` (issue #18): one read statement outside a transaction, on both engines (this file runs in the
SQLite pass and, with BOT_TEST_DATABASE, in the PostgreSQL pass).

It replaces `read()` for the lookups made on every update (is the sender an unreachable patient? was this update
handled?): `read()` costs a BEGIN and a ROLLBACK more, each a round trip waiting for a turn of a busy event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.storage.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "bot.sqlite3", SystemClock())  # a PostgreSQL database in that pass
    try:
        yield opened
    finally:
        await opened.close()


async def _handled(store: Store, *update_ids: int) -> None:
    async with store.transaction() as tx:
        for update_id in update_ids:
            await tx.execute(
                "INSERT INTO processed_updates (update_id, processed_at) VALUES (?, ?)",
                (update_id, "2026-12-03T09:00:00Z"),
            )
        await tx.commit()


async def test_read_one_sees_what_was_committed(store: Store) -> None:
    await _handled(store, 7, 8)
    async with store.read_one() as tx:
        row = await tx.fetchone("SELECT COUNT(*) AS n FROM processed_updates WHERE update_id IN (?, ?)", (7, 9))
    assert row is not None and int(row["n"]) == 1
    async with store.read_one() as tx:
        rows = await tx.fetchall("SELECT update_id FROM processed_updates ORDER BY update_id")
    assert [int(r["update_id"]) for r in rows] == [7, 8]


async def test_read_one_refuses_a_second_statement_and_a_commit(store: Store) -> None:
    """Two statements outside a transaction could see two states of the database: use `read()` for that."""
    await _handled(store, 7)
    async with store.read_one() as tx:
        assert await tx.fetchone("SELECT update_id FROM processed_updates") is not None
        with pytest.raises(RuntimeError, match="one statement"):
            await tx.fetchone("SELECT update_id FROM processed_updates")
        with pytest.raises(RuntimeError, match="read-only"):
            await tx.commit()
    async with store.read_one() as tx:
        assert tx.writable is False
