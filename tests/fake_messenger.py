"""A fake `bot.messenger.Messenger` for service tests: records every send, fails on demand, no HTTP.

It keeps the port's contract — it raises only `Unreachable` or `TryLater` — and records the priority each message
was sent with (`bot.messenger.current_priority`), so a test can check that a tick's sends are bulk and an alert
urgent without a pacer.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.prompt import Prompt
from bot.messenger import Mention, Priority, TryLater, Unreachable, current_priority


@dataclass(frozen=True)
class Sent:
    """One call that reached the fake (a failed call is recorded too, with `delivered=False`)."""

    method: str
    chat_id: int
    text: str | None
    message_id: int | None
    priority: Priority
    delivered: bool
    protect: bool = False
    acknowledge_alert: int | None = None
    prompt: Prompt | None = None


@dataclass
class FakeMessenger:
    """Every method succeeds unless a failure was queued (`fail_next`) or the chat blocked the bot (`block`)."""

    calls: list[Sent] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    _failures: deque[Exception] = field(default_factory=deque)
    _at: dict[int, Exception] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def fail_next(self, *errors: Exception) -> None:
        """The next calls raise these, in order (only `TryLater` or `Unreachable`: the port's two)."""
        assert all(isinstance(e, (TryLater, Unreachable)) for e in errors)
        self._failures.extend(errors)

    def fail_call(self, index: int, error: Exception) -> None:
        """The call at this position of `calls` (0 is the first call ever made) raises `error`."""
        assert isinstance(error, (TryLater, Unreachable)) and index >= len(self.calls)
        self._at[index] = error

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    @property
    def delivered(self) -> list[Sent]:
        return [c for c in self.calls if c.delivered]

    def to(self, chat_id: int) -> list[Sent]:
        return [c for c in self.delivered if c.chat_id == chat_id]

    def _call(self, method: str, chat_id: int, text: str | None, **extra: object) -> int:
        error: Exception | None = None
        if chat_id in self.blocked:
            error = Unreachable("blocked")
        elif len(self.calls) in self._at:
            error = self._at.pop(len(self.calls))
        elif self._failures:
            error = self._failures.popleft()
        message_id = None if error else next(self._ids)
        self.calls.append(Sent(method, chat_id, text, message_id, current_priority.get(), error is None, **extra))  # type: ignore[arg-type]
        if error is not None:
            raise error
        assert message_id is not None
        return message_id

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        protect: bool = False,
        acknowledge_alert: int | None = None,
        mentions: Sequence[Mention] = (),
    ) -> int:
        return self._call("send_text", chat_id, text, protect=protect, acknowledge_alert=acknowledge_alert)

    async def send_question(self, chat_id: int, prompt: Prompt, *, header: str | None = None) -> int:
        text = f"{header}\n\n{prompt.text or prompt.item.text}" if header else (prompt.text or prompt.item.text)
        return self._call("send_question", chat_id, text, prompt=prompt)

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None) -> None:
        self._call("edit", chat_id, text)

    async def copy(self, chat_id: int, *, from_chat_id: int, message_id: int, reply_to: int | None = None) -> None:
        self._call("copy", chat_id, None)
