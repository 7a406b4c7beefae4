"""Outgoing pacing: replies are not broadcasts (issues #18 and #21).

Telegram's limits, as its maintainers describe them (Bots FAQ; tdlib/td #3034 and #2592, tdlib/telegram-bot-api
#648): about 30 messages per second for *bulk notifications* (messages the bot starts to many users); no global cap
on replies, which are limited *per chat* — about one message a second in a private chat with short bursts, 20 a
minute in a group — and edits share the per-chat limit; `answerCallbackQuery` is not limited.

So every call travels in one of four lanes (`Lane`), chosen by the call site through PTB's `rate_limit_args`
(`bot.send_message(..., rate_limit_args=Lane.BULK)`) or for a whole job (`with sending_as(Lane.BULK):`), a
reply by default:

- URGENT — alerts to the clinicians, the patient's safety advice: first in its chat's queue, never behind bulk;
- REPLY — an answer to the patient's own action (tap, command, typed answer): per-chat pacing only;
- BULK — scheduled questionnaires, reminders, digests: ≈ 30/s overall, and last in each chat's queue;
- TIDY — cosmetic edits (showing the chosen answer on the question just answered): per-chat, only once the chat's
  budget is untouched (the patient paused), so the next question never waits for them.

Each limit counts a message from its request's *completion* — a message reaches Telegram before its request
completes, so the count never runs behind Telegram's whatever the latency. A group's limit and the bulk one are a
`Window`: at most N requests within any period (20 per 60 s; 30 per second, smoothed so 30 do not leave at once). A
private chat's is a `TokenBucket` (issue 38): one message a second with a burst of 3, as the Bots FAQ states it
("avoid sending more than one message per second" in a chat, "short bursts" allowed) — so a reply waits only when
Telegram could refuse it, and a patient tapping at most once a second is never held.

A 429 holds only the chat it was about, for `retry_after`; the bulk window as well when a bulk message was refused;
every request only when Telegram's answer implies a bot-wide flood: a 429 on a call that names no chat, or 429s
for several different chats within a couple of seconds.

Replies to a sender who floods (`FloodGuard`, issues #21 and 39): messages are counted as they arrive (the inbox's
intake calls `update_arrived`); the guard handler names the message being handled; the pacer drops the posts and
edits that would answer a flooding sender in its own chat beyond one a minute (`RepliesPaused`, which the error
handler ignores). Urgent advice is never dropped. With the inbox's processor handling one update per sender at a time
(`bot.telegram.inbox.InboxProcessor`), one account costs one handler slot at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter

from bot.messenger import Priority, current_priority, sending_as  # noqa: F401 - sending_as: re-exported for the handlers

log = logging.getLogger(__name__)

OVERALL_MESSAGES_PER_SECOND = 30  # Bots FAQ: bulk notifications, "no more than about 30 messages per second"
GROUP_MESSAGES_PER_MINUTE = 20  # Bots FAQ: "no more than 20 messages per minute" in the same group
PRIVATE_BURST = 3  # "short bursts" in a private chat (Telegram publishes no size; the stand-in allows 3)
PRIVATE_MESSAGES_PER_SECOND = 1.0  # Bots FAQ: "avoid sending more than one message per second" in a chat
RETRIES_AFTER_429 = 3
SMOOTHING_BURST = 2  # bulk messages that may leave back to back (makes up for a late wake-up without bursting)
#: 429s for this many different chats within GLOBAL_FLOOD_SECONDS mean the bot as a whole is flooding.
GLOBAL_FLOOD_CHATS = 3
GLOBAL_FLOOD_SECONDS = 2.0
#: Cosmetic edits (the TIDY lane) in flight at once, all chats together (issue 38). Each request in flight holds
#: a connection of the HTTP pool, and httpcore walks every pooled connection twice per request (a readability
#: check, a system call, for each idle one): a thousand patients' edits sent together grew the pool to hundreds
#: of connections and made every request — the replies too — pay for them. Edits are last in their chat anyway.
TIDY_IN_FLIGHT = 4
#: Float slack in the token bucket's comparisons (a refill computed at its due time may fall short by 1e-16).
_EPSILON = 1e-9
#: A message to a private chat that wrote to the bot this recently is a reply (the stand-in uses the same reading).
REPLY_WINDOW_SECONDS = 50.0

# The limits count messages posted. Copy and forward post one too; sendChatAction does not.
_MESSAGE_POSTING = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})


#: Who waits for whom (`bot.messenger.Priority`): the port names it, the pacer enforces it. Calls made outside a
#: `sending_as` block are replies; a job sets its lane once (`with sending_as(Lane.BULK):`). A context variable
#: rather than `rate_limit_args` at every call: PTB refuses `rate_limit_args` on a bot without a rate limiter
#: (tests, sandbox, benchmarks run some without), and one send of a question serves both replies and bulk.
Lane = Priority
current_lane = current_priority


def posts_a_message(endpoint: str) -> bool:
    """Does this Bot API method post a new message (and so count towards the bulk limit)?"""
    return (endpoint.startswith("send") and endpoint != "sendChatAction") or endpoint in _MESSAGE_POSTING


def edits_a_message(endpoint: str) -> bool:
    """Edits share their chat's limit (but not the bulk one)."""
    return endpoint.startswith("editMessage") or endpoint == "stopPoll"


