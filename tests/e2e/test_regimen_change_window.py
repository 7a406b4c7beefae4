"""Issue 32, item 4: opioid toxicity (`opioid_signs`) is asked without the gate in the 7 days after a change of pain
treatment, not only in the questionnaire that reports it (context item `regimen_changed_recently`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

from harness import Bench, Patient, answer_all, current_prompt, default_answer, give

from bot.domain.regimen_change import RECENT_CHANGE_DAYS, changed_recently

RT = date(2027, 6, 1)  # far enough: no scheduled questionnaire in the way


def fired(bench: Bench) -> list[tuple[str, str]]:
    return (
        sqlite3.connect(bench.database)
        .execute("SELECT rule_id, severity FROM alerts WHERE severity != 'info' ORDER BY id")
        .fetchall()
    )


async def send(
    bench: Bench, patient: Patient, questionnaire: str, answers: dict[str, object] | None = None
) -> list[str]:
    await bench.clinician_says(f"/send {patient.study_id} {questionnaire}")
    while (prompt := await current_prompt(bench, patient)) is not None and prompt.questionnaire.id == "baseline_more":
        await give(bench, patient, default_answer(prompt.item))  # issue 35: the baseline's second part, due first
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and prompt.questionnaire.id == questionnaire
    asked = await answer_all(bench, patient, answers)
    await bench.tick()
    return asked


async def test_a_change_three_days_ago_still_asks_opioid_toxicity_and_eight_days_ago_does_not(bench: Bench) -> None:
    patient = await bench.join(3240, "P-RC1", RT)
    await answer_all(bench, patient)
    asked = await send(bench, patient, "daily", {"analgesic_same": "no"})  # day 1: the treatment changed
    assert "opioid_signs" in asked
    bench.clock.advance(timedelta(days=2))
    asked = await send(
        bench, patient, "daily", {"analgesic_same": "yes", "rescue_doses_24h": 0, "opioid_signs": "yes"}
    )  # day 3: "same as last time"
    assert "opioid_signs" in asked
    assert asked.index("opioid_signs") < asked.index("new_problem_any")
    assert fired(bench) == [("opioid_toxicity", "urgent")]
    prompt_text = [t for t in bench.texts(3240) if "a changé ces derniers jours" in t]
    assert prompt_text, "the question says the treatment changed in the last days"
    bench.clock.advance(timedelta(days=6))
    asked = await send(bench, patient, "daily", {"analgesic_same": "yes", "rescue_doses_24h": 0})  # day 9
    assert "opioid_signs" not in asked
    assert "new_problem_any" in asked  # the gated questions still ask


async def test_without_a_recent_change_same_as_last_time_does_not_ask(bench: Bench) -> None:
    patient = await bench.join(3241, "P-RC2", RT)
    await answer_all(bench, patient)
    bench.clock.advance(timedelta(days=8))  # the baseline is not a change, and it is long ago
    asked = await send(bench, patient, "daily", {"analgesic_same": "yes", "rescue_doses_24h": 0})
    assert "opioid_signs" not in asked


async def test_the_weekly_check_asks_after_a_change_reported_in_the_diary(bench: Bench) -> None:
    patient = await bench.join(3242, "P-RC3", RT)
    await answer_all(bench, patient)
    await send(bench, patient, "daily", {"analgesic_same": "no"})
    bench.clock.advance(timedelta(days=5))
    asked = await send(
        bench, patient, "weekly", {"analgesic_same": "yes", "rescue_doses_24h": 0, "opioid_signs": "yes"}
    )
    assert "opioid_signs" in asked
    assert fired(bench) == [("opioid_toxicity", "urgent")]
    bench.clock.advance(timedelta(days=7))  # 12 days after the change; the weekly check 5 days ago said "same"
    asked = await send(bench, patient, "weekly", {"analgesic_same": "yes", "rescue_doses_24h": 0})
    assert "opioid_signs" not in asked


async def test_a_regimen_the_team_recorded_counts_for_seven_days(bench: Bench) -> None:
    patient = await bench.join(3243, "P-RC4", RT)
    await answer_all(bench, patient)
    await bench.clinician_says("/traitement P-RC4 morphinesc 30 raison: pompe posée en HDJ")
    asked = await send(bench, patient, "daily", {"team_regimen_ok": "yes", "rescue_doses_24h": 0})
    assert "team_regimen_ok" in asked and "opioid_signs" in asked
    bench.clock.advance(timedelta(days=2))
    asked = await send(bench, patient, "daily", {"analgesic_same": "yes", "rescue_doses_24h": 0})
    assert "analgesic_same" in asked and "opioid_signs" in asked
    bench.clock.advance(timedelta(days=7))
    asked = await send(bench, patient, "daily", {"analgesic_same": "yes", "rescue_doses_24h": 0})
    assert "opioid_signs" not in asked


def test_the_window_counts_seven_days_before_the_questionnaire() -> None:
    assert RECENT_CHANGE_DAYS == 7
    sent = datetime(2027, 3, 10, 8, tzinfo=UTC)
    changed = {"analgesic_same": "no"}
    assert changed_recently(sent, [(sent - timedelta(days=7), changed)], [])
    assert not changed_recently(sent, [(sent - timedelta(days=7, seconds=1), changed)], [])
    assert not changed_recently(sent, [(sent - timedelta(days=1), {"analgesic_same": "yes"})], [])
    assert changed_recently(sent, [(sent - timedelta(days=1), {"team_regimen_ok": "no"})], [])
    assert changed_recently(sent, [], [sent - timedelta(days=3)])
    assert not changed_recently(sent, [], [sent - timedelta(days=8)])
    assert not changed_recently(sent, [(sent, changed)], [sent])  # later than the questionnaire: the next one's
