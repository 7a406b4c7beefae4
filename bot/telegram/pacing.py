"""Outgoing pacing within Telegram's broadcast limits, as close to them as is safe.

Telegram (Bots FAQ, core.telegram.org/bots/faq): "avoid sending more than 30 messages per second" overall and "no
more than 20 messages per minute" in one group; beyond that it answers 429 with `retry_after`. Those limits count
*messages*: edits, callback answers and the like are not paced here.

Why not PTB's `AIORateLimiter`: its leaky bucket either bursts (the default lets 30 go at once, then 30/s: up to ~60
in the first second of a busy minute, 333 × 429 for 10,000 due questionnaires) or, with a bucket of one, loses the
scheduling delay of every wait (29/s nominal gave 28.2/s, 94 % of 30/s). It also paces every call that carries a
`chat_id`, so the edit that closes each answered question took a message's slot (benchmarks/README.md).

What this does instead, per limit, is a sliding window counted from each request's *completion*: a message may
start only if fewer than N messages started earlier are in flight or completed less than the period ago. A message
reaches Telegram before its request completes, so any N + 1 messages reach it more than the period apart, whatever
the network's latency: the limit holds by construction, and the rate is N / (period + request time) — about 29.5/s.
A bucket of 2 at 30/s spreads the messages evenly instead of letting 30 go at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

OVERALL_MESSAGES_PER_SECOND = 30  # Bots FAQ: "avoid sending more than 30 messages per second"
GROUP_MESSAGES_PER_MINUTE = 20  # Bots FAQ: "no more than 20 messages per minute" in the same group
RETRIES_AFTER_429 = 3
SMOOTHING_BURST = 2  # messages that may leave back to back (makes up for a late wake-up without bursting)

# The limits count messages posted. Copy and forward post one too; sendChatAction does not.
_MESSAGE_POSTING = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})


def posts_a_message(endpoint: str) -> bool:
    """Does this Bot API method post a new message (and so count towards Telegram's broadcast limits)?"""
    return (endpoint.startswith("send") and endpoint != "sendChatAction") or endpoint in _MESSAGE_POSTING


class SlidingWindow:
    """At most `limit` requests started within any `period`, counting each one until `period` after it completed.

    First come, first served: waiters queue on a lock, so a message waiting for its slot is not overtaken.
    """

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._in_flight = 0
        self._completed: deque[float] = deque()  # completion times still within the period
        self._queue = asyncio.Lock()
        self._changed = asyncio.Event()

    def _occupied(self, now: float) -> int:
        while self._completed and self._completed[0] + self.period <= now:
            self._completed.popleft()
        return self._in_flight + len(self._completed)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the duration of one request."""
        async with self._queue:
            while self._occupied(self._clock()) >= self.limit:
                if self._completed:
                    wait = self._completed[0] + self.period - self._clock()
                    await asyncio.sleep(max(wait, 0.0))
                else:  # every slot is a request still in flight: wait for one to complete
                    self._changed.clear()
                    await self._changed.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._completed.append(self._clock())
            self._changed.set()


class TelegramPacing(BaseRateLimiter[int]):
    """Telegram's limits on new messages (overall and per group), the rest unpaced; 429s honoured and retried.

    After a 429, every request waits out its `retry_after` (as PTB's limiter does), then the request is retried up
    to `max_retries` times.
    """

    def __init__(
        self, *, per_second: int = OVERALL_MESSAGES_PER_SECOND, per_group_minute: int = GROUP_MESSAGES_PER_MINUTE,
        max_retries: int = RETRIES_AFTER_429,
    ) -> None:
        self._overall = SlidingWindow(per_second, 1.0)
        self._smooth = AsyncLimiter(SMOOTHING_BURST, SMOOTHING_BURST / per_second)
        self._per_group_minute = per_group_minute
        self._groups: dict[int | str, SlidingWindow] = {}
        self._max_retries = max_retries
        self._not_flooded = asyncio.Event()
        self._not_flooded.set()

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def _group_slot(self, chat_id: object) -> contextlib.AbstractAsyncContextManager[None]:
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[call-overload]
        if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0):  # a group or a channel
            window = self._groups.setdefault(chat_id, SlidingWindow(self._per_group_minute, 60.0))
            return window.slot()
        return contextlib.nullcontext()

    async def _paced(self, chat_id: object, request: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        async with self._group_slot(chat_id):  # may wait a minute: taken before the overall slot, not while holding it
            async with self._overall.slot():
                await self._smooth.acquire()
                return await request()

    async def process_request(
        self, callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any, kwargs: dict[str, Any], endpoint: str, data: dict[str, Any], rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        max_retries = rate_limit_args or self._max_retries
        for attempt in range(max_retries + 1):
            await self._not_flooded.wait()
            try:
                if not posts_a_message(endpoint):
                    return await callback(*args, **kwargs)
                return await self._paced(data.get("chat_id"), lambda: callback(*args, **kwargs))
            except RetryAfter as exc:
                if attempt == max_retries:
                    log.error("Telegram still asks to wait after %s retries (%s)", max_retries, endpoint)
                    raise
                retry = exc.retry_after
                seconds = retry.total_seconds() if isinstance(retry, timedelta) else float(retry)
                log.warning("Telegram asks to wait %.0f s (%s); holding every request", seconds, endpoint)
                self._not_flooded.clear()
                try:
                    await asyncio.sleep(seconds + 0.1)
                finally:
                    self._not_flooded.set()
        raise AssertionError("unreachable: the last attempt returns or raises")