def chat_key(chat_id: object) -> int | str | None:
    """The chat a request is about, normalised (`"123"` and `123` are one chat)."""
    if chat_id is None:
        return None
    with contextlib.suppress(ValueError, TypeError):
        return int(chat_id)  # type: ignore[call-overload]  # any JSON value may come; int() refusing it is handled
    return str(chat_id)


def is_private(chat: int | str) -> bool:
    """Private chats have positive ids; groups and channels negative ids or an @username."""
    return isinstance(chat, int) and chat > 0


class Window:
    """At most `limit` requests started within any `period`, each counted until `period` after it completed.

    Waiters are served by (priority, arrival): a lower priority value overtakes, equal ones keep their order. A
    waiter may ask to `keep` slots free for others (the tidy lane: only into an untouched budget); it waits in the
    queue like any other, woken when a slot frees, never by polling — with a thousand patients answering, tens of
    thousands of cosmetic edits may be waiting at once. `hold(seconds)` closes the window for a while (a 429's
    `retry_after`). Granting is O(log n) per waiter, so a fan-out of thousands waiting on the bulk window costs
    nothing per wake-up.
    """

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._in_flight = 0
        self._completed: deque[float] = deque()
        self._waiters: list[tuple[int, int, int, asyncio.Future[None]]] = []  # (priority, order, keep, future)
        self._order = itertools.count()
        self._held_until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def _occupied(self, now: float) -> float:
        """Slots in use now: requests in flight and those still counted (a token bucket counts fractions)."""
        while self._completed and self._completed[0] + self.period <= now:
            self._completed.popleft()
        return self._in_flight + len(self._completed)

    @property
    def idle(self) -> bool:
        """Nothing waiting, in flight or counted: the window can be forgotten."""
        return not self._waiters and self._occupied(self._clock()) == 0 and self._held_until <= self._clock()

    def hold(self, seconds: float) -> None:
        """No request starts for `seconds` (Telegram's `retry_after`)."""
        self._held_until = max(self._held_until, self._clock() + seconds)

    def _full(self, now: float, keep: int) -> bool:
        """No slot for one more request now, leaving `keep` for others (a 429's hold is checked apart)."""
        return self._occupied(now) + keep > self.limit - 1 + _EPSILON

    def _frees_at(self, now: float, keep: int) -> float | None:
        """When a slot will be free for a request keeping `keep`, if nothing else changes; None: only a release
        (a request in flight completing) can free one."""
        if self._completed:
            return self._completed[0] + self.period
        return None

    def free(self, *, keep: int = 0) -> bool:
        """Could a request start now, leaving `keep` slots for others?"""
        now = self._clock()
        return now >= self._held_until and not self._full(now, keep)

    def next_change(self) -> float:
        """Seconds until a slot may free up (a short poll when every slot is still in flight)."""
        now = self._clock()
        if now < self._held_until:
            return self._held_until - now
        at = self._frees_at(now, 0)
        return max(at - now, 0.01) if at is not None else 0.05

    def _pump(self) -> None:
        """Grant free slots to the best waiters; arm one timer for the next slot to free up."""
        now = self._clock()
        while self._waiters:
            _, _, keep, future = self._waiters[0]
            if future.done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            if now < self._held_until or self._full(now, keep):
                break
            heapq.heappop(self._waiters)
            self._in_flight += 1
            future.set_result(None)
        if not self._waiters:
            return
        if now < self._held_until:
            wake = self._held_until
        else:
            at = self._frees_at(now, self._waiters[0][2])
            if at is None:
                return  # every slot is in flight: the next release pumps
            wake = at
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(max(wake - now, 0.0), self._pump)

    async def acquire(self, priority: int = 0, *, keep: int = 0) -> None:
        """Wait for a slot (leaving `keep` free for others); the caller must `release()` it once the request
        completed."""
        if not self._waiters and self.free(keep=keep):
            self._in_flight += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), keep, future))
        self._pump()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled: give the slot back
                self.release()
            raise

    def release(self) -> None:
        self._in_flight -= 1
        self._count_completed(self._clock())
        self._pump()

    def _count_completed(self, now: float) -> None:
        self._completed.append(now)

    @contextlib.asynccontextmanager
    async def slot(self, priority: int = 0, *, keep: int = 0) -> AsyncIterator[None]:
        """Hold a slot for the duration of one request."""
        await self.acquire(priority, keep=keep)
        try:
            yield
        finally:
            self.release()


