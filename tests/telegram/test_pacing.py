"""Outbound pacing within Telegram's limits (issue #4): a busy minute goes out without a single 429."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import Bench

from bot.scheduling import spread
from bot.standin.limits import FloodControl, FloodLimits
from bot.standin.server import FLOOD_COUNTED
from bot.storage import instances, patients
from bot.telegram.pacing import (
    PRIVATE_BURST,
    Lane,
    SlidingWindow,
    TelegramPacing,
    TokenBucket,
    Window,
    sending_as,
)

PATIENTS = 75


async def test_questionnaires_due_at_the_same_minute_go_out_paced_with_no_429(tmp_path: Path) -> None:
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        services = bench.services
        assert services is not None
        now = bench.clock.now()
        async with services.store.transaction() as tx:
            for n in range(PATIENTS):
                user = 90_000 + n
                bench.standin.add_private_chat(user)
                pid = await patients.create_patient(
                    tx,
                    study_id=f"F-{n:03d}",
                    site_code="main",
                    arm="standard",
                    rt_start=date(2027, 3, 3),
                    fractions=1,
                    now=now,
                )
                await patients.link_telegram(tx, patient_id=pid, telegram_user_id=user, chat_id=user, now=now)
                await patients.set_status(tx, pid, "active", now)
                await instances.create_instance(
                    tx,
                    patient_id=pid,
                    questionnaire_id="weekly",
                    questionnaire_version="1.0",
                    timepoint="W1",
                    study_day=None,
                    is_primary=False,
                    opens_at=now,
                    closes_at=now + timedelta(days=1),
                )
            await tx.commit()
        started = time.monotonic()
        report = await bench.tick()
        elapsed = time.monotonic() - started
        assert len(report.sent) == PATIENTS
        assert bench.standin.stats.rate_limited == 0  # the stand-in refuses > 30/s overall, > ~1/s per chat
        sends = [r for r in bench.standin.requests("sendMessage") if r.status == 200 and int(r.chat_id) > 0]
        assert len(sends) == PATIENTS  # one message per patient: header and first question together
        assert elapsed >= (PATIENTS - 30) / 30  # really paced, not a burst
        sent = sqlite3.connect(bench.database).execute("SELECT COUNT(*) FROM instances WHERE status = 'open'")
        assert sent.fetchone()[0] == PATIENTS
    finally:
        await bench.stop()


async def test_bulk_sends_are_paced_overall_and_replies_are_not(tmp_path: Path) -> None:
    """Issue #18: 30/s is the limit for bulk notifications; replies to patients who just wrote skip that queue."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        bot = bench.app.bot
        chats = [95_000 + n for n in range(90)]
        for chat in chats:
            bench.standin.add_private_chat(chat)
        started = time.monotonic()
        with sending_as(Lane.BULK):
            await asyncio.gather(*(bot.send_message(chat, "Question") for chat in chats))
        bulk = time.monotonic() - started
        assert bulk >= (len(chats) - 30) / 30  # ≤ 30 in any second: 90 bulk messages take more than 2 s
        for chat in chats:  # every chat writes (an unknown user: the bot answers each one)
            bench.standin.send_text(chat, chat, "Bonjour")
        await bench.settle()
        replies = [r for r in bench.standin.requests("sendMessage") if r.ok][len(chats) :]
        assert len(replies) == len(chats)
        # the 90 replies did not queue behind a 30/s limit: the stand-in would have refused them (> 30 in a second
        # to chats that wrote are not bulk), and the pacer did not hold them in its bulk window
        assert bench.standin.stats.rate_limited == 0
        assert bench.app.bot.rate_limiter.bulk_window_sends == len(chats)  # type: ignore[union-attr]
    finally:
        await bench.stop()


async def test_urgent_goes_first_then_replies_then_bulk_in_a_chat_and_tidy_edits_last() -> None:
    """A chat's queue serves lanes in order, arrival order within a lane."""
    window = Window(1, 0.05)
    served: list[str] = []

    async def request(name: str, lane: Lane) -> None:
        async with window.slot(int(lane)):
            served.append(name)
            await asyncio.sleep(0.01)

    first = asyncio.create_task(request("first", Lane.BULK))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(request(name, lane))
        for name, lane in (
            ("tidy", Lane.TIDY),
            ("bulk-1", Lane.BULK),
            ("reply-1", Lane.REPLY),
            ("bulk-2", Lane.BULK),
            ("urgent", Lane.URGENT),
            ("reply-2", Lane.REPLY),
        )
    ]
    await asyncio.gather(first, *waiting)
    assert served == ["first", "urgent", "reply-1", "reply-2", "bulk-1", "bulk-2", "tidy"]


