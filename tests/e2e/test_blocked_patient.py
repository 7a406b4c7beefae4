"""Issue 21 item 8: a patient who blocks the bot is marked unreachable, the team is told once ("P-xxx a bloqué le
bot : à appeler"), nothing more is sent to them; when they write again the follow-up resumes. All audited."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from harness import Bench, Patient, answer_all

RT = date(2027, 3, 3)
BLOCKED = "a bloqué le bot : à appeler"


def _status(bench: Bench, study_id: str) -> str:
    return (
        sqlite3.connect(bench.database)
        .execute("SELECT status FROM patients WHERE study_id = ?", (study_id,))
        .fetchone()[0]
    )


def _team_told(bench: Bench, study_id: str) -> int:
    """Alert messages (the morning digest also lists the open alert: not counted)."""
    return sum(
        1
        for m in bench.group_messages()
        if (m.text or "").startswith("🟠") and f"{study_id} {BLOCKED}" in (m.text or "")
    )


def _audit(bench: Bench) -> list[str]:
    return [
        r[0]
        for r in sqlite3.connect(bench.database).execute(
            "SELECT action FROM audit_log WHERE action IN ('unreachable', 'reachable_again') ORDER BY id"
        )
    ]


def _sends_to(bench: Bench, chat_id: int) -> int:
    return len(bench.standin.requests("sendMessage", chat_id))


async def _joined_and_done(bench: Bench, user_id: int, study_id: str) -> Patient:
    patient = await bench.join(user_id, study_id, RT)
    await answer_all(bench, patient)  # the baseline: the next questionnaire is the diary, from day 0 (RT)
    return patient


async def test_a_403_on_a_scheduled_send_marks_the_patient_tells_the_team_once_and_stops_sending(
    bench: Bench,
) -> None:
    patient = await _joined_and_done(bench, 5001, "P-BL1")
    bench.standin.block_chat(patient.chat_id, notify=False)  # no my_chat_member: only the 403 tells
    await bench.advance(timedelta(days=3))
    assert _status(bench, "P-BL1") == "unreachable"
    assert _team_told(bench, "P-BL1") == 1
    tried = _sends_to(bench, patient.chat_id)
    await bench.advance(timedelta(days=3))
    assert _sends_to(bench, patient.chat_id) == tried, "the bot kept writing to a patient who blocked it"
    assert _team_told(bench, "P-BL1") == 1
    # The patient unblocks and writes: back to active, the diary resumes.
    bench.standin.unblock_chat(patient.chat_id, notify=False)
    await bench.patient_says(patient, "bonjour")
    assert _status(bench, "P-BL1") == "active"
    await bench.advance(timedelta(days=1))
    assert _sends_to(bench, patient.chat_id) > tried + 1
    assert _audit(bench) == ["unreachable", "reachable_again"]


async def test_the_blocked_update_marks_at_once_and_a_repeat_does_not_tell_the_team_twice(bench: Bench) -> None:
    patient = await _joined_and_done(bench, 5002, "P-BL2")
    bench.standin.block_chat(patient.chat_id)  # Telegram's my_chat_member: member → kicked
    await bench.settle()
    await bench.tick()
    assert _status(bench, "P-BL2") == "unreachable"
    assert _team_told(bench, "P-BL2") == 1
    await bench.advance(timedelta(days=2))  # the sends skip them: no 403, no second alert
    assert _team_told(bench, "P-BL2") == 1
    bench.standin.unblock_chat(patient.chat_id)  # member again: the follow-up resumes
    await bench.settle()
    assert _status(bench, "P-BL2") == "active"
    assert _audit(bench) == ["unreachable", "reachable_again"]


async def test_a_paused_patient_who_blocks_and_comes_back_is_paused_again(bench: Bench) -> None:
    patient = await _joined_and_done(bench, 5003, "P-BL3")
    await bench.clinician_says("/pause P-BL3")
    bench.standin.block_chat(patient.chat_id)
    await bench.settle()
    assert _status(bench, "P-BL3") == "unreachable"
    bench.standin.unblock_chat(patient.chat_id, notify=False)
    await bench.patient_says(patient, "/aide")
    assert _status(bench, "P-BL3") == "paused"
