"""The seeded cohort simulation of issue 16 (`python -m bot simulate`): its mix, and one short real run."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

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
    spec_share = {
        "night": NIGHT_JOIN,
        "after": AFTER_FRACTION_JOIN,
        "silent": params.p("silent"),
        "withdraw": params.p("withdraw"),
    }
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
    night = replace(
        cohort[0],
        join_at=cohort[0].join_at.replace(hour=23, minute=30),
        night_join=True,
        after_fraction=False,
        silence=None,
        withdraw_day=None,
        clinical=Clinical(),
    )
    silent = replace(
        cohort[1],
        silence=(26, 40),
        withdraw_day=None,
        after_fraction=False,
        join_at=night.join_at.replace(hour=15),
        clinical=Clinical(),
    )
    settings = load_settings(BOT_DATABASE=str(tmp_path / "unused.sqlite3"))
    start = min(night.join_at, silent.join_at) - timedelta(hours=1)
    world = SandboxWorld(settings, tmp_path / "sim.sqlite3", start=start, tick_every=timedelta(hours=1))
    await world.start()
    try:
        run = CohortRun(
            world,
            [night, silent],
            call_list=True,
            seed=3,
            reach=1.0,
            params=with_values(baseline_completion=1.0, length_penalty_per_item=0.0),
        )
        await run.run()
        summary = await run.summary()
    finally:
        await world.stop()
    db = sqlite3.connect(tmp_path / "sim.sqlite3")
    assert db.execute(
        "SELECT COUNT(*) FROM instances WHERE timepoint = 'baseline' AND status = 'completed'"
    ).fetchone() == (2,)  # the 23:30 join answered its baseline at once
    sources: dict[str, set[str]] = {}  # plain SQL (no GROUP_CONCAT): the suite also runs on PostgreSQL
    for study_id, source in db.execute(
        "SELECT DISTINCT p.study_id, a.source FROM answers a JOIN instances i ON i.id = a.instance_id"
        " JOIN patients p ON p.id = i.patient_id WHERE i.timepoint = 'D30'"
    ).fetchall():
        sources.setdefault(study_id, set()).add(source)
    assert sources[silent.profile.study_id] == {"phone"}
    assert db.execute(  # entered to the end by phone, typed numbers included
        "SELECT i.status FROM instances i JOIN patients p ON p.id = i.patient_id WHERE i.timepoint = 'D30'"
        " AND p.study_id = ?",
        (silent.profile.study_id,),
    ).fetchone() == ("completed",)
    assert summary["d30_evaluable_fraction"] == 1.0 and summary["nurse_calls_reached"] >= 1


async def test_injected_red_flags_alert_and_the_team_closes_the_loop(tmp_path: Path) -> None:
    """Issue 15: a red flag injected into an answered questionnaire raises its urgent alert; the virtual team takes
    care of the alerts, says what it did and, days later, what it was; the opioid rise alerts once."""
    [patient] = draw_cohort(1, 5)
    patient = replace(
        patient,
        silence=None,
        withdraw_day=None,
        after_fraction=False,
        night_join=False,
        join_at=datetime.combine(RT_START - timedelta(days=2), time(10), tzinfo=patient.join_at.tzinfo),
        clinical=Clinical(red_flag=(8, "rf_numbness"), titration=(3, 2.0)),
    )
    settings = load_settings(BOT_DATABASE=str(tmp_path / "unused.sqlite3"))
    world = SandboxWorld(
        settings, tmp_path / "sim.sqlite3", start=patient.join_at - timedelta(hours=1), tick_every=timedelta(hours=1)
    )
    await world.start()
    try:
        run = CohortRun(
            world,
            [patient],
            call_list=True,
            seed=5,
            params=with_values(
                baseline_completion=1.0,
                diary_first_completion=1.0,
                diary_decay_per_answered=1.0,
                abandon_partway=0.0,
                length_penalty_per_item=0.0,
            ),
        )
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
        "SELECT acknowledged_at, delivered_at FROM alerts WHERE rule_id = 'rf_numbness'"
    ).fetchone()
    delays = (parse_utc(acknowledged_at) - parse_utc(delivered_at)).total_seconds() / 60
    assert 0 < delays <= 120  # urgent: taken care of within the hour after 5-45 minutes (hourly steps)
    assert (
        isinstance(summary["alerts_per_patient_week"], dict) and summary["questionnaires_alerting_fraction"] is not None
    )


# ---- issue 33: a cohort drawn from published figures, red flags from plan to alert, burden, determinism ----------


def test_every_parameter_has_a_source_in_the_table_and_in_the_documentation() -> None:
    import yaml

    from bot.sandbox.cohort import PARAMETERS, SCENARIOS

    table = yaml.safe_load(PARAMETERS.read_text(encoding="utf-8"))
    assert tuple(table["scenarios"]) == SCENARIOS
    doc = (Path(__file__).parents[2] / "docs" / "simulation.md").read_text(encoding="utf-8")
    for name, spec in table["parameters"].items():
        assert spec["source"] in table["sources"], name
        assert all(scenario in spec for scenario in SCENARIOS), name
        assert f"`{name}`" in doc, f"{name} is not documented in docs/simulation.md"
    scenarios = {s: load_parameters(s) for s in SCENARIOS}
    for name in ("diary_first_completion", "weekly_completion", "followup_completion", "nurse_reaches"):
        assert scenarios["pessimistic"].p(name) < scenarios["published"].p(name) < scenarios["optimistic"].p(name)
    import pytest

    with pytest.raises(ValueError):
        load_parameters("rosy")


def test_the_drawn_cohort_has_the_published_mix() -> None:
    """Large cohorts reproduce the table: response (Chow 2012), flare (Chow 2015), regimens, segments."""
    params = load_parameters()
    big = [p.clinical for p in draw_cohort(3000, 2, params=params)]
    assert all(c is not None for c in big)
    n = len(big)

    def share(predicate: object) -> float:
        return sum(1 for c in big if predicate(c)) / n  # type: ignore[operator]

    for category, weight in params.weights("response_at_day_30").items():
        assert abs(share(lambda c, k=category: c.response == k) - weight) < 0.03, category
    assert abs(share(lambda c: c.flare is not None) - params.p("flare_single_fraction")) < 0.03
    for regimen, weight in params.weights("regimen").items():
        assert abs(share(lambda c, k=regimen: c.regimen == k) - weight) < 0.03, regimen
    # Side effects follow the treated segment: nausea only for thoraco-lumbar fields, swallowing cervico-thoracic.
    assert all(c.segment == "thoraco_lumbar" for c in big if "se_nausea" in c.side_effects)
    assert all(c.segment == "cervico_thoracic" for c in big if "se_swallow" in c.side_effects)
    assert {c.side_effects["se_fatigue"][2] for c in big if "se_fatigue" in c.side_effects} == {"1", "2", "3"}
    deaths = share(lambda c: c.death_day is not None)
    assert abs(deaths - params.p("death_before_day_38")) < 0.02
    # Day-30 pain follows the response category of the consensus.
    for p in draw_cohort(300, 4, params=params):
        assert p.clinical is not None
        base, d30 = p.profile.pain[0][1], p.profile.pain[-1][1]
        if p.clinical.response == "complete":
            assert d30 == 0
        elif p.clinical.response == "partial":
            assert d30 <= base - 2
        elif p.clinical.response == "progression":
            assert d30 >= base + 2 or d30 == 10


def test_items_the_simulator_does_not_know_get_a_sensible_answer_by_type() -> None:
    """New questions (shivers, myoclonus…) never stop the run: a default by type, "je ne sais pas" where offered."""
    from bot.domain.questionnaire import UNKNOWN, Item
    from bot.sandbox.cohort import patient_answer

    [patient] = draw_cohort(1, 9)
    params = load_parameters()
    new_items = [
        Item(id="myoclonus", type="yesno", text="Secousses ?"),
        Item(id="hallucinations_score", type="scale", text="0 = rien, 10 = tout"),
        Item(
            id="shivers",
            type="single",
            text="Frissons ?",
            choices=[{"code": "0", "label": "Non"}, {"code": "1", "label": "Oui"}],
        ),
        Item(
            id="what_else",
            type="multi",
            text="Quoi ?",
            choices=[{"code": "a", "label": "A"}, {"code": "aucun", "label": "Aucun", "exclusive": True}],
        ),
        Item(id="how_many", type="number", text="Combien ?", min=0, max=5),
        Item(id="note", type="text", text="Un mot ?", optional=True),
    ]
    answers = [patient_answer(patient, item, 3, 1, "DD3:3", params) for item in new_items]
    assert answers[0] == "no" and answers[2] == "0" and answers[3] == ["aucun"] and answers[4] == 0
    assert isinstance(answers[1], int) and 0 <= answers[1] <= 10
    unknown = Item(id="shivers_unknown", type="yesno", text="Frissons ?", allow_unknown=True)
    said = [patient_answer(patient, unknown, day, day, f"DD{day}:{day}", params) for day in range(400)]
    share = said.count(UNKNOWN) / len(said)
    assert abs(share - params.p("dont_know")) < 0.04 and set(said) == {UNKNOWN, "no"}


async def test_red_flags_are_counted_from_plan_to_alert_with_words_deaths_and_itt(tmp_path: Path) -> None:
    """A red flag written in words alerts through the free-text screen; one no questionnaire falls on is planned
    but never reported; a death before day 30 leaves the evaluable denominator but not the ITT one."""
    cohort = draw_cohort(3, 11)
    join = datetime.combine(RT_START - timedelta(days=2), time(10), tzinfo=cohort[0].join_at.tzinfo)
    common = {"silence": None, "withdraw_day": None, "after_fraction": False, "night_join": False, "join_at": join}
    words = replace(
        cohort[0],
        **common,
        clinical=Clinical(
            red_flag=(4, "rf_weakness"),
            red_flag_in_words=True,
            messages=[(4, 11, "rf_weakness", "Mes jambes sont faibles, j'ai du mal à marcher")],
        ),
    )
    unasked = replace(cohort[1], **common, clinical=Clinical(red_flag=(13, "rf_numbness")))
    dies = replace(cohort[2], **common, clinical=Clinical(death_day=12))
    settings = load_settings(BOT_DATABASE=str(tmp_path / "unused.sqlite3"))
    world = SandboxWorld(
        settings, tmp_path / "sim.sqlite3", start=join - timedelta(hours=1), tick_every=timedelta(hours=1)
    )
    await world.start()
    try:
        # Only the baseline is answered: no questionnaire ever carries the red flags.
        run = CohortRun(
            world,
            [words, unasked, dies],
            call_list=False,
            seed=11,
            params=with_values(
                baseline_completion=1.0,
                diary_first_completion=0.0,
                weekly_completion=0.0,
                followup_completion=0.0,
                abandon_partway=0.0,
                length_penalty_per_item=0.0,
            ),
        )
        await run.run()
        summary = await run.summary()
    finally:
        await world.stop()
    assert summary["red_flags_planned"] == 2
    assert summary["red_flags_reported"] == summary["red_flags_reported_in_words"] == 1
    assert summary["red_flags_reported_by_answer"] == 0
    assert summary["red_flags_alerted"] == 1 and summary["red_flags_planned_never_reported"] == 1
    assert summary["deaths_recorded"] == 1 and summary["deaths_before_day_30"] == 1
    assert summary["d30_itt_fraction"] == 0.0 and summary["d30_evaluable"] == 0
    burden = summary["burden"]
    assert isinstance(burden, dict) and burden["completion_by_questionnaire"]["baseline"] == 1.0
    assert burden["taps_per_questionnaire"]["baseline"]["median"] > 10


@pytest.mark.slow
async def test_the_same_seed_gives_the_same_summary_apart_from_timings(tmp_path: Path) -> None:
    """Issue 33: every counter, alert outcomes included, is the same on the same seed (20 patients, twice)."""
    import io
    import json

    from bot.sandbox.cohort import TIMING_FIELDS, simulate

    summaries = []
    for name in ("first", "second"):
        out = tmp_path / name
        assert await simulate(20, 4, out, stream=io.StringIO(), runs="one") == 0
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summary["questionnaires"] > 0 and summary["alert_outcomes"] > 0
        summaries.append({k: v for k, v in summary.items() if k not in TIMING_FIELDS})
    assert summaries[0] == summaries[1]
