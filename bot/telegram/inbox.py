"""No update lost by a crash: every update is stored before Telegram is told it was received, and handled from there.

Why: PTB's Updater confirms a getUpdates offset (the next getUpdates call) as soon as it has put the fetched updates
in `update_queue`, before any handler ran, and the update-id guard used to mark an update processed before handling
it. A `kill -9` during a 300-message backlog lost 262 of them, among them a patient's answer.

How, with PTB's own extension points (no private API):
- `InboxQueue` is the Application's `update_queue`. The Updater awaits `put()` for each fetched update before it
  confirms the offset, and the webhook handler awaits it before answering Telegram: `put()` first commits the update's
  JSON to the `inbox` table, so Telegram forgets an update only once it is on disk (a redelivery of an update
  already handled, in `processed_updates`, is not stored again).
- `InboxProcessor` wraps the update processor (PTB's `BaseUpdateProcessor`). It drops an update handled before, or
  being handled by another task (a redelivery: this replaces the old update-id guard). While an update is handled its
  id is in
  `bot.storage.inbox.CURRENT_UPDATE`, so the transaction that writes its effect (an answer, a join) also marks it
  handled (`settle_current_update`); otherwise it is marked when its handlers are done. Either way, at most the
  messages sent after the effect's commit can be repeated by a crash, never the effect.
- `replay()` at start-up queues what a crash left in the inbox, before polling starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor
from telegram.request import HTTPXRequest

from bot.clock import Clock
from bot.storage import inbox as inbox_rows
from bot.storage.store import Store

log = logging.getLogger(__name__)

_MAX_KEPT_JSON = 10_000
"""At most this many fetched updates' JSON wait for `Inbox.keep_all` (far more than one getUpdates batch)."""

INBOX_KEY = "inbox"
"""Where the running bot's `Inbox` is kept in `application.bot_data`."""


