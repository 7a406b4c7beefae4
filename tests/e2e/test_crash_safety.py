"""Crash safety (issue #7): the real bot process is SIGKILLed at random moments while patients use it.

The bot runs as `python -m bot run` (a child process) against the Bot API stand-in; clinicians enrol patients,
patients join and answer the baseline, some answer "yes" to a red flag, and the process is killed more than twenty
times (seeded) and restarted on the same database. Afterwards every promise of the storage design must hold:
an acknowledged answer is stored exactly once, the file is intact, no questionnaire went out twice, everybody could
finish, and every alert reached the clinicians' group. See tests/crash_driver.py for the rig.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pg_support
import pytest
from crash_driver import (
    CLOCK_OFFSET_ENV,
    BotProcess,
    Player,
    acknowledged_answer_presses,
    alert_messages,
    clock_offset_to,
    decode,
    enrol_under_fire,
    expected_value,
    instance_of,
    keyboard_data,
    kill_at_random_moments,
    last_keyboard,
    original_text,
    read_db,
    shifted_today,
    wait_until,
)
from harness import CLINICIAN_CHAT, CLINICIANS, TOKEN

from bot.bootstrap import QUESTIONNAIRES_DIR
from bot.domain.questionnaire import load_questionnaires
from bot.standin import StandIn

pytestmark = pytest.mark.slow

SEED = 20270301
KILLS = 22
PATIENTS = 6
RED_FLAGS = ("rf_weakness", "rf_numbness", "rf_bladder_bowel", "rf_radicular_new")
#: Whole-test budget; the players give up a little earlier so a failure says who was stuck. The bot paces each
#: private chat to Telegram's ~1 message a second (issue #18), so a player tapping within 0.12 s of each question
#: spends ≥ 35 s on pacing alone for enrolment and the 31-question baseline, plus the time the bot is down between
#: kills: 75 s (enough before per-chat pacing) was reached on a loaded machine, 140 s seen with pacing on a loaded
#: machine, and 240 s was not enough once the baseline grew to 33 questions (issue 17) with another job on the
#: second core; the guard is there to catch a stall (a player making no progress), not a slow machine.
PLAY_BUDGET = 480.0


def bot_environment(standin: StandIn, database: Path, offset: float) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": standin.base_url,
        "BOT_DATABASE": pg_support.child_database(database),  # PostgreSQL pass: the same kills, on PostgreSQL
        "CLINICIAN_CHAT_ID": str(CLINICIAN_CHAT),
        "CLINICIAN_USER_IDS": ",".join(str(c) for c in CLINICIANS),
        "BOT_TICK_SECONDS": "0.5",
        CLOCK_OFFSET_ENV: repr(offset),
    }


async def test_sigkill_at_random_moments_loses_no_acknowledged_answer_and_no_alert(tmp_path: Path) -> None:
    started = time.monotonic()
    deadline = started + PLAY_BUDGET
    offset = clock_offset_to((10, 0))  # the bot believes it is 10:00 in Paris: never in quiet hours
    rt_start = shifted_today(offset) + timedelta(days=3)
    database = tmp_path / "bot.sqlite3"
    questionnaires = load_questionnaires(QUESTIONNAIRES_DIR)
    standin = StandIn(TOKEN, clock=lambda: time.time() + offset)
    await standin.start()
    standin.add_group(CLINICIAN_CHAT, "Équipe soignante", type="supergroup")
    process = BotProcess(standin, tmp_path, bot_environment(standin, database, offset))
    master = random.Random(SEED)
    red_flag_of = {k: master.choice(RED_FLAGS) if k % 2 == 0 else None for k in range(PATIENTS)}
    players: list[Player] = []

    async def patient(k: int) -> None:
        await asyncio.sleep(k * 0.3)
        code = await enrol_under_fire(
            standin,
            process.up,
            group=CLINICIAN_CHAT,
            clinician=CLINICIANS[k % 2],
            study_id=f"P-CR{k:02d}",
            rt_start=rt_start,
            deadline=deadline,
        )
        player = Player(
            user_id=7000 + k,
            code=code,
            red_flag=red_flag_of[k],
            rng=random.Random(SEED + k),
            questionnaires=questionnaires,
            database=database,
        )
        players.append(player)
        await player.play(standin, process.up, deadline=deadline)

    try:
        await process.spawn()
        killer = kill_at_random_moments(process, random.Random(SEED), kills=KILLS)
        await asyncio.gather(killer, *(patient(k) for k in range(PATIENTS)))
        await wait_until(
            lambda: not read_db(database, "SELECT id FROM alerts WHERE severity != 'info' AND delivered_at IS NULL"),
            timeout=max(5.0, deadline - time.monotonic()),
            what="every alert delivered",
        )
        await process.kill()  # the last one too: the checks below read what a killed bot left behind
    except BaseException:
        print("\n".join(process.errors()[-30:]))
        print(process.tail())
        raise
    finally:
        if process.process is not None:
            await process.kill()
        await standin.stop()

    assert process.kills >= 20
    connection = sqlite3.connect(database)

    # The file is intact (a SQLite file; PostgreSQL checks its own pages).
    if not pg_support.ENABLED:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    # Every answer the bot acknowledged is stored, exactly once, with the value tapped.
    user_ids = {p.user_id for p in players}
    acknowledged = acknowledged_answer_presses(standin, user_ids)
    # At least 7 taps each: the baseline before the first fraction is 8 to 20 taps since issue 35 (40 before).
    assert len(acknowledged) >= PATIENTS * 7, "the players did not really answer"
    problems = []
    for query_id, instance_id, index, code in acknowledged:
        (questionnaire_id,) = connection.execute(
            "SELECT questionnaire_id FROM instances WHERE id = ?", (instance_id,)
        ).fetchone()
        item = questionnaires[questionnaire_id].items[index]
        stored = [
            decode(v)
            for (v,) in connection.execute(
                "SELECT value FROM answers WHERE instance_id = ? AND item_id = ?", (instance_id, item.id)
            )
        ]
        wanted = expected_value(item, code)
        if len(stored) != 1 or (wanted is not None and stored[0] != wanted):
            problems.append((query_id, item.id, code, stored))
    assert problems == []
    # ... and nothing is stored twice, acknowledged or not (the players never correct an answer).
    duplicates = connection.execute(
        "SELECT instance_id, item_id, COUNT(*) FROM answers GROUP BY instance_id, item_id HAVING COUNT(*) > 1"
    ).fetchall()
    assert duplicates == []

    # No questionnaire was sent twice: one "Nouveau questionnaire" message per patient and instance at most.
    intros: Counter[tuple[int, int | None]] = Counter()
    for player in players:
        for message in standin.sent_messages(player.user_id):
            if "Nouveau questionnaire" in original_text(message):  # after the thanks when sent on joining
                intros[(player.user_id, instance_of(message))] += 1
    assert intros and max(intros.values()) == 1, intros

    # Every conversation resumed: each patient finished the baseline (the players return only then).
    completed = connection.execute(
        "SELECT COUNT(*) FROM instances i JOIN telegram_links l ON l.patient_id = i.patient_id"
        " WHERE i.timepoint = 'baseline' AND i.status = 'completed'"
    ).fetchone()[0]
    assert completed == PATIENTS

    # Every red flag answered "yes" raised its alert, and every alert reached the clinicians' group.
    flagged = {f"{p.red_flag}_inclusion" for p in players if p.red_flag}  # the baseline: found at inclusion
    raised = {rule for (rule,) in connection.execute("SELECT rule_id FROM alerts WHERE severity = 'urgent'")}
    assert flagged and flagged <= raised
    in_group = alert_messages(standin, CLINICIAN_CHAT)
    undelivered = [
        (alert_id, rule)
        for alert_id, rule, delivered in connection.execute(
            "SELECT id, rule_id, delivered_at FROM alerts WHERE severity != 'info'"
        )
        if delivered is None or in_group.get(alert_id, 0) < 1
    ]
    assert undelivered == []


async def test_a_kill_between_the_send_intent_and_the_send_leaves_the_questionnaire_answerable(
    tmp_path: Path,
) -> None:
    """The narrowest window of the send sequence, hit on purpose (the random test hits it only by chance)."""
    offset = clock_offset_to((10, 0))
    database = tmp_path / "bot.sqlite3"
    standin = StandIn(TOKEN, clock=lambda: time.time() + offset)
    await standin.start()
    standin.add_group(CLINICIAN_CHAT, "Équipe soignante", type="supergroup")
    process = BotProcess(standin, tmp_path, bot_environment(standin, database, offset))
    try:
        await process.spawn()
        await process.wait_polling()
        deadline = time.monotonic() + 30
        code = await enrol_under_fire(
            standin,
            process.up,
            group=CLINICIAN_CHAT,
            clinician=CLINICIANS[0],
            study_id="P-CR-SEND",
            rt_start=shifted_today(offset) + timedelta(days=3),
            deadline=deadline,
        )
        user = 7100
        standin.add_private_chat(user, first_name="Patient")
        standin.send_text(user, user, f"/start {code}")
        await standin.wait_for(lambda: "consent" in _data(standin, user), timeout=10)
        standin.press_button(user, user, standin.last_message(user).message_id, "consent")
        await standin.wait_for(lambda: "pref:matin" in _data(standin, user), timeout=10)
        # Every Telegram call now takes a second: the first question's send is held while the instance is
        # committed as 'sending', and the bot is killed right then.
        standin.set_delay(1.0)
        standin.press_button(user, user, standin.last_message(user).message_id, "pref:matin")
        await wait_until(
            lambda: read_db(database, "SELECT 1 FROM instances WHERE status = 'sending'") != [],
            timeout=15,
            what="the baseline committed as 'sending'",
        )
        await process.kill()
        standin.set_delay(0)
        await process.spawn()
        await process.wait_polling()
        await asyncio.sleep(1.5)  # a few ticks of the restarted bot
        standin.send_text(user, user, "/reprendre")
        await standin.wait_for(lambda: any(d.startswith("q:") for d in _data(standin, user)), timeout=5)
        question = last_keyboard(standin, user)
        assert question is not None
        standin.press_button(user, user, question.message_id, next(d for d in _data(standin, user) if d.endswith(":3")))
        await wait_until(
            lambda: read_db(database, "SELECT value FROM answers") == [("3",)],
            timeout=5,
            what="the first answer stored",
        )
    finally:
        if process.process is not None:
            await process.kill()
        await standin.stop()
    # Recovered at start-up (audited), and never sent twice.
    assert read_db(database, "SELECT COUNT(*) FROM audit_log WHERE action = 'send_recovered'") == [(1,)]
    intros = [m for m in standin.sent_messages(user) if original_text(m).startswith("Nouveau questionnaire")]
    assert len(intros) <= 1


def _data(standin: StandIn, chat_id: int) -> list[str]:
    message = last_keyboard(standin, chat_id)
    return keyboard_data(message) if message else []
