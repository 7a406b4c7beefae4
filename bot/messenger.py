"""The messenger port: what the bot's core asks of a chat platform, and the only two ways it can fail.

Scheduling, delivery and the digest talk to patients and clinicians through a `Messenger`; they never see Telegram.
The one implementation for production is `bot.telegram.messenger.PtbMessenger` — the only place that catches
Telegram's errors and turns them into:

- `Unreachable`: this chat will not receive messages (the patient blocked the bot, the group removed it). Retrying
  soon is pointless; the caller marks the patient unreachable or keeps the message for later.
- `TryLater`: not sent now. `seconds` is the platform's own wait (Telegram's `retry_after`) when it gave one, else
  None: the caller's back-off decides. `refused` says the platform rejected this very request (a 400: retrying
  the same thing at once would fail again), as opposed to a network failure or a 5xx.

Service tests use a fake Messenger (`tests/fake_messenger.py`) and a real database: fast, and no HTTP.

`Priority` is who waits for whom among outgoing messages (issues #18 and #21): urgent alerts and safety advice
first, replies to a patient's own action next, scheduled bulk sends last, cosmetic tidying only into an untouched
budget. A job sets it once for everything it sends (`with sending_as(Priority.BULK):`); the Telegram adapter's
pacer reads it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.domain.prompt import Prompt


class Priority(IntEnum):
    """A lower value goes first in a chat's queue (none is 0: PTB drops a falsy `rate_limit_args`)."""

    URGENT = 1
    REPLY = 2
    BULK = 3
    TIDY = 4


#: The priority of sends made outside any `sending_as` block: a reply to the patient's own action.
current_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar("priority", default=Priority.REPLY)


@contextlib.contextmanager
def sending_as(priority: Priority) -> Iterator[None]:
    """Every message sent inside (and in tasks started inside) travels with `priority`."""
    token = current_priority.set(priority)
    try:
        yield
    finally:
        current_priority.reset(token)


class Unreachable(Exception):
    """The chat does not accept messages from the bot (blocked, removed); `reason` is for the logs."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "the chat cannot be reached")
        self.reason = reason


class TryLater(Exception):
    """Not sent now. `seconds`: the platform's own wait, or None (use your back-off). `refused`: the platform
    rejected this request itself (retrying it at once would fail again)."""

    def __init__(self, seconds: float | None = None, *, refused: bool = False, reason: str = "") -> None:
        super().__init__(reason or ("refused" if refused else "not sent now"))
        self.seconds = seconds
        self.refused = refused
        self.reason = reason


@dataclass(frozen=True)
class Mention:
    """A person named in a text so that the platform notifies them: `length` characters of the text from `offset`
    (Python string positions; the adapter converts to the platform's units) stand for user `user_id`."""

    offset: int
    length: int
    user_id: int


class Messenger(Protocol):
    """Sending to a chat. Every method raises only `Unreachable` or `TryLater` (or a programming error)."""

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        protect: bool = False,
        acknowledge_alert: int | None = None,
        mentions: Sequence[Mention] = (),
    ) -> int:
        """Post plain text (no markup is ever interpreted); return the message id.

        `protect`: the receivers cannot forward or save it (health data in the clinicians' group).
        `acknowledge_alert`: with the "taken care of" button of that alert.
        `mentions`: parts of the text that name a user by id, so that they are notified (an on-call clinician).
        """
        ...

    async def send_question(self, chat_id: int, prompt: Prompt, *, header: str | None = None) -> int:
        """Post the prompt's question with one button per answer (header above it); return the message id."""
        ...

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None) -> None:
        """Take the buttons off an earlier message (an outdated copy of a question); with `text`, replace its
        text too."""
        ...

    async def copy(self, chat_id: int, *, from_chat_id: int, message_id: int, reply_to: int | None = None) -> None:
        """Post a copy of a message (a patient's voice note, photo) without its sender's name."""
        ...