async def test_a_429_in_one_chat_holds_only_that_chat(tmp_path: Path) -> None:
    """Issue #21: any 429 used to hold every request; now only the chat Telegram refused waits."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        bot = bench.app.bot
        held, other = 97_001, 97_002
        for chat in (held, other):
            bench.standin.add_private_chat(chat)
            bench.standin.send_text(chat, chat, "Bonjour")  # both wrote: what follows are replies
        await bench.settle()
        bench.standin.rate_limit_next(1, retry_after=3, method="sendMessage")
        delivered: dict[int, float] = {}
        started = time.monotonic()

        async def reply(chat: int) -> None:
            await bot.send_message(chat, "Réponse")
            delivered[chat] = time.monotonic() - started

        first = asyncio.create_task(reply(held))
        await bench.standin.wait_for(lambda: bench.standin.stats.rate_limited == 1)
        await reply(other)
        await first
        assert delivered[other] < 1.5  # not held by the other chat's 429 (≈ 0.01 s on an idle machine)
        assert delivered[held] >= 3.0  # retry_after honoured, then retried
        assert bot.rate_limiter.held == {"chat": 1, "bulk": 0, "all": 0}  # type: ignore[union-attr]
    finally:
        await bench.stop()


async def test_429s_for_several_chats_at_once_hold_everything(tmp_path: Path) -> None:
    """Telegram refusing replies in several chats at once means the bot as a whole is flooding: all wait."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        bot = bench.app.bot
        chats = [97_101, 97_102, 97_103, 97_104]
        for chat in chats:
            bench.standin.add_private_chat(chat)
            bench.standin.send_text(chat, chat, "Bonjour")
        await bench.settle()
        bench.standin.rate_limit_next(3, retry_after=2, method="sendMessage")
        started = time.monotonic()
        await asyncio.gather(*(bot.send_message(chat, "Réponse") for chat in chats[:3]))
        await bench.standin.wait_for(lambda: bench.standin.stats.rate_limited == 3)
        assert bot.rate_limiter.held["all"] == 1  # type: ignore[union-attr]
        assert time.monotonic() - started >= 2.0
    finally:
        await bench.stop()


async def test_the_sliding_window_never_admits_more_than_its_limit_in_any_period_and_wastes_little() -> None:
    """Counted from completions, any limit + 1 requests start more than a period apart, whatever their latency."""
    window = SlidingWindow(10, 0.2)
    starts: list[float] = []
    rng = random.Random(8)

    async def request(latency: float) -> None:
        async with window.slot():
            starts.append(time.monotonic())
            await asyncio.sleep(latency)

    began = time.monotonic()
    await asyncio.gather(*(request(rng.uniform(0.0, 0.03)) for _ in range(100)))
    elapsed = time.monotonic() - began
    starts.sort()
    assert min(later - first for first, later in zip(starts, starts[10:])) >= 0.2
    assert elapsed < 9 * (0.2 + 0.03) * 1.5  # 100 requests = 9 full periods after the first 10, plus latencies


async def test_a_429_is_waited_out_then_the_refused_message_is_sent_again(tmp_path: Path) -> None:
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        bot = bench.app.bot
        for chat in (96_001, 96_002):
            bench.standin.add_private_chat(chat)
        bench.standin.rate_limit_next(1, retry_after=1, method="sendMessage")
        started = time.monotonic()
        first, second = await asyncio.gather(bot.send_message(96_001, "Un"), bot.send_message(96_002, "Deux"))
        elapsed = time.monotonic() - started
        assert (first.text, second.text) == ("Un", "Deux")  # both delivered: the refused one was retried
        assert elapsed >= 1.0  # retry_after was honoured
        accepted = [r for r in bench.standin.requests("sendMessage") if r.status == 200]
        refused = [r for r in bench.standin.requests("sendMessage") if r.status == 429]
        assert len(accepted) == 2 and len(refused) == 1
    finally:
        await bench.stop()


