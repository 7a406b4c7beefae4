"""Which message shows each patient's current question: remembered by group commit.

Why (issue #18): every question sent is followed by a write of its message id (so that the answered question can
be edited to show the choice). One write per question meant one more turn of the single write lock per answer,
queued behind the answers' transactions; under 60 answers/s that was over a third of the lock's acquisitions.
Here the ids of the questions sent while a write is waiting for the lock join that write: one statement for all of
them, and each caller still returns only once its id is on disk, as before.

Ordering: the id of a question is queued for the lock as soon as the question is sent, so it is written before the
transaction of that question's answer, which can only start after the patient saw the question.
"""

from __future__ import annotations

import asyncio

from bot.storage import instances
from bot.storage.store import Store


class QuestionMessages:
    """The pending ids of one store's questions, and the one write waiting for the lock to store them."""

    def __init__(self) -> None:
        self._pending: dict[int, int] = {}
        self._written: asyncio.Future[None] | None = None

    async def remember(self, store: Store, instance_id: int, message_id: int) -> None:
        """Store that `message_id` shows `instance_id`'s current question; returns once it is on disk."""
        loop = asyncio.get_running_loop()
        if self._written is not None and self._written.get_loop() is not loop:  # a write left by a stopped loop
            self._pending, self._written = {}, None
        self._pending[instance_id] = message_id  # a later send for the same instance supersedes an earlier one
        if self._written is None:
            self._written = loop.create_future()
            loop.create_task(self._write(store, self._written))
        await asyncio.shield(self._written)

    async def _write(self, store: Store, written: asyncio.Future[None]) -> None:
        try:
            async with store.single_statement() as tx:
                # From here on, a new id waits for the next write: this batch is closed.
                batch, self._pending, self._written = self._pending, {}, None
                await instances.set_question_messages(tx, batch)
        except BaseException as exc:  # every caller of this batch learns of the failure, as they did one by one
            if self._written is written:  # failed before taking the batch: its ids fail with it
                self._pending, self._written = {}, None
            if isinstance(exc, asyncio.CancelledError):
                written.cancel()
                raise
            written.set_exception(exc)
            written.exception()  # retrieved here: a caller cancelled meanwhile leaves no "never retrieved" warning
            if not isinstance(exc, Exception):
                raise
            return
        written.set_result(None)
