"""The question message ids are written by group commit (issue #18, `bot.services.question_messages`): the ids of
questions sent while the writer is busy share one statement, and each caller returns once its own id is on disk.
Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.services.question_messages import QuestionMessages
from bot.storage.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "bot.sqlite3", SystemClock())
    try:
        async with opened.transaction() as tx:
            await tx.execute("INSERT INTO sites (code, created_at) VALUES ('S1', '2026-12-03T09:00:00Z')")
            await tx.execute(
                "INSERT INTO patients (study_id, site_code, arm, rt_start, fractions, enrolled_at)"
                " VALUES ('P-1', 'S1', 'standard', '2026-12-01', 5, '2026-12-01T09:00:00Z')"
            )
            for day in range(1, 6):
                await tx.execute(
                    "INSERT INTO instances (patient_id, questionnaire_id, questionnaire_version, timepoint, opens_at,"
                    " closes_at, status) VALUES (1, 'daily', '1', ?, '2026-12-03T09:00:00Z',"
                    " '2026-12-04T09:00:00Z', 'open')",
                    (f"d{day}",),
                )
            await tx.commit()
        yield opened
    finally:
        await opened.close()


async def _message_ids(store: Store) -> dict[int, int | None]:
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT id, question_message_id FROM instances ORDER BY id")
    return {int(r["id"]): (None if r["question_message_id"] is None else int(r["question_message_id"])) for r in rows}


async def test_ids_sent_while_the_writer_is_busy_are_written_in_one_statement(store: Store) -> None:
    messages = QuestionMessages()
    async with store.transaction() as tx:  # another patient's answer holds the writer
        writes = [
            asyncio.create_task(messages.remember(store, instance_id, 100 + instance_id)) for instance_id in (1, 2, 3)
        ]
        writes.append(asyncio.create_task(messages.remember(store, 1, 201)))  # a newer copy of instance 1's question
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in writes), "a caller returns only once its id is on disk"
        await tx.commit()
    await asyncio.gather(*writes)
    assert await _message_ids(store) == {1: 201, 2: 102, 3: 103, 4: None, 5: None}
    await messages.remember(store, 4, 104)  # the writer is free: a write of its own, at once
    assert (await _message_ids(store))[4] == 104


async def test_the_waiting_callers_share_one_lock_turn(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = QuestionMessages()
    turns = 0
    original = type(store).single_statement

    def counted(self: Store):  # type: ignore[no-untyped-def]
        nonlocal turns
        turns += 1
        return original(self)

    monkeypatch.setattr(type(store), "single_statement", counted)
    async with store.transaction() as tx:
        writes = [
            asyncio.create_task(messages.remember(store, instance_id, 300 + instance_id)) for instance_id in range(1, 6)
        ]
        await asyncio.sleep(0.05)
        await tx.commit()
    await asyncio.gather(*writes)
    assert turns == 1
    assert await _message_ids(store) == {i: 300 + i for i in range(1, 6)}


async def test_a_failed_write_fails_every_caller_of_its_batch_and_the_next_one_starts_afresh(store: Store) -> None:
    messages = QuestionMessages()
    await store.close()  # the database is gone: the batch's statement fails
    with pytest.raises(Exception):  # noqa: B017 - the closed database's error differs by engine and driver
        await asyncio.gather(messages.remember(store, 1, 401), messages.remember(store, 2, 402))
    assert messages._pending == {} and messages._written is None


async def test_a_write_left_pending_by_a_stopped_event_loop_does_not_hold_the_next_one(store: Store) -> None:
    """The bot restarted in the same process (a new event loop): a batch of the old loop never ran, and must not be
    awaited forever."""
    messages = QuestionMessages()
    old_loop = asyncio.new_event_loop()
    messages._pending, messages._written = {2: 999}, old_loop.create_future()
    old_loop.close()
    await asyncio.wait_for(messages.remember(store, 1, 501), 5)
    assert (await _message_ids(store))[1] == 501
