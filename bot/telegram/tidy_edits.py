"""The answered question shows the choice and loses its buttons: cosmetic edits, sent in the TIDY lane
(`bot.telegram.pacing`) once their chat's budget is untouched, one sender per chat (issue #18).

Why a queue of plain records rather than a task per edit: a patient answering at a human pace keeps their chat's
budget in use, so the edits wait until the questionnaire is done — 19 of them for the diary. A task per edit kept,
for each, the whole handler's state alive while it waited (the update, its context, the coroutine chain down to the
pacer: about 60 objects the garbage collector tracks). With 100 patients answering, 1,900 such tasks made CPython's
full collections walk 110,000 more objects each time; the collections grew to 120–180 ms, and every answer in flight
waited for them (`SPB_BENCH_TRACE`, 2026-12-04). Here a waiting edit is a tuple of a number and two strings (which
the collector does not track), and each chat with edits waiting has one sender.

Order and outcome are as before: a chat's edits are sent in the order queued, each after the replies its patient is
waiting for; a failed edit is logged and the next one is sent (the answer is stored whatever its display shows);
the application's `stop()` waits for the senders, as for any task made by `Application.create_task`.
"""

from __future__ import annotations

import contextvars
import logging
from collections import deque
from typing import Any

from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.telegram.pacing import Lane, sending_as

__all__ = ["TidyEdits", "tidy_edits"]

log = logging.getLogger(__name__)

_KEY = "tidy_edits"


class TidyEdits:
    """The edits waiting, by chat: (message id, text, update id) — the update only to name it in the log."""

    def __init__(self, application: Application) -> None:
        self._application = application
        self._waiting: dict[int, deque[tuple[int, str, int]]] = {}
        self.superseded = 0  # edits dropped because a later one of the same message was queued

    def show_answer(self, chat_id: int, message_id: int, text: str, update_id: int) -> None:
        """Queue the edit of `message_id` to `text` (no buttons); start the chat's sender if it has none."""
        waiting = self._waiting.get(chat_id)
        if waiting is not None:
            # An edit of the same message still waiting (not the one being sent) is superseded: only the last
            # text shows, so one edit of the chat's budget instead of two (a sender tapping fast, issue 39).
            for index in range(1, len(waiting)):
                if waiting[index][0] == message_id:
                    del waiting[index]
                    self.superseded += 1
                    break
            waiting.append((message_id, text, update_id))
            return
        self._waiting[chat_id] = deque([(message_id, text, update_id)])
        # A context of its own: the sender outlives the update that started it and must not carry its state (the
        # update being settled, the sender's flood permit) into the edits queued by the updates after it.
        contextvars.Context().run(self._application.create_task, self._send(chat_id), name=f"tidy-{chat_id}")

    def waiting(self, chat_id: int) -> int:
        """How many edits wait for this chat (the one being sent included)."""
        return len(self._waiting.get(chat_id, ()))

    async def _send(self, chat_id: int) -> None:
        waiting = self._waiting[chat_id]
        try:
            with sending_as(Lane.TIDY):
                while waiting:
                    message_id, text, update_id = waiting[0]
                    await self._edit(chat_id, message_id, text, update_id)
                    waiting.popleft()
        finally:
            del self._waiting[chat_id]  # no await since the last check: nothing was queued in between

    async def _edit(self, chat_id: int, message_id: int, text: str, update_id: int) -> None:
        try:
            await self._application.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except BadRequest as exc:  # the message was deleted or already shows this: the answer is stored anyway
            log.info("could not edit the answered question (update %s): %s", update_id, type(exc).__name__)
        except TelegramError as exc:  # only the display is late; the answer is stored
            log.warning("could not edit the answered question (update %s): %s", update_id, type(exc).__name__)
        except Exception:  # never lose the chat's next edits to an unexpected error: log it whole
            log.exception("could not edit the answered question (update %s)", update_id)


def tidy_edits(application: Any) -> TidyEdits:
    """The application's queue of tidy edits (made on first use)."""
    found = application.bot_data.get(_KEY)
    if found is None:
        found = application.bot_data[_KEY] = TidyEdits(application)
    return found