#: Kept for callers of the first pacer (same semantics, first come first served).
SlidingWindow = Window


class TokenBucket(Window):
    """A private chat's budget as Telegram states it (Bots FAQ, "My bot is hitting limits, how do I avoid this?",
    https://core.telegram.org/bots/faq: "avoid sending more than one message per second" in a chat, "short bursts
    that go over this limit" allowed): a bucket of `burst` messages refilled at `per_second`, the reading the
    stand-in enforces (`bot.standin.limits.FloodControl`).

    Issue 38: the sliding window used before (3 per 3 s) was stricter than that bucket — a patient tapping every
    second exactly, or a reply slower than the one before it, found 3 messages counted in the last 3 s and waited,
    though Telegram would have taken the message. The bucket holds a message only when Telegram could refuse it:
    each message is counted from its request's *completion* (Telegram received it no later; counting it later only
    leaves fewer tokens, so the bucket never runs ahead of Telegram's whatever the latency), and a request in flight
    holds a token until then. A patient who taps at most once a second gets at most one message a second back and
    is never held. `keep` (the tidy lane) still means "only into an untouched budget": a full bucket, nothing in
    flight.
    """

    def __init__(self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(burst, burst / per_second, clock)
        self.per_second = per_second
        self._debt = 0.0  # tokens missing from the bucket (completed requests not yet refilled) at `_debt_at`
        self._debt_at = clock()

    def _debt_now(self, now: float) -> float:
        if self._debt <= 0.0:
            return 0.0
        return max(0.0, self._debt - (now - self._debt_at) * self.per_second)

    def _occupied(self, now: float) -> float:
        return self._in_flight + self._debt_now(now)

    def _count_completed(self, now: float) -> None:
        self._debt = self._debt_now(now) + 1.0
        self._debt_at = now

    def _frees_at(self, now: float, keep: int) -> float | None:
        spare = self.limit - 1 - keep - self._in_flight  # the debt that would still admit the request
        if spare < 0:
            return None
        return now + max(self._debt_now(now) - spare, 0.0) / self.per_second


class RepliesPaused(TelegramError):
    """A reply to a sender who floods, beyond one a minute: not sent (issue #21). Not a failure."""

    def __init__(self) -> None:
        super().__init__("replies to this sender are paused: flooding")


@dataclass
class _Sender:
    arrivals: deque[float] = field(default_factory=deque)
    last_reply: float = float("-inf")
    flooding: bool = False
    pending: int = 0  # messages arrived and not yet handled


@dataclass(frozen=True)
class ReplyPermit:
    """Set for the handling of one message: who sent it, in which chat. Whether the bot may post into (or edit in)
    that chat is asked when it does (`FloodGuard.may_reply`), not decided when the handler starts: by then the
    sender's flood may have been noticed from the messages that arrived after this one."""

    chat: int | str
    sender: int
    update_id: int


#: The permit of the update being handled (a ContextVar: PTB handles each update in its own task).
current_permit: contextvars.ContextVar[ReplyPermit | None] = contextvars.ContextVar("reply_permit", default=None)


class FloodGuard:
    """Counts each sender's messages *as they arrive* (issue 39); a sender above `messages` in `window` seconds
    floods and gets at most one reply per `reply_every` seconds until it slows down and its backlog is handled.
    Others are not affected at all.

    More than one message a second for ten seconds is more than Telegram lets the bot answer one for one in a
    private chat (about one message a second), so such a sender could not be answered anyway; a person typing an
    answer per question, or a few short messages in a row, stays well under it. Issue #21 measured one account
    sending 500 texts in 5 s.

    Why at arrival: counted when a handler started, a flood looked slow — the handlers themselves waited for the
    flooder's chat budget, so they started about once a second and the guard never saw more than ten in ten
    seconds (issue 39: every reply was queued, each holding a handler slot). Why "and its backlog": the messages
    still waiting behind the one being handled would each be answered once the arrival rate drops, hundreds of
    replies at one a second; a message is answered again only once the sender slowed down and nothing of theirs
    waits behind it (that reply shows the current question).
    """

    def __init__(
        self,
        *,
        messages: int = 10,
        window: float = 10.0,
        reply_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.messages = messages
        self.window = window
        self.reply_every = reply_every
        self._clock = clock
        self._senders: dict[int, _Sender] = {}
        self._granted: set[int] = set()  # update ids given the minute's reply while their sender floods
        self.muted = 0  # replies not sent, for the logs and tests

    def _recent(self, state: _Sender, now: float) -> int:
        while state.arrivals and state.arrivals[0] <= now - self.window:
            state.arrivals.popleft()
        return len(state.arrivals)

    def arrived(self, sender: int, update_id: int) -> None:
        """One message from `sender` reached the bot (before it waits for a handler)."""
        now = self._clock()
        state = self._senders.setdefault(sender, _Sender())
        state.arrivals.append(now)
        state.pending += 1
        if len(self._senders) > 10_000:  # forget quiet senders (a stranger who wrote once)
            for key in [
                k
                for k, s in self._senders.items()
                if s.pending == 0 and (not s.arrivals or s.arrivals[-1] <= now - 60.0)
            ]:
                if key != sender:
                    del self._senders[key]
        if self._recent(state, now) <= self.messages:
            return
        if not state.flooding:
            state.flooding = True
            log.warning("a sender floods (%s messages in %.0f s): one reply a minute", len(state.arrivals), self.window)
        if now - state.last_reply >= self.reply_every:
            state.last_reply = now
            self._granted.add(update_id)

    def finished(self, sender: int, update_id: int) -> None:
        """Its handlers are done (or it was dropped as a redelivery)."""
        self._granted.discard(update_id)
        state = self._senders.get(sender)
        if state is not None and state.pending > 0:
            state.pending -= 1

    def flooding(self, sender: int) -> bool:
        state = self._senders.get(sender)
        return state is not None and state.flooding

    def may_reply(self, sender: int, update_id: int) -> bool:
        """May the handling of this message post or edit in its sender's chat now?"""
        state = self._senders.get(sender)
        if state is None or not state.flooding or update_id in self._granted:
            return True
        if self._recent(state, self._clock()) > self.messages or state.pending > 1:
            return False
        state.flooding = False  # slowed down, and this is the last of the backlog: answered (the current question)
        return True


def _message_sender(update: Any) -> int | None:
    """The user who sent a new message (what the flood guard counts: not taps, not edits, not joins)."""
    if getattr(update, "message", None) is None:
        return None
    user = getattr(update, "effective_user", None)
    return user.id if user is not None else None


class TelegramPacing(BaseRateLimiter[Lane]):
    """Lanes, per-chat windows, the bulk window; 429s held where they apply, then retried `max_retries` times."""

    def __init__(
        self,
        *,
        per_second: int = OVERALL_MESSAGES_PER_SECOND,
        per_group_minute: int = GROUP_MESSAGES_PER_MINUTE,
        private_burst: int = PRIVATE_BURST,
        private_per_second: float = PRIVATE_MESSAGES_PER_SECOND,
        max_retries: int = RETRIES_AFTER_429,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock  # the chats' budgets (tests drive it; the bulk window keeps the real one)
        self._bulk = Window(per_second, 1.0)
        self._smooth = AsyncLimiter(SMOOTHING_BURST, SMOOTHING_BURST / per_second)
        self._per_group_minute = per_group_minute
        self._private_burst = private_burst
        self._private_per_second = private_per_second
        self._chats: dict[int | str, Window] = {}
        self._max_retries = max_retries
        self._everything = Window(1_000_000, 0.0)  # only ever held: Telegram's "wait, all of you"
        self._tidy_in_flight = asyncio.Semaphore(TIDY_IN_FLIGHT)
        self._recent_429: deque[tuple[float, int | str]] = deque()
        self.flood_guard = FloodGuard()
        self._heard: dict[int | str, float] = {}  # when each chat last wrote to the bot (a message, a tap)
        self.held: dict[str, int] = {"chat": 0, "bulk": 0, "all": 0}  # 429s by what they held, for tests
        self.bulk_window_sends = 0  # requests that went through the 30/s window (retries included)
        self.waited_for_chat: Counter[Lane] = Counter()  # requests that found their chat's window full

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def heard_from(self, chat: int | str) -> None:
        """The chat wrote to the bot: for a minute, what the bot posts there is a reply, not a bulk notification."""
        now = time.monotonic()
        self._heard[chat] = now
        if len(self._heard) > 20_000:
            self._heard = {k: t for k, t in self._heard.items() if t > now - REPLY_WINDOW_SECONDS}

    def update_arrived(self, update: Any) -> None:
        """An update reached the bot (`bot.telegram.inbox.InboxQueue`): its chat wrote now, and a message counts
        towards its sender's flood (`FloodGuard`) now, not when a handler gets to it."""
        chat = getattr(update, "effective_chat", None)
        key = chat_key(chat.id) if chat is not None else None
        if key is not None:
            self.heard_from(key)
        sender = _message_sender(update)
        if sender is not None:
            self.flood_guard.arrived(sender, update.update_id)

    def update_finished(self, update: Any) -> None:
        """Its handlers are done (`bot.telegram.inbox.InboxProcessor`): one fewer waiting from its sender."""
        sender = _message_sender(update)
        if sender is not None:
            self.flood_guard.finished(sender, update.update_id)

    def _is_reply(self, chat: int | str) -> bool:
        heard = self._heard.get(chat)
        return heard is not None and time.monotonic() - heard <= REPLY_WINDOW_SECONDS

    def _bulk_message(self, lane: Lane, chat: int | str | None, posts: bool) -> bool:
        """Under the 30/s limit: bulk posts, and "replies" to a private chat that has not written lately (which,
        for Telegram, are bulk notifications too)."""
        if not posts or chat is None:
            return False
        return lane is Lane.BULK or (lane is Lane.REPLY and is_private(chat) and not self._is_reply(chat))

    def _chat(self, chat: int | str) -> Window:
        window = self._chats.get(chat)
        if window is None:
            if len(self._chats) > 20_000:  # a long-running bot talks to many chats: drop the idle windows
                for key in [k for k, w in self._chats.items() if w.idle]:
                    del self._chats[key]
            if is_private(chat):
                window = TokenBucket(self._private_burst, self._private_per_second, self._clock)
            else:
                window = Window(self._per_group_minute, 60.0, self._clock)
            self._chats[chat] = window
        return window

    async def _send(
        self, lane: Lane, chat: int | str | None, posts: bool, request: Callable[[], Coroutine[Any, Any, Any]]
    ) -> Any:
        if chat is None:
            return await request()
        window = self._chat(chat)
        # a cosmetic edit waits (queued, last) until its chat's budget is untouched (the patient paused): the
        # replies the patient is waiting for — the next question, a ticked choice — keep the whole burst
        keep = window.limit - 1 if lane is Lane.TIDY else 0
        if lane is not Lane.TIDY and not window.free():
            self.waited_for_chat[lane] += 1
        async with window.slot(int(lane), keep=keep):
            if lane is Lane.TIDY:
                # Cosmetic edits of many chats at once: a few at a time, once their chat admitted them (issue 38)
                async with self._tidy_in_flight:
                    return await request()
            if self._bulk_message(lane, chat, posts):
                self.bulk_window_sends += 1
                async with self._bulk.slot():
                    await self._smooth.acquire()
                    return await request()
            return await request()

    def _muted(self, chat: int | str | None, writes: bool, lane: Lane) -> bool:
        """A post or an edit into a flooding sender's own chat, while handling its message: not sent (an edit too —
        the question asked again first loses its old keyboard, and that edit waited for the chat's budget like a
        post). Urgent advice is never muted."""
        permit = current_permit.get()
        if permit is None or not writes or lane is Lane.URGENT or chat != permit.chat:
            return False
        if self.flood_guard.may_reply(permit.sender, permit.update_id):
            return False
        self.flood_guard.muted += 1
        return True

    def _held_by_429(self, lane: Lane, chat: int | str | None, posts: bool, seconds: float) -> str:
        """Hold what the 429 was about: its chat; the bulk window too for a bulk message; everything when the call
        names no chat or 429s for several chats' non-bulk messages arrive together (a bot-wide flood)."""
        if chat is None:
            self._everything.hold(seconds)
            return "all"
        self._chat(chat).hold(seconds)
        if self._bulk_message(lane, chat, posts):
            self._bulk.hold(seconds)
            return "bulk"
        now = time.monotonic()
        self._recent_429.append((now, chat))
        while self._recent_429 and self._recent_429[0][0] < now - GLOBAL_FLOOD_SECONDS:
            self._recent_429.popleft()
        if len({c for _, c in self._recent_429}) >= GLOBAL_FLOOD_CHATS:
            self._everything.hold(seconds)
            return "all"
        return "chat"

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Lane | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        lane = Lane(rate_limit_args) if rate_limit_args else current_lane.get()
        posts = posts_a_message(endpoint)
        chat = chat_key(data.get("chat_id")) if (posts or edits_a_message(endpoint)) else None
        if chat is None and edits_a_message(endpoint):  # an inline message: no chat to pace
            posts = False
        if self._muted(chat, posts or edits_a_message(endpoint), lane):
            raise RepliesPaused
        for attempt in range(self._max_retries + 1):
            if not self._everything.free():
                async with self._everything.slot():
                    pass
            try:
                return await self._send(lane, chat, posts, lambda: callback(*args, **kwargs))
            except RetryAfter as exc:
                if attempt == self._max_retries:
                    log.error("Telegram still asks to wait after %s retries (%s)", self._max_retries, endpoint)
                    raise
                retry = exc.retry_after
                seconds = retry.total_seconds() if isinstance(retry, timedelta) else float(retry)
                scope = self._held_by_429(lane, chat, posts, seconds + 0.1)
                self.held[scope] += 1
                log.warning(
                    "Telegram asks to wait %.0f s (%s); holding %s",
                    seconds,
                    endpoint,
                    {"chat": "this chat", "bulk": "this chat and bulk sends", "all": "every request"}[scope],
                )
        raise AssertionError("unreachable: the last attempt returns or raises")