async def test_one_account_flooding_does_not_slow_another_patients_replies(tmp_path: Path) -> None:
    """Issue #21.1: 500 texts in 5 s from one account, Telegram's per-chat limits on in the stand-in: another
    patient's p99 reply ≤ 1 s, and the flooder gets at most one reply a minute once it floods."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        patient = await bench.join(98_001, "F-001", date(2027, 3, 3))
        # Paused: /aide then sends the help alone (with a question open it sends the question again too, issue 39
        # item 5: two messages against the chat's one-a-second budget; this test measures one reply to one command).
        await bench.patient_says(patient, "/pause")
        flooder = 98_666
        bench.standin.add_private_chat(flooder)
        before = len(bench.standin.sent_messages(flooder))
        latencies: list[float] = []

        async def flood() -> None:
            for n in range(500):
                bench.standin.send_text(flooder, flooder, f"spam {n}")
                if n % 10 == 9:
                    await asyncio.sleep(0.1)  # 100 a second for 5 s

        await asyncio.sleep(3.0)  # the patient's own chat budget, spent by joining, refills

        async def ask_for_help() -> None:
            await asyncio.sleep(0.2)
            for _ in range(7):
                count = len(bench.standin.sent_messages(patient.user_id))
                asked = time.monotonic()
                bench.standin.send_command(patient.user_id, patient.user_id, "aide")
                await bench.standin.wait_for(
                    lambda: len(bench.standin.sent_messages(patient.user_id)) > count, timeout=30
                )
                latencies.append(time.monotonic() - asked)
                await asyncio.sleep(1.1)  # within the patient's own one-a-second budget

        await asyncio.gather(flood(), ask_for_help())
        await bench.settle(timeout=60)
        assert max(latencies) <= 1.0, latencies  # p99 of 7 is the worst
        replies_to_flooder = len(bench.standin.sent_messages(flooder)) - before
        limiter = bench.app.bot.rate_limiter  # type: ignore[union-attr]
        # the first 10 messages (before it counts as a flood) are answered, then one a minute: here one
        assert replies_to_flooder <= 10 + 1, replies_to_flooder
        assert limiter.flood_guard.muted >= 480
        assert bench.standin.stats.flood_limited == 0
    finally:
        await bench.stop()


def test_stand_in_flood_control_follows_telegrams_rules() -> None:
    """Bulk ≤ 30/s across chats that did not write; replies per chat only; edits share the chat's budget; groups
    20 a minute; callback answers are not counted (the server never asks FloodControl about them)."""
    flood = FloodControl(FloodLimits())
    now = 1000.0
    assert [flood.retry_after(chat, private=True, now=now) for chat in range(1, 31)] == [None] * 30
    assert flood.retry_after(31, private=True, now=now) == 1  # the 31st bulk message in a second
    for chat in range(100, 140):  # 40 chats that just wrote: replies, no global cap
        flood.inbound(chat, now=now)
        assert flood.retry_after(chat, private=True, now=now) is None
    # one private chat: a burst of 3 (a message and two edits), then about one a second
    assert flood.retry_after(100, private=True, now=now, edit=True) is None
    assert flood.retry_after(100, private=True, now=now, edit=True) is None
    assert flood.retry_after(100, private=True, now=now) == 1
    assert flood.retry_after(100, private=True, now=now + 1.0) is None
    # a group: 20 a minute, edits included
    results = [flood.retry_after(-5, private=False, now=now + i, edit=i % 2 == 0) for i in range(21)]
    assert results[:20] == [None] * 20 and results[20] is not None
    assert flood.retry_after(-5, private=False, now=now + 60.5) is None
    assert "answerCallbackQuery" not in FLOOD_COUNTED and "editMessageText" in FLOOD_COUNTED


def test_a_large_fan_out_is_spread_evenly_over_the_window_and_a_small_one_is_not() -> None:
    now = datetime(2027, 6, 7, 8, 0, tzinfo=UTC)
    window = timedelta(minutes=10)
    small = [(n, now) for n in range(1, spread.SPREAD_ABOVE + 1)]
    assert spread.due_now(small, now, window) == [n for n, _ in small]
    large = [(n, now) for n in range(1, 2001)]
    counts = [len(spread.due_now(large, now + timedelta(minutes=m), window)) for m in (0, 2, 5, 8, 10)]
    assert counts[0] <= 5 and counts[-1] == 2000
    for minutes, count in zip((2, 5, 8), counts[1:4]):
        assert abs(count - 2000 * minutes / 10) < 100  # evenly spread, not all in the first minute
    assert spread.due_now(large, now, timedelta(0)) == [n for n, _ in large]  # 0: no spreading


async def test_the_dispatcher_spreads_a_fan_out_of_due_questionnaires(tmp_path: Path) -> None:
    bench = Bench(tmp_path, BOT_FANOUT_SPREAD_MINUTES="10")
    await bench.start()
    try:
        services = bench.services
        assert services is not None
        now = bench.clock.now()
        count = spread.SPREAD_ABOVE + 50
        async with services.store.transaction() as tx:
            for n in range(count):
                user = 91_000 + n
                bench.standin.add_private_chat(user)
                pid = await patients.create_patient(
                    tx,
                    study_id=f"S-{n:03d}",
                    site_code="main",
                    arm="standard",
                    rt_start=date(2027, 3, 3),
                    fractions=1,
                    now=now,
                )
                await patients.link_telegram(tx, patient_id=pid, telegram_user_id=user, chat_id=user, now=now)
                await patients.set_status(tx, pid, "active", now)
                await instances.create_instance(
                    tx,
                    patient_id=pid,
                    questionnaire_id="weekly",
                    questionnaire_version="1.0",
                    timepoint="W1",
                    study_day=None,
                    is_primary=False,
                    opens_at=now,
                    closes_at=now + timedelta(days=1),
                )
            await tx.commit()
        first = await bench.tick()
        assert len(first.sent) < count / 5  # not all at once
        bench.clock.advance(timedelta(minutes=10))
        second = await bench.tick()
        assert len(first.sent) + len(second.sent) == count  # and every one by the end of the window
    finally:
        await bench.stop()


async def test_a_reply_does_not_wait_behind_a_bulk_fan_out_in_progress(tmp_path: Path) -> None:
    """Issue #18: while 120 scheduled messages go out at 30/s (4 s), a patient who writes is answered at once."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        bot = bench.app.bot
        crowd = [93_000 + n for n in range(120)]
        for chat in crowd:
            bench.standin.add_private_chat(chat)
        writer = 93_999
        bench.standin.add_private_chat(writer)

        async def fan_out() -> None:
            with sending_as(Lane.BULK):
                await asyncio.gather(*(bot.send_message(chat, "Questionnaire") for chat in crowd))

        task = asyncio.create_task(fan_out())
        await asyncio.sleep(1.0)  # the bulk window is full and a queue waits
        asked = time.monotonic()
        bench.standin.send_text(writer, writer, "Bonjour")
        await bench.standin.wait_for(lambda: bool(bench.standin.sent_messages(writer)), timeout=10)
        waited = time.monotonic() - asked
        assert not task.done()  # the fan-out was still under way
        await task
        assert waited < 1.0  # ≈ 0.02 s on an idle machine; behind the bulk queue it would be ≈ 3 s
        assert bench.standin.stats.rate_limited == 0
    finally:
        await bench.stop()


