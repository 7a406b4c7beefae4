"""Issue 21 item 3: updates fetched but not handled survive a crash. The real bot process is SIGKILLed while it
works through a backlog of 300 queued updates, restarted, killed again, restarted: every update is handled exactly
once (its effect stored once), and none is lost.

Before the inbox, PTB confirmed each getUpdates offset before the handlers ran and the update-id guard marked an
update processed before handling it: a kill in a 300-message backlog left 262/305 updates never handled.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from crash_driver import (
    BotProcess,
    clock_offset_to,
    enrol_under_fire,
    keyboard_data,
    last_keyboard,
    read_db,
    shifted_today,
    wait_until,
)
from harness import CLINICIAN_CHAT, CLINICIANS, TOKEN
from test_crash_safety import bot_environment

from bot.standin import StandIn

pytestmark = pytest.mark.slow

PATIENTS = 5
STRANGERS = 295  # + one tap per patient = 300 queued updates
STRANGER_BASE = 880_000


async def _join(standin: StandIn, user: int, code: str) -> str:
    """/start, consent, morning: return the callback data of the first question's "3" button."""
    standin.add_private_chat(user, first_name="Patient")
    standin.send_text(user, user, f"/start {code}")
    for data in ("consent", "pref:matin"):
        await standin.wait_for(lambda: data in _data(standin, user), timeout=15)
        standin.press_button(user, user, standin.last_message(user).message_id, data)
    await standin.wait_for(lambda: any(d.startswith("q:") for d in _data(standin, user)), timeout=15)
    return next(d for d in _data(standin, user) if d.startswith("q:") and d.endswith(":3"))


def _data(standin: StandIn, chat_id: int) -> list[str]:
    message = last_keyboard(standin, chat_id)
    return keyboard_data(message) if message else []


def _refused(database: Path) -> Counter[str]:
    return Counter(
        actor for (actor,) in read_db(database, "SELECT actor FROM audit_log WHERE action = 'start_refused'")
    )


async def test_a_kill_during_a_300_update_backlog_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    offset = clock_offset_to((10, 0))
    database = tmp_path / "bot.sqlite3"
    standin = StandIn(TOKEN, clock=lambda: time.time() + offset)
    await standin.start()
    standin.add_group(CLINICIAN_CHAT, "Équipe soignante", type="supergroup")
    process = BotProcess(standin, tmp_path, bot_environment(standin, database, offset))
    taps: dict[int, str] = {}
    try:
        await process.spawn()
        await process.wait_polling()
        deadline = time.monotonic() + 60
        for k in range(PATIENTS):
            code = await enrol_under_fire(
                standin,
                process.up,
                group=CLINICIAN_CHAT,
                clinician=CLINICIANS[0],
                study_id=f"P-IN{k}",
                rt_start=shifted_today(offset) + timedelta(days=3),
                deadline=deadline,
            )
            taps[7200 + k] = await _join(standin, 7200 + k, code)
        await process.kill()
        # The backlog, queued while the bot is down: 295 strangers' /start with a wrong code, 5 patients' answers.
        injected_before = standin.injected
        for n in range(STRANGERS):
            user = STRANGER_BASE + n
            standin.add_private_chat(user, first_name="Inconnu")
            standin.send_text(user, user, f"/start faux{n}")
            if n % 60 == 30:
                user_id = 7200 + n // 60
                standin.press_button(user_id, user_id, last_keyboard(standin, user_id).message_id, taps[user_id])
        assert standin.injected - injected_before == 300
        started = time.monotonic()
        # Kill twice while the backlog is being handled, at different depths, then let it finish.
        for depth in (20, 140):
            await process.spawn()
            await wait_until(
                lambda: sum(_refused(database).values()) >= depth,
                timeout=60,
                what=f"{depth} updates of the backlog handled",
            )
            await process.kill()
        await process.spawn()
        await wait_until(
            lambda: (
                len(_refused(database)) == STRANGERS
                and read_db(database, "SELECT COUNT(*) FROM inbox")[0][0] == 0
                and standin.pending_updates == 0
            ),
            timeout=90,
            what="the whole backlog handled",
        )
        drained = time.monotonic() - started
        await process.kill()
    except BaseException:
        print("\n".join(process.errors()[-30:]))
        print(process.tail())
        raise
    finally:
        if process.process is not None:
            await process.kill()
        await standin.stop()

    refused = _refused(database)
    # Every stranger's /start handled exactly once: one audited refusal each, none lost, none twice.
    assert sorted(refused.values()) == [1] * STRANGERS, [a for a, n in refused.items() if n != 1]
    # Every patient's answer stored exactly once, with the value tapped.
    answers = read_db(
        database,
        "SELECT l.telegram_user_id, a.item_id, a.value FROM answers a"
        " JOIN instances i ON i.id = a.instance_id"
        " JOIN telegram_links l ON l.patient_id = i.patient_id",
    )
    assert sorted((user, json.loads(value)) for user, _item, value in answers) == [(u, 3) for u in sorted(taps)]
    # Nothing left behind, and every stranger got the refusal at least once.
    assert read_db(database, "SELECT COUNT(*) FROM inbox") == [(0,)]
    replies = Counter(len(standin.sent_messages(STRANGER_BASE + n)) for n in range(STRANGERS))
    assert 0 not in replies, replies
    print(f"\nbacklog of 300 drained in {drained:.1f} s through 2 kills; strangers' replies: {dict(replies)}")
