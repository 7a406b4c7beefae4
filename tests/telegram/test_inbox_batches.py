"""Updates fetched by long polling are stored by batch (issue #18), and still never confirmed or handled unstored.

The polling task's `put()`s join one transaction; the next getUpdates (`InboxPollingRequest`) first waits for it
(`InboxQueue.flush`). Any other task (webhook, replay) still stores its update before `put()` returns.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from telegram import Update

from bot.clock import SystemClock
from bot.storage.store import Store
from bot.telegram.inbox import Inbox, InboxPollingRequest, InboxQueue


def _update(update_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": 7, "type": "private"},
                "text": f"m{update_id}",
            },
        },
        None,
    )


async def _stored(store: Store) -> list[int]:
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT update_id FROM inbox ORDER BY update_id")
    return [row[0] for row in rows]


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = await Store.open(tmp_path / "bot.sqlite3", SystemClock())
    yield opened
    await opened.close()


async def test_the_polling_tasks_updates_are_stored_together_then_queued_in_order(store: Store) -> None:
    queue = InboxQueue(Inbox(store, SystemClock()))
    queue.polling_from(asyncio.current_task())
    for update_id in (11, 12, 13):
        await queue.put(_update(update_id))
    assert queue.qsize() == 0, "no handler may see an update before it is on disk"
    await queue.flush()  # what the next getUpdates does before confirming them
    assert await _stored(store) == [11, 12, 13]
    assert [queue.get_nowait().update_id for _ in range(3)] == [11, 12, 13]


async def test_an_interrupted_batch_stays_fetched_and_the_next_flush_stores_it(store: Store) -> None:
    queue = InboxQueue(Inbox(store, SystemClock()))
    queue.polling_from(asyncio.current_task())
    await queue.put(_update(21))
    async with store.transaction():  # the writer is busy: the getUpdates waiting for the batch gives up
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.flush(), 0.2)
    assert queue.qsize() == 0
    await queue.flush()
    assert await _stored(store) == [21]
    assert queue.get_nowait().update_id == 21


async def test_another_tasks_update_is_stored_before_put_returns(store: Store) -> None:
    queue = InboxQueue(Inbox(store, SystemClock()))
    queue.polling_from(asyncio.current_task())

    async def webhook() -> None:
        await queue.put(_update(31))
        assert await _stored(store) == [31]

    await asyncio.create_task(webhook())
    assert queue.get_nowait().update_id == 31


async def test_a_batch_keeps_only_new_updates_and_knows_which_were_handled_before(store: Store) -> None:
    """One statement for the batch: an update handled before (a redelivery) is not kept again, one kept already
    keeps its first payload, the new ones are kept; the handled one is then dropped, the others handled."""
    inbox = Inbox(store, SystemClock())
    await inbox.keep_all([_update(41)])
    async with store.transaction() as tx:  # 40 was handled long ago (its inbox row gone)
        await tx.execute("INSERT INTO processed_updates (update_id, processed_at) VALUES (40, '2026-12-01T09:00:00Z')")
        await tx.commit()
    again = Update.de_json(
        {
            "update_id": 41,
            "message": {"message_id": 41, "date": 0, "chat": {"id": 7, "type": "private"}, "text": "changed"},
        },
        None,
    )
    await inbox.keep_all([_update(40), again, _update(42), _update(43)])
    assert await _stored(store) == [41, 42, 43]
    async with store.read() as tx:
        row = await tx.fetchone("SELECT payload FROM inbox WHERE update_id = 41")
    assert row is not None and '"m41"' in row[0], "a kept update is never overwritten"
    assert await inbox.handled_before(40) is True
    assert [await inbox.handled_before(update_id) for update_id in (41, 42, 43)] == [False, False, False]


async def test_a_polled_update_is_stored_as_telegram_sent_it_without_serialising_it_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #18: the getUpdates JSON is kept as received (`InboxPollingRequest.parse_json_payload`), so PTB's
    `to_dict()` (Python over every nested object) is not run for each polled update; an update that did not come
    through getUpdates is still serialised from its object."""
    queue = InboxQueue(Inbox(store, SystemClock()))
    request = InboxPollingRequest(queue)
    sent = {
        "update_id": 51,
        "message": {
            "message_id": 5,
            "date": 1764756000,
            "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "Élise"},
            "text": "j'ai mal",
        },
    }
    parsed = request.parse_json_payload(json.dumps({"ok": True, "result": [sent]}).encode())
    assert parsed["result"] == [sent], "PTB still gets the parsed result"

    def no_second_serialisation(self: Update) -> dict[str, object]:
        raise AssertionError(f"update {self.update_id} serialised again")

    monkeypatch.setattr(Update, "to_dict", no_second_serialisation)
    queue.polling_from(asyncio.current_task())
    await queue.put(Update.de_json(sent, None))
    await queue.flush()
    async with store.read() as tx:
        row = await tx.fetchone("SELECT payload FROM inbox WHERE update_id = 51")
    assert row is not None and json.loads(row[0]) == sent
    monkeypatch.undo()
    await queue.inbox.keep(_update(52))  # no JSON kept for it: serialised from the object, as before
    async with store.read() as tx:
        row = await tx.fetchone("SELECT payload FROM inbox WHERE update_id = 52")
    assert row is not None and json.loads(row[0])["message"]["text"] == "m52"