async def test_a_tidy_edit_waits_in_the_queue_for_an_untouched_budget_and_replies_overtake_it() -> None:
    """Issue #18: a cosmetic edit keeps the chat's burst for the replies — it goes only once nothing is counted in
    the window — and it waits queued (woken by the window, not polling), so thousands can wait at no cost."""
    window = Window(3, 0.3)
    order: list[str] = []
    async with window.slot(int(Lane.REPLY)):
        pass  # one reply just went: the budget is touched for 0.3 s
    started = time.monotonic()

    async def request(name: str, lane: Lane, keep: int = 0) -> None:
        async with window.slot(int(lane), keep=keep):
            order.append(name)

    tidy = asyncio.create_task(request("tidy", Lane.TIDY, keep=window.limit - 1))
    await asyncio.sleep(0.05)
    assert order == []  # two slots are free, but a tidy edit leaves them to the replies
    await request("reply", Lane.REPLY)  # a reply does not wait behind it
    assert order == ["reply"]
    await tidy
    assert order == ["reply", "tidy"]
    assert time.monotonic() - started >= 0.3  # after the reply's count expired, not before
    # many waiting at once cost nothing while they wait: no task wakes until its window frees
    windows = [Window(3, 0.2) for _ in range(500)]
    for w in windows:
        async with w.slot():
            pass
    waiting = [asyncio.create_task(_tidy(w)) for w in windows for _ in range(4)]
    cpu = time.thread_time()  # the event loop's thread only: other tests' leftover threads are not this code's
    await asyncio.gather(*waiting)
    # a gross-regression guard (2,000 waiters, ~0.2-0.6 s of the loop's CPU on a 2-core machine): a busy-polling
    # wait would spin for the whole ~0.8 s the last waiters wait, on every one of them
    assert time.thread_time() - cpu < 2.0


async def _tidy(window: Window) -> None:
    async with window.slot(int(Lane.TIDY), keep=window.limit - 1):
        pass


