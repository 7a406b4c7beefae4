"""The seeded cohort simulation of issue 16 (`python -m bot simulate`): its mix, and one short real run."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path

from bot.clock import parse_utc
from bot.config import load_settings
from bot.sandbox.cohort import (
    AFTER_FRACTION_JOIN,
    NIGHT_JOIN,
    RT_START,
    Clinical,
    CohortRun,
    Parameters,
    draw_cohort,
    is_quiet,
    load_parameters,
)
from bot.sandbox.world import SandboxWorld


def with_values(**values: float) -> Parameters:
    """The published scenario with some values replaced (a test that must not depend on a random draw)."""
    params = load_parameters()
    return replace(params, values={**params.values, **values})


def test_the_same_seed_draws_the_same_cohort_and_the_mix_is_the_one_documented() -> None:
    first, again, other = draw_cohort(50, 7), draw_cohort(50, 7), draw_cohort(50, 8)
    key = [(p.join_at, p.silence, p.withdraw_day, p.profile.pain) for p in first]
    assert key == [(p.join_at, p.silence, p.withdraw_day, p.profile.pain) for p in again]
    assert key != [(p.join_at, p.silence, p.withdraw_day, p.profile.pain) for p in other]
    big = draw_cohort(4000, 1)
    params = load_parameters()
    spec_share = {"night": NIGHT_JOIN, "after": AFTER_FRACTION_JOIN, "silent": params.p("silent"),
                  "withdraw": params.p("withdraw")}
    share = {
        "night": sum(p.night_join for p in big) / len(big),
        "after": sum(p.after_fraction for p in big) / len(big),
        "silent": sum(p.silence is not None for p in big) / len(big),
        "withdraw": sum(p.withdraw_day is not None for p in big) / len(big),
    }
    assert all(abs(share[k] - spec_share[k]) < 0.025 for k in share), share
    from zoneinfo import ZoneInfo

    from bot.domain.schedule import load_schedule

    spec, paris = load_schedule(), ZoneInfo("Europe/Paris")
    for p in big:
        if p.night_join:
            assert is_quiet(p.join_at, spec, paris)
        if p.after_fraction:
            assert p.join_at.date() == RT_START and p.join_at.hour >= 9
        else:  # everyone else joins before the first fraction (day 0, 08:00)
            assert p.join_at < datetime.combine(RT_START, time(8), tzinfo=paris)
        if p.silence is not None:
            low, high = params.span("silent_days")
            assert 25 <= p.silence[0] <= 31 and low <= p.silence[1] - p.silence[0] + 1 <= high


async def test_the_nurse_recovers_by_phone_the_day_30_of_a_patient_silent_through_its_window(tmp_path: Path) -> None:
    cohort = draw_cohort(2, 3)
    night = replace(cohort[0], join_at=cohort[0].join_at.replace(hour=23, minute=30), night_join=True,
                    after_fraction=False, silence=None, withdraw_day=None, clinical=Clinical())
    silent = replace(cohort[1], silence=(26, 40), withdraw_day=None, after_fraction=False,
                     join_at=night.join_at.replace(hour=15), clinical=Clinical())
    settings = load_settings(BOT_DATABASE=str(tmp_path / "unused.sqlite3"))
    start = min(night.join_at, silent.join_at) - timedelta(hours=1)
    world = SandboxWorld(settings, tmp_path / "sim.sqlite3", start=start, tick_every=timedelta(hours=1))
    await world.start()
    try:
        run = CohortRun(world, [night, silent], call_list=True, seed=3, reach=1.0,
                        params=with_values(baseline_completion=1.0))
        await run.run()
        summary = await run.summary()
    finally:
        await world.stop()
    db = sqlite3.connect(tmp_path / "sim.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM instances WHERE timepoint = 'baseline' AND status = 'completed'"
                      ).fetchone() == (2,)  # the 23:30 join answered its baseline at once
    sources: dict[str, set[str]] = {}  # plain SQL (no GROUP_CONCAT): the suite also runs on PostgreSQL
    for study_id, source in db.execute(
            "SELECT DISTINCT p.study_id, a.source FROM answers a JOIN instances i ON i.id = a.instance_id"
            " JOIN patients p ON p.id = i.patient_id WHERE i.timepoint = 'D30'").fetchall():
        sources.setdefault(study_id, set()).add(source)
    assert sources[silent.profile.study_id] == {"phone"}
    assert db.execute(  # entered to the end by phone, typed numbers included
        "SELECT i.status FROM instances i JOIN patients p ON p.id = i.patient_id WHERE i.timepoint = 'D30'"
        " AND p.study_id = ?", (silent.profile.study_id,)).fetchone() == ("completed",)
    assert summary["d30_evaluable_fraction"] == 1.0 and summary["nurse_calls_reached"] >= 1


async def test_injected_red_flags_alert_and_the_team_closes_the_loop(tmp_path: Path) -> None:
    """Issue 15: a red flag injected into an answered questionnaire raises its urgent alert; the virtual team takes
    care of the alerts, says what it did and, days later, what it was; the opioid rise alerts once."""
    [patient] = draw_cohort(1, 5)
    patient = replace(patient, silence=None, withdraw_day=None, after_fraction=False, night_join=False,
                      join_at=datetime.combine(RT_START - timedelta(days=2), time(10), tzinfo=patient.join_at.tzinfo),
                      clinical=Clinical(red_flag=(8, "rf_numbness"), titration=(3, 2.0)))
    settings = load_settings(BOT_DATABASE=str(tmp_path / "unused.sqlite3"))
    world = SandboxWorld(settings, tmp_path / "sim.sqlite3", start=patient.join_at - timedelta(hours=1),
                         tick_every=timedelta(hours=1))
    await world.start()
    try:
        run = CohortRun(world, [patient], call_list=True, seed=5,
                        params=with_values(baseline_completion=1.0, diary_first_completion=1.0,
                                           diary_decay_per_answered=1.0, abandon_partway=0.0))
        run.cohort[0].decisions = {}
        await run.run()
        summary = await run.summary()
    finally:
        await world.stop()
    db = sqlite3.connect(tmp_path / "sim.sqlite3")
    assert summary["red_flags_injected"] == summary["red_flags_alerted"] == summary["red_flags_planned"] == 1
    assert summary["red_flags_reported_by_answer"] == 1 and summary["red_flags_planned_never_reported"] == 0
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE rule_id = 'rf_numbness'").fetchone() == (1,)
    # Answered diaries after the rise carry the same dose: one alert at most, the rest kept as suppressed.
    raised = db.execute("SELECT COUNT(*) FROM alerts WHERE rule_id = 'analgesic_increase'").fetchone()[0]
    assert raised <= 1
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM alert_followups GROUP BY kind").fetchall())
    acknowledged = db.execute("SELECT COUNT(*) FROM alerts WHERE acknowledged_at IS NOT NULL").fetchone()[0]
    assert acknowledged >= 1 and kinds.get("action") == acknowledged and kinds.get("outcome", 0) >= 1
    acknowledged_at, delivered_at = db.execute(  # minutes computed here: the suite also runs on PostgreSQL
        "SELECT acknowledged_at, delivered_at FROM alerts WHERE rule_id = 'rf_numbness'").fetchone()
    delays = (parse_utc(acknowledged_at) - parse_utc(delivered_at)).total_seconds() / 60
    assert 0 < delays <= 120  # urgent: taken care of within the hour after 5-45 minutes (hourly steps)
    assert isinstance(summary["alerts_per_patient_week"], dict) and summary["questionnaires_alerting_fraction"] is not None
