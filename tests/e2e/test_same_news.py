"""Issue 33: the same news never alerts twice — folded, kept, shown in the digest and /patient; a new episode, a
worse pain or a different finding alerts; urgent rules are never folded. And the call list recovers a missing
baseline (without it the day-30 response cannot be computed).

End to end through the real bot and the Bot API stand-in (tests/harness.py), as in test_safety.py.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from harness import Bench, Patient, answer_all, current_prompt
from test_day30 import nurse_answers_everything

from bot.domain import news

RT = datetime(2027, 3, 3).date()


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def alerted(bench: Bench) -> list[str]:
    return [r for (r,) in rows(bench, "SELECT rule_id FROM alerts WHERE severity != 'info' ORDER BY id")]


def kept(bench: Bench) -> list[tuple[str, str]]:
    return rows(bench, "SELECT rule_id, reason FROM suppressed_alerts ORDER BY id")


async def diary(bench: Bench, patient: Patient, answers: dict[str, object]) -> None:
    await bench.clinician_says(f"/send {patient.study_id} daily")
    await answer_all(bench, patient, answers)
    bench.clock.advance(timedelta(hours=1))


# ------------------------------------------------------------------------------------ the policy, pure


def test_the_policy_folds_the_same_news_and_lets_news_through() -> None:
    pain = news.family_of("pain_uncontrolled")
    night = news.family_of("spinal_pain_night")
    assert pain is not None and night is not None and news.family_of("rf_weakness") is None
    assert news.family_of("pain_severe") is pain  # one news, several rules
    now = datetime(2027, 3, 10, 9, tzinfo=UTC)
    told = news.Told(at=now - timedelta(days=1), alert_id=1, pain=9)

    def decide(family: news.Family, **kw: object) -> str:
        args: dict[str, object] = {"baseline": False, "told": told, "episode_ended": False, "pain_now": 9, "now": now}
        args.update(kw)
        return news.decide(family, **args)  # type: ignore[arg-type]

    assert decide(night, baseline=True, told=None) == "inclusion"
    assert decide(pain, told=None) == "news"  # never told
    assert decide(pain) == "known"  # the same pain, the same episode
    assert decide(pain, pain_now=8) == "known"  # better is not news
    assert decide(pain, pain_now=10) == "news"  # worse
    assert decide(pain, episode_ended=True) == "news"  # a new episode
    assert decide(pain, told=news.Told(at=now - timedelta(days=7), alert_id=1, pain=9)) == "news"  # a week on
    assert decide(night, told=news.Told(at=now - timedelta(days=30), alert_id=None, pain=5)) == "known"


# ------------------------------------------------------------------------------------ end to end


async def test_night_pain_known_at_inclusion_is_folded_until_it_goes_and_comes_back(bench: Bench) -> None:
    patient = await bench.join(3301, "P-N1", RT)
    await answer_all(bench, patient, {"pain_worst": 6, "sp_night_pain": "yes", "sp_straining": "no"})
    assert alerted(bench) == [] and kept(bench) == [("spinal_pain_night", "inclusion")]
    await diary(bench, patient, {"pain_worst": 6, "sp_night_pain": "yes", "sp_straining": "no"})
    await diary(bench, patient, {"pain_worst": 6, "sp_night_pain": "yes", "sp_straining": "no"})
    assert alerted(bench) == []
    assert kept(bench)[1:] == [("spinal_pain_night", "known")] * 2
    # A different finding is news at once: straining pain, never reported before.
    await diary(bench, patient, {"pain_worst": 6, "sp_night_pain": "yes", "sp_straining": "yes"})
    assert alerted(bench) == ["spinal_pain_straining"]
    # Night pain gone in a completed diary: the episode is over, and back again it is news.
    await diary(bench, patient, {"pain_worst": 5, "sp_night_pain": "no", "sp_straining": "no"})
    await diary(bench, patient, {"pain_worst": 5, "sp_night_pain": "yes", "sp_straining": "no"})
    assert alerted(bench) == ["spinal_pain_straining", "spinal_pain_night"]


async def test_uncontrolled_pain_after_a_severe_pain_alert_is_the_same_news_and_worse_pain_alerts(
    bench: Bench,
) -> None:
    patient = await bench.join(3302, "P-N2", RT)
    await answer_all(bench, patient, {"pain_worst": 6})
    await diary(bench, patient, {"pain_worst": 9, "pain_uncontrolled": "no"})
    assert alerted(bench) == ["pain_severe"]
    (first,) = [a for (a,) in rows(bench, "SELECT id FROM alerts WHERE rule_id = 'pain_severe'")]
    await diary(bench, patient, {"pain_worst": 9, "pain_uncontrolled": "yes"})  # the same news in other words
    assert alerted(bench) == ["pain_severe"]
    assert rows(bench, "SELECT rule_id, reason, previous_alert_id FROM suppressed_alerts ORDER BY id")[-1] == (
        "pain_uncontrolled",
        "known",
        first,
    )
    await diary(bench, patient, {"pain_worst": 10, "pain_uncontrolled": "yes"})  # worse: news
    assert alerted(bench) == ["pain_severe", "pain_uncontrolled"]

    # The morning digest lists what was folded; /patient shows it too.
    await bench.advance(timedelta(days=1), step=timedelta(hours=1))
    digest = "\n".join(m.text or "" for m in bench.group_messages() if (m.text or "").startswith("Résumé"))
    # Both rules were folded once each (the uncontrolled pain on the 9/10 alert, the 10/10 on the uncontrolled one).
    assert "Déjà connu, toujours signalé (pas de nouvelle alerte) : 2" in digest
    assert "P-N2 — Douleur non calmée malgré le traitement" in digest and "équipe déjà alertée" in digest
    await bench.clinician_says("/patient P-N2")
    shown = [m.caption or m.text or "" for m in bench.group_messages()[-2:]]
    assert any("Déjà connu, sans nouvelle alerte" in text for text in shown)


async def test_red_flags_are_never_folded(bench: Bench) -> None:
    patient = await bench.join(3303, "P-N3", RT)
    await answer_all(bench, patient, {"pain_worst": 6})
    await diary(bench, patient, {"pain_worst": 6, "rf_weakness": "yes"})
    await diary(bench, patient, {"pain_worst": 6, "rf_weakness": "yes"})
    assert alerted(bench) == ["rf_weakness", "rf_weakness"]


async def test_a_missing_baseline_is_on_the_call_list_and_the_nurse_enters_it_by_phone(bench: Bench) -> None:
    patient = await bench.join(3304, "P-N4", RT)  # Monday 10:00: the baseline is sent, never answered
    assert (await current_prompt(bench, patient)).instance.timepoint == "baseline"
    await bench.clinician_says("/appels")
    assert "P-N4" not in (bench.group_messages()[-1].text or "")  # before the patient's own reminder (+4 h)
    await bench.advance(timedelta(hours=5), step=timedelta(hours=1))
    await bench.clinician_says("/appels")
    listing = bench.group_messages()[-1].text or ""
    assert "Liste d'appels" in listing and "/saisie P-N4" in listing
    ((baseline,),) = rows(bench, "SELECT id FROM instances WHERE timepoint = 'baseline'")
    await bench.clinician_says("/saisie P-N4")
    assert "Saisie par téléphone" in (bench.group_messages()[-1].text or "")
    asked = await nurse_answers_everything(bench, baseline)
    assert asked and rows(bench, "SELECT status FROM instances WHERE id = ?", baseline) == [("completed",)]
    assert rows(bench, "SELECT DISTINCT source FROM answers WHERE instance_id = ?", baseline) == [("phone",)]
    await bench.clinician_says("/appels")
    assert "P-N4" not in (bench.group_messages()[-1].text or "")


async def test_the_baseline_second_part_which_asks_no_night_pain_does_not_end_the_known_episode(bench: Bench) -> None:
    """Issue 35 x issue 33: part 2 of the baseline asks no night pain, so it cannot say the pain went away; the
    200-patient simulation of 2026-12-08 found every night-pain patient re-alerted in the first diary after it."""
    patient = await bench.join(3305, "P-N5", RT)
    await answer_all(bench, patient, {"pain_worst": 6, "sp_night_pain": "yes", "sp_straining": "no"})
    bench.clock.advance(timedelta(hours=1))
    await bench.clinician_says(f"/send {patient.study_id} baseline_more")
    await answer_all(bench, patient, {})
    assert rows(
        bench, "SELECT COUNT(*) FROM instances WHERE questionnaire_id = 'baseline_more' AND status = 'completed'"
    ) == [(1,)]
    bench.clock.advance(timedelta(hours=1))
    await diary(bench, patient, {"pain_worst": 6, "sp_night_pain": "yes", "sp_straining": "no"})
    assert alerted(bench) == []
    assert kept(bench) == [("spinal_pain_night", "inclusion"), ("spinal_pain_night", "known")]