class Inbox:
    """The inbox of one running bot: the table, and the ids queued or being handled in this process."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._active: set[int] = set()
        # What `keep` learnt, so the processor need not read it again: stored and not handled / handled before.
        self._pending: set[int] = set()
        self._seen_done: set[int] = set()
        # The JSON Telegram sent for an update fetched by polling, by update id, until `keep_all` stores it.
        self._raw: dict[int, str] = {}

    def fetched_json(self, raw_updates: object) -> None:
        """Remember the JSON of a getUpdates result, so an update is stored as Telegram sent it.

        Why: re-serialising each parsed update (`Update.to_dict()`, pure Python over every nested object) cost
        about half a millisecond of the event loop per update (issue #18); `json.dumps` of the received dict is C.
        An update without its JSON here (the webhook, a batch whose first commit failed) is serialised from PTB's
        object as before."""
        if not isinstance(raw_updates, list):
            return
        if len(self._raw) > _MAX_KEPT_JSON:  # fetched and never kept (PTB's start-up drop): serialised as before
            self._raw.clear()
        for raw in raw_updates:
            if isinstance(raw, dict) and isinstance(raw.get("update_id"), int):
                self._raw[raw["update_id"]] = json.dumps(raw, ensure_ascii=False)

    def _payload(self, update: Update) -> str:
        raw = self._raw.pop(update.update_id, None)
        return raw if raw is not None else json.dumps(update.to_dict(), ensure_ascii=False)

    async def keep(self, update: Update) -> None:
        """Store a fetched update unless it was handled before (a redelivery: the processor drops it)."""
        await self.keep_all([update])

    async def keep_all(self, updates: list[Update]) -> None:
        """Store a batch of fetched updates in one statement (one wait for the writer and one trip to the database,
        not one per update)."""
        payloads = [(update.update_id, self._payload(update)) for update in updates]
        async with self.store.single_statement() as tx:
            await inbox_rows.keep_updates(tx, payloads, self.clock.now())
        ids = [update_id for update_id, _ in payloads]
        async with self.store.read_one() as tx:  # handled before: left out above, dropped by the processor
            handled = await inbox_rows.processed_among(tx, ids)
        for update_id in ids:
            (self._seen_done if update_id in handled else self._pending).add(update_id)

    def claim(self, update_id: int) -> bool:
        """This task handles the update; False if another task of this process already does (a redelivery)."""
        if update_id in self._active:
            return False
        self._active.add(update_id)
        return True

    async def handled_before(self, update_id: int) -> bool:
        if update_id in self._pending:
            return False
        if update_id in self._seen_done:
            self._seen_done.discard(update_id)
            return True
        async with self.store.read_one() as tx:  # an update that did not come through `keep`
            return await inbox_rows.is_processed(tx, update_id)

    async def done(self, update_id: int) -> None:
        """Its handlers finished: mark it handled (a no-op if its effect's transaction did)."""
        async with self.store.transaction() as tx:
            await inbox_rows.mark_processed(tx, update_id, self.clock.now())
            await tx.commit()

    def release(self, update_id: int) -> None:
        self._active.discard(update_id)
        self._pending.discard(update_id)

    async def pending(self, bot: Bot) -> list[Update]:
        """What a crash left: stored, never handled, oldest first (an unreadable row is dropped, logged)."""
        async with self.store.read() as tx:
            rows = await inbox_rows.pending(tx)
        updates: list[Update] = []
        for update_id, payload in rows:
            try:
                update = Update.de_json(json.loads(payload), bot)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the bot
                log.error("inbox: update %s cannot be read again (%s); dropped", update_id, type(exc).__name__)
                await self.done(update_id)
                continue
            if update is not None:
                updates.append(update)
        return updates


class InboxQueue(asyncio.Queue):
    """The Application's `update_queue`: an update is on disk before the Updater or the webhook confirms it, and
    before any handler sees it.

    Long polling fetches updates in batches and `put()`s them one by one; storing each in its own transaction made
    the polling loop wait for the writer once per update, behind the answers being stored (issue #18: one poll every
    0.5 s under 40 answers/s, so every answer waited for the next poll). So an update put by the polling task
    (`InboxPollingRequest` names it) joins a batch that one task commits in one transaction, then queues for the
    handlers; the next getUpdates — the call that confirms them to Telegram — first waits for that commit
    (`flush`). Any other `put()` (the webhook, the replay at start-up) is stored before it returns, as before.
    """

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox
        #: told of each update as it arrives, before it waits for a handler (the pacer: when the chat wrote)
        self.arrived: Callable[[Update], None] | None = None
        self._poller: asyncio.Task[Any] | None = None
        self._fetched: list[Update] = []  # fetched by long polling: not yet on disk, not yet queued
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    def polling_from(self, task: asyncio.Task[Any] | None) -> None:
        """`task` is the Updater's polling task: its updates are stored by batch (see the class docstring)."""
        self._poller = task

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            await super().put(item)
            return
        if self.arrived is not None:
            self.arrived(item)
        if self._poller is not None and asyncio.current_task() is self._poller:
            self._fetched.append(item)
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_in_background())
            return
        await self.inbox.keep(item)
        await super().put(item)

    async def _flush_in_background(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - kept for the next getUpdates, which retries before confirming
            log.error("inbox: could not store %s fetched updates yet (%s)", len(self._fetched), exc)

    async def flush(self) -> None:
        """Store every update fetched by polling in one transaction, then queue them for the handlers, in order.
        On failure they stay fetched, and the next flush (the next getUpdates) tries again: never confirmed unstored."""
        async with self._flush_lock:
            batch, self._fetched = self._fetched, []
            if not batch:
                return
            try:
                await self.inbox.keep_all(batch)
            except BaseException:
                self._fetched[:0] = batch
                raise
            for update in batch:
                self.put_nowait(update)


class InboxPollingRequest(HTTPXRequest):
    """The getUpdates connection: before a call goes out — the call that confirms the previous batch to Telegram —
    every update fetched so far is on disk (`InboxQueue.flush`)."""

    def __init__(self, queue: InboxQueue, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._queue = queue

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        self._queue.polling_from(asyncio.current_task())
        await self._queue.flush()
        return await super().do_request(*args, **kwargs)

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]  # PTB declares it a staticmethod; this one needs self (the inbox queue)
        """PTB's parsing, and the fetched updates' JSON kept for the inbox (`Inbox.fetched_json`)."""
        parsed = super().parse_json_payload(payload)
        self._queue.inbox.fetched_json(parsed.get("result"))
        return parsed


#: PTB's own semaphore, in front of ours: how many updates may wait for their sender's turn (PTB makes one task per
#: update whatever this is; the handler slots are `InboxProcessor.slots`).
_ADMITTED = 1_000_000


class InboxProcessor(BaseUpdateProcessor):
    """Runs `inner` (PTB's concurrent processor, or the test bench's counting one) with the update id known to the
    effect's transaction, and marks the update handled once its handlers are done.

    One sender, one slot at most (issue 39): a sender's updates are handled one at a time, in the order they
    arrived, and an update waits for its sender's turn *before* it takes one of the `inner.max_concurrent_updates`
    handler slots. PTB's semaphore (`BaseUpdateProcessor.process_update`, final) is taken before
    `do_process_update`, first come first served: an account sending 500 messages in 5 s queued 500 updates ahead
    of everyone else's and, replies waiting for its chat's budget, held all 16 slots for minutes. So PTB's semaphore
    here only admits (`_ADMITTED`), and the slots are ours, taken after the sender's turn. Within one sender the
    order is kept, which a patient's taps and texts assume anyway.
    """

    def __init__(self, inner: BaseUpdateProcessor, inbox: Inbox) -> None:
        super().__init__(_ADMITTED)
        self.inner = inner
        self.inbox = inbox
        self.slots = inner.max_concurrent_updates
        self._slots = asyncio.Semaphore(self.slots)
        self._turns: dict[int, tuple[asyncio.Lock, list[int]]] = {}  # sender → (its lock, [updates holding it])
        #: told when an update's handlers are done, or it was dropped (the pacer's flood guard counts the backlog)
        self.finished: Callable[[Update], None] | None = None

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await self.inner.do_process_update(update, self._handle(update, coroutine))

    async def _handle(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            async with self._slots:
                await coroutine
            return
        try:
            async with self._turn(_sender(update)), self._slots:
                await self._handle_once(update, coroutine)
        finally:
            if self.finished is not None:
                self.finished(update)

    @contextlib.asynccontextmanager
    async def _turn(self, sender: int | None) -> AsyncIterator[None]:
        """Wait until the sender's earlier updates are handled (FIFO: `asyncio.Lock` serves waiters in order)."""
        if sender is None:
            yield
            return
        entry = self._turns.get(sender)
        if entry is None:
            entry = self._turns[sender] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._turns[sender]

    def waiting(self, sender: int) -> int:
        """How many of this sender's updates are being handled or wait for their turn."""
        entry = self._turns.get(sender)
        return entry[1][0] if entry is not None else 0

    async def _handle_once(self, update: Update, coroutine: Awaitable[Any]) -> None:
        update_id = update.update_id
        if not self.inbox.claim(update_id):
            _drop(coroutine, update_id)
            return
        try:
            if await self.inbox.handled_before(update_id):
                _drop(coroutine, update_id)
                return
            handling = inbox_rows.HandlingUpdate(update_id)
            token = inbox_rows.CURRENT_UPDATE.set(handling)
            try:
                await coroutine  # PTB's process_update: handler errors go to the error handler, not here
            finally:
                inbox_rows.CURRENT_UPDATE.reset(token)
            if not handling.settled:  # not reached when cancelled: the update stays to be handled
                await self.inbox.done(update_id)
        finally:
            self.inbox.release(update_id)


def _sender(update: Update) -> int | None:
    """Whose turn an update waits for: its user (a clinician's commands in the group are theirs, not the group's);
    its chat when it has no user (a channel post)."""
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None


def _drop(coroutine: Awaitable[Any], update_id: int) -> None:
    """A redelivered update, handled before or being handled by another task: its handlers never run."""
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()
    log.info("duplicate update %s ignored", update_id)


async def replay(application: Any, inbox: Inbox) -> int:
    """At start-up, before polling: queue the updates a crash left unhandled; return how many."""
    updates = await inbox.pending(application.bot)
    for update in updates:
        await application.update_queue.put(update)
    if updates:
        log.info("inbox: %s update(s) left by a crash handled again", len(updates))
    return len(updates)