async def test_a_chat_wrote_when_its_update_arrived_not_when_a_handler_got_to_it(tmp_path: Path) -> None:
    """Issue #18 (1,000 patients at once): with a backlog, a handler may reach an update long after it arrived;
    Telegram counts "the chat just wrote" from the message, so the pacer does too — from the update's arrival."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        limiter = bench.app.bot.rate_limiter
        writers = [94_000 + n for n in range(24)]  # more than the 16 updates handled at a time
        for chat in writers:
            bench.standin.add_private_chat(chat)
        bench.standin.set_delay(0.5)  # every reply takes 0.5 s: the last updates wait for a free handler
        for chat in writers:
            bench.standin.send_text(chat, chat, "Bonjour")
        last = writers[-1]
        await bench.standin.wait_for(lambda: last in limiter._heard, timeout=20)  # type: ignore[union-attr]
        arrived = limiter._heard[last]  # type: ignore[union-attr]
        assert bench.standin.requests("sendMessage", last) == []  # noted before any handler replied to it
        await bench.standin.wait_for(lambda: bool(bench.standin.requests("sendMessage", last)), timeout=20)
        assert time.monotonic() - arrived >= 0.4  # its update waited for a free handler after it was noted
        await bench.settle(timeout=30)
        assert len(bench.standin.requests("sendMessage", last)) == 1
        assert limiter._heard[last] == arrived  # type: ignore[union-attr]  # handling it did not move it
    finally:
        bench.standin.set_delay(0.0)
        await bench.stop()


async def test_a_patient_tapping_every_one_to_two_seconds_is_never_held_by_the_chat_budget() -> None:
    """Issue 38: the pacer holds a reply only when Telegram could refuse it. Telegram's rule for a chat (Bots FAQ:
    "avoid sending more than one message per second", "short bursts" allowed) is a bucket of 3 refilled at 1/s;
    a patient who taps at most once a second gets at most one message a second back, so whatever the handler's
    and the request's latency, no reply — next question or ticked choice — waits for the chat's budget, even with
    a cosmetic edit slipped in whenever the budget is untouched. (The 3-per-3-s window used before held a patient
    tapping every second exactly as soon as one reply was slower than the next.)"""
    now = [0.0]
    pacing = TelegramPacing(clock=lambda: now[0])
    chat = 4_242
    pacing.heard_from(chat)
    rng = random.Random(38)
    sent: list[tuple[str, float]] = []

    def request(method: str) -> Callable[[], Coroutine[Any, Any, dict[str, Any]]]:
        async def call() -> dict[str, Any]:
            sent.append((method, now[0]))
            now[0] += rng.uniform(0.005, 0.25)  # the request's round trip
            return {}

        return call

    async def send(method: str, lane: Lane) -> None:
        with sending_as(lane):
            call = request(method)
            await asyncio.wait_for(pacing.process_request(call, (), {}, method, {"chat_id": chat}, None), 1.0)

    gaps = [1.0] * 40 + [rng.uniform(1.0, 2.0) for _ in range(200)]  # every second exactly, then at random
    tidy_edits = 0
    for k, gap in enumerate(gaps):
        now[0] += gap  # the patient reads, then taps
        if pacing._chat(chat).free(keep=PRIVATE_BURST - 1):  # the tidy lane's turn: the budget is untouched
            await send("editMessageText", Lane.TIDY)
            tidy_edits += 1
        now[0] += rng.uniform(0.002, 0.3) if k % 7 else 0.3  # the handler stores the answer
        await send("editMessageReplyMarkup" if k % 5 == 0 else "sendMessage", Lane.REPLY)
    assert pacing.waited_for_chat[Lane.REPLY] == 0
    assert sum(1 for method, _ in sent if method != "editMessageText") == len(gaps)
    assert tidy_edits > 0  # the cosmetic edits still find room between the patient's taps


async def test_the_chat_bucket_never_sends_what_telegrams_bucket_would_refuse() -> None:
    """The other side of issue 38: the bucket counted from completions never lets through a message that the
    stand-in's reading of Telegram's rule (`FloodControl`, counted on arrival) refuses, whatever the latency."""
    rate = 20.0  # the same shape as 1/s, twenty times faster, so the test takes a second
    bucket = TokenBucket(PRIVATE_BURST, rate)
    flood = FloodControl(FloodLimits(private_per_second=rate, private_burst=PRIVATE_BURST))
    rng = random.Random(3)
    refused: list[float] = []
    starts: list[float] = []

    async def request() -> None:
        async with bucket.slot():
            starts.append(time.monotonic())
            await asyncio.sleep(rng.uniform(0.0, 0.02))  # reaches Telegram somewhere in its round trip
            if flood.retry_after(1, private=True, now=time.monotonic(), edit=True) is not None:
                refused.append(time.monotonic())
            await asyncio.sleep(rng.uniform(0.0, 0.02))

    began = time.monotonic()
    await asyncio.gather(*(request() for _ in range(23)))
    assert refused == []
    assert sorted(starts)[PRIVATE_BURST - 1] - began < 0.05  # the burst went at once
    assert time.monotonic() - began < (23 - PRIVATE_BURST) / rate * 2.5  # then about `rate` a second
