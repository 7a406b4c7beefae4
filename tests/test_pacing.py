"""Outbound pacing within Telegram's limits (issue #4): a busy minute goes out without a single 429."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path

from bot.storage import instances, patients
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
        chats = [95_000 + n for n in range(40)]
        for chat in chats:
            bench.standin.add_private_chat(chat)
        started = time.monotonic()
        sent = await asyncio.gather(*(bot.send_message(chat, "Question") for chat in chats))
        sending = time.monotonic() - started
        started = time.monotonic()
        await asyncio.gather(*(bot.edit_message_text("Réponse : 3", chat_id=m.chat_id, message_id=m.message_id)
                               for m in sent))
        editing = time.monotonic() - started
        assert sending >= (len(chats) - 1) / 29 * 0.95  # one message every 1/29 s, no burst
        assert editing < sending / 4  # the 40 edits waited for no slot
        assert bench.standin.stats.rate_limited == 0
        edited = [r for r in bench.standin.requests("editMessageText") if r.status == 200]
        assert len(edited) == len(chats)
    finally:
        await bench.stop()
