"""Outbound pacing within Telegram's limits (issue #4): a busy minute goes out without a single 429."""

from __future__ import annotations

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
