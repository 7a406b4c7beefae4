"""The unit of work's single-statement session: durable on its own, and refusing a second statement."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.clock import VirtualClock
from bot.storage.store import Store


async def test_a_single_statement_is_committed_on_its_own_and_a_second_one_is_refused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.sqlite3", VirtualClock(datetime(2027, 3, 1, tzinfo=timezone.utc)))
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
