"""Outbound pacing within Telegram's limits (issue #4): a busy minute goes out without a single 429."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path

from bot.storage import instances, patients
from bot.telegram.pacing import SlidingWindow
from harness import Bench

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
                pid = await patients.create_patient(tx, study_id=f"F-{n:03d}", site_code="main", arm="standard",
                                                    rt_start=date(2027, 3, 3), fractions=1, now=now)
                await patients.link_telegram(tx, patient_id=pid, telegram_user_id=user, chat_id=user, now=now)
                await patients.set_status(tx, pid, "active", now)
                await instances.create_instance(
                    tx, patient_id=pid, questionnaire_id="weekly", questionnaire_version="1.0", timepoint="W1",
                    study_day=None, is_primary=False, opens_at=now, closes_at=now + timedelta(days=1),
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


async def test_only_new_messages_are_paced_edits_go_straight_through(tmp_path: Path) -> None:
    """Telegram's limits count messages sent: pacing edits too would halve how fast answers are acknowledged."""
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        assert bench.app is not None
        bot = bench.app.bot
        chats = [95_000 + n for n in range(90)]
        for chat in chats:
            bench.standin.add_private_chat(chat)
        started = time.monotonic()
        sent = await asyncio.gather(*(bot.send_message(chat, "Question") for chat in chats))
        sending = time.monotonic() - started
        started = time.monotonic()
        await asyncio.gather(*(bot.edit_message_text("Réponse : 3", chat_id=m.chat_id, message_id=m.message_id)
                               for m in sent))
        editing = time.monotonic() - started
        paced_at_least = (len(chats) - 30) / 30  # ≤ 30 in any second: 90 messages take more than 2 s
        assert sending >= paced_at_least
        assert editing < paced_at_least * 0.75  # the 90 edits waited for no slot (≈ 0.2 s on an idle machine)
        assert bench.standin.stats.rate_limited == 0
        edited = [r for r in bench.standin.requests("editMessageText") if r.status == 200]
        assert len(edited) == len(chats)
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
