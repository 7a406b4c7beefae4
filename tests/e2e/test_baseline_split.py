"""Issue 35, step 2: the baseline in two parts, and the cuts that bring the benign patient under 200 taps.

Part 1 (`baseline`, 2.0) is what must be known before the first fraction: worst pain, the red flags, the analgesics,
chemotherapy and fever. Part 2 (`baseline_more`, 2.0) is the rest of the baseline of 1.2, sent the next day, never
before part 1 and never holding back a diary. Pure planner and questionnaire checks first, then journeys through the
real Application (stand-in Bot API, SQLite file, virtual clock), including a restart. docs/clinical/patient-burden.md.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from harness import Bench, Patient, answer_all, current_prompt, default_answer, give

from bot.domain import engine
from bot.domain.questionnaire import SKIPPED, Item, Questionnaire, Value, load_questionnaire, load_questionnaires
from bot.domain.schedule import ScheduleFileError, load_schedule, plan

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
SHIPPED = load_questionnaires(ROOT / "questionnaires")
BEFORE = load_questionnaire(ROOT / "tests" / "data" / "questionnaires_before_baseline_split" / "baseline.yaml")
SPEC = load_schedule(ROOT / "questionnaires" / "schedule.yaml")


def paris(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=PARIS)


def local(moment: datetime) -> datetime:
    return moment.astimezone(PARIS)


# --------------------------------------------------------------------------------------------------------------
# The planner (pure)
# --------------------------------------------------------------------------------------------------------------


def test_part_2_opens_the_day_after_enrolment_and_stays_open_until_the_day_before_the_first_diary() -> None:
    planned = plan(SPEC, rt_start=date(2027, 3, 10), fractions=1, enrolled_at=paris(2027, 3, 1, 15), tz=PARIS)
    part1, part2 = planned[0], planned[1]
    assert (part1.timepoint, part2.timepoint) == ("baseline", "baseline_more")
    assert (part2.questionnaire_id, part2.day, part2.primary) == ("baseline_more", None, False)
    assert local(part2.opens_at) == paris(2027, 3, 2, 10)  # the next day, at the preferred time
    assert local(part2.closes_at) == paris(2027, 3, 4, 23, 59, 59)  # window_days = 3, no other opening before
    assert part1.opens_at < part2.opens_at


def test_part_2_never_stays_open_on_a_day_another_questionnaire_opens() -> None:
    """Enrolled two days before day 0: part 2 on day -1 only, so the day-0 diary is never held back."""
    planned = plan(SPEC, rt_start=date(2027, 3, 3), fractions=1, enrolled_at=paris(2027, 3, 1, 9), tz=PARIS)
    part2 = next(p for p in planned if p.timepoint == "baseline_more")
    dd0 = next(p for p in planned if p.timepoint == "DD0")
    assert local(part2.opens_at) == paris(2027, 3, 2, 10)
    assert part2.closes_at < dd0.opens_at
    for other in planned:
        if other.timepoint not in ("baseline", "baseline_more"):
            assert not (part2.opens_at < other.opens_at <= part2.closes_at), other.timepoint


def test_on_a_diary_day_the_diary_goes_first_and_part_2_follows() -> None:
    """Enrolled the day before day 0: both open on day 0 at 10:00; the diary (the pain-flare end point) is first."""
    planned = plan(SPEC, rt_start=date(2027, 3, 2), fractions=1, enrolled_at=paris(2027, 3, 1, 9), tz=PARIS)
    labels = [p.timepoint for p in planned]
    assert labels[:3] == ["baseline", "DD0", "baseline_more"]
    part2 = planned[2]
    assert part2.opens_at == planned[1].opens_at and local(part2.closes_at) == paris(2027, 3, 2, 23, 59, 59)


def test_a_night_enrolment_gets_part_1_at_8am_and_part_2_the_day_after() -> None:
    planned = plan(SPEC, rt_start=date(2027, 3, 10), fractions=1, enrolled_at=paris(2027, 3, 1, 22, 30), tz=PARIS)
    assert local(planned[0].opens_at) == paris(2027, 3, 2, 8)
    assert planned[1].timepoint == "baseline_more" and local(planned[1].opens_at) == paris(2027, 3, 3, 10)


def test_part_2_follows_the_patients_preferred_time() -> None:
    planned = plan(
        SPEC, rt_start=date(2027, 3, 10), fractions=1, enrolled_at=paris(2027, 3, 1, 9), preferred="soir", tz=PARIS
    )
    assert local(planned[1].opens_at) == paris(2027, 3, 2, 18)


def _schedule_text() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "questionnaires" / "schedule.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_a_schedule_without_a_second_part_plans_the_baseline_in_one(tmp_path: Path) -> None:
    """Another trial's schedule file (or one written before issue 35) still loads: one baseline, no part 2."""
    raw = _schedule_text()
    del raw["baseline_more"]
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    spec = load_schedule(path)
    assert spec.baseline_more is None
    planned = plan(spec, rt_start=date(2027, 3, 10), fractions=1, enrolled_at=paris(2027, 3, 1, 9), tz=PARIS)
    assert "baseline_more" not in [p.timepoint for p in planned]


def test_part_2_may_not_share_the_first_parts_label(tmp_path: Path) -> None:
    raw = _schedule_text()
    more = raw["baseline_more"]
    assert isinstance(more, dict)
    more["label"] = "baseline"
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScheduleFileError, match="baseline_more"):
        load_schedule(path)


# --------------------------------------------------------------------------------------------------------------
# The questionnaires (pure): nothing of the baseline lost, part 1 in at most 20 taps
# --------------------------------------------------------------------------------------------------------------

#: A patient on one background opioid with rescue doses and paracetamol (the demo's benign patient).
ONE_OPIOID: dict[str, Value] = {
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 30,
    "bg_per_day": 2,
    "bg_units": "1",
    "bg_more": "no",
    "rescue_taking": "yes",
    "rescue_product": "actiskenan",
    "rescue_dose": 10,
    "rescue_units": "1",
    "rescue_doses_24h": 0,
    "other_analgesics": ["paracetamol"],
}
#: The heaviest usual regimen: two background products (a patch and a tablet), rescue doses, two co-analgesics.
TWO_OPIOIDS: dict[str, Value] = {
    **ONE_OPIOID,
    "bg_more": "yes",
    "bg2_product": "durogesic",
    "bg2_patch": 25,
    "other_analgesics": ["paracetamol", "neuropath"],
}


def taps(q: Questionnaire, given: dict[str, Value]) -> tuple[int, list[str]]:
    """Button presses and typed answers to the end (a multiple choice: one per tick, plus "Valider")."""
    answers: dict[str, Value] = {i.id: given[i.id] for i in q.items if i.context and i.id in given}
    asked: list[str] = []
    count = 0
    for _ in range(len(q.items) + 1):
        item = engine.next_item(q, answers)
        if item is None:
            return count, asked
        asked.append(item.id)
        value = given.get(item.id, _quiet(item))
        answers[item.id] = value
        count += len(value) + 1 if isinstance(value, list) else 1
    raise AssertionError("the walk did not end")


def _quiet(item: Item) -> Value:
    if item.type == "scale":
        return 3
    if item.type == "yesno":
        return "no"
    if item.type == "single":
        return "none" if item.id == "rf_screen" else item.codes[0]
    if item.type == "multi":
        return [item.codes[-1]]
    if item.type == "number":
        return 1
    return SKIPPED


@pytest.mark.parametrize("regimen", [{}, ONE_OPIOID, TWO_OPIOIDS])
def test_part_1_asks_pain_red_flags_and_analgesics_in_at_most_20_taps(regimen: dict[str, Value]) -> None:
    """At most 20 taps, up to the heaviest usual regimen (two background products), every dose still asked."""
    count, asked = taps(SHIPPED["baseline"], regimen)
    assert count <= 20, (count, asked)
    assert asked[:2] == ["pain_worst", "rf_screen"]
    assert {"bg_taking", "rescue_taking", "other_analgesics", "on_chemo", "fever"} <= set(asked)
    if regimen:
        assert {"bg_dose", "bg_per_day", "rescue_dose", "rescue_doses_24h"} <= set(asked)
    before, _ = taps(BEFORE, regimen)
    assert before > count + 10


def test_the_two_parts_hold_every_item_of_the_baseline_in_one_part_with_the_same_words() -> None:
    part1, part2 = SHIPPED["baseline"], SHIPPED["baseline_more"]
    assert set(part1.item_ids) & set(part2.item_ids) == set()
    assert set(part1.item_ids) | set(part2.item_ids) == set(BEFORE.item_ids) | {"rf_screen"}
    for item in BEFORE.items:
        new = part1.item(item.id) if item.id in part1.item_ids else part2.item(item.id)
        assert (new.type, new.codes) == (item.type, item.codes), item.id
        if item.id not in ("pain_average",):  # pain_average names the treated site: part 2 opens with it
            assert new.text == item.text, item.id


def test_a_red_flag_at_inclusion_is_still_asked_behind_the_screen() -> None:
    _count, asked = taps(SHIPPED["baseline"], {"rf_screen": "some"})
    assert {"rf_weakness", "rf_numbness", "rf_bladder_bowel", "rf_radicular_new", "sp_night_pain"} <= set(asked)
    assert SHIPPED["baseline"].item("rf_screen").codes[0] == "some"  # the reporting answer first


def test_the_follow_up_asks_its_day_30_items_only_at_day_30() -> None:
    followup = SHIPPED["followup"]
    day30_only = {"pain_average", "interf_sleep", "interf_walking", "interf_mood", "interf_activity", "satisfaction"}
    quiet = {"rf_screen": "none", "analgesic_same": "yes", "se_screen": "no", "chemo_possible": "no"}
    _n, at_30 = taps(followup, {**quiet, "primary_timepoint": "yes"})
    _n, at_60 = taps(followup, {**quiet, "primary_timepoint": "no"})
    assert day30_only <= set(at_30) and day30_only.isdisjoint(at_60)
    for kept in ("pain_worst", "axial_spont_present", "rf_screen", "analgesic_same", "qol_global", "pgic"):
        assert kept in at_60
    assert "se_nausea" not in at_60 and "fever" not in at_60
    _n, on_chemo = taps(followup, {**quiet, "primary_timepoint": "no", "chemo_possible": "yes"})
    assert "fever" in on_chemo  # neutropenic sepsis: fever asked every time chemotherapy is possible


# --------------------------------------------------------------------------------------------------------------
# Journeys through the real Application
# --------------------------------------------------------------------------------------------------------------


def rows(bench: Bench, sql: str, *args: object) -> list[tuple[object, ...]]:
    return sqlite3.connect(bench.database).execute(sql, args).fetchall()


async def _until(bench: Bench, patient: Patient, questionnaire_id: str, *, hours: int = 72) -> None:
    for _ in range(hours):
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == questionnaire_id:
            return
        await bench.advance(timedelta(hours=1))
    raise AssertionError(f"no {questionnaire_id} came")


async def test_part_2_comes_the_next_morning_after_a_restart_with_its_reminder_and_is_exported(bench: Bench) -> None:
    """Bench clock: Monday 1 March 2027, 10:00 in Paris; day 0 on Wednesday 3 March."""
    from bot.export.csv_export import CSV_COLUMNS, csv_rows
    from bot.export.dataset import load_dataset

    patient = await bench.join(3601, "P-BS1", date(2027, 3, 3))
    asked = await answer_all(bench, patient, {"rf_screen": "none", "bg_taking": "no", "rescue_taking": "no"})
    assert asked[0] == "pain_worst" and "se_nausea" not in asked and len(asked) <= 20
    assert await current_prompt(bench, patient) is None  # part 2 is not sent in the same sitting
    await bench.advance(timedelta(hours=20))  # Tuesday 06:00: nothing yet
    assert await current_prompt(bench, patient) is None
    await bench.restart()  # state lives in the database: part 2 is still planned after a restart
    await bench.advance(timedelta(hours=4))  # Tuesday 10:00, the preferred time
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and prompt.instance.questionnaire_id == "baseline_more"
    assert any("inclusion (suite)" in text for text in bench.texts(patient.chat_id))
    before_reminder = len(bench.texts(patient.chat_id))
    await bench.advance(timedelta(hours=4, minutes=30))  # the +4 h reminder
    assert rows(bench, "SELECT reminders_sent FROM instances WHERE timepoint = 'baseline_more'") == [(1,)]
    assert len(bench.texts(patient.chat_id)) > before_reminder
    second = await answer_all(bench, patient, {"se_nausea": "1"})
    assert second[0] == "pain_average" and second[-1] == "message_team"
    stamped = rows(
        bench,
        "SELECT questionnaire_id, questionnaire_version, questionnaire_hash IS NOT NULL, status FROM instances"
        " WHERE timepoint IN ('baseline', 'baseline_more') ORDER BY id",
    )
    assert stamped == [("baseline", "2.0", 1, "completed"), ("baseline_more", "2.0", 1, "completed")]

    services = bench.services
    assert services is not None
    out = io.StringIO()
    dataset = await load_dataset(services.store)
    csv.writer(out).writerows(csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor"))
    lines = [dict(zip(CSV_COLUMNS, row, strict=False)) for row in csv.reader(io.StringIO(out.getvalue()))]
    part2 = {line["item"]: line for line in lines if line["timepoint"] == "baseline_more"}
    assert part2["se_nausea"]["value"] == "1" and part2["se_nausea"]["questionnaire_version"] == "2.0"
    assert part2["se_nausea"]["flags"] == ""  # answered before the first fraction


async def test_part_2_left_open_never_holds_back_the_next_diary(bench: Bench) -> None:
    """Day 0 the day after joining: the diary first, part 2 right after it; unanswered, part 2 closes at midnight
    and the day-1 diary comes at its time."""
    patient = await bench.join(3602, "P-BS2", date(2027, 3, 2))
    await answer_all(bench, patient, {"rf_screen": "none"})
    await _until(bench, patient, "daily")
    for _ in range(12):  # the diary, and only the diary
        prompt = await current_prompt(bench, patient)
        if prompt is None or prompt.instance.questionnaire_id != "daily":
            break
        await give(
            bench, patient, {"rf_screen": "none", "se_screen": "no"}.get(prompt.item.id, default_answer(prompt.item))
        )
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and prompt.instance.questionnaire_id == "baseline_more"
    await bench.advance(timedelta(hours=24))  # not answered; Wednesday 10:00
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and (prompt.instance.questionnaire_id, prompt.instance.timepoint) == ("daily", "DD1")
    assert rows(bench, "SELECT status FROM instances WHERE timepoint = 'baseline_more'") == [("missed",)]


async def test_a_message_typed_after_a_quiet_diary_reaches_the_team(bench: Bench) -> None:
    """The repeated questionnaires no longer end with "a message for the team?": the patient writes at any time,
    and the words reach the clinicians' group (what the message item did, without its daily "Passer" tap)."""
    patient = await bench.join(3603, "P-BS3", date(2027, 3, 3))
    await answer_all(bench, patient, {"rf_screen": "none"})
    await _until(bench, patient, "baseline_more")
    await answer_all(bench, patient)
    await _until(bench, patient, "daily")
    asked = await answer_all(bench, patient, {"rf_screen": "none", "se_screen": "no", "analgesic_same": "yes"})
    assert "message_team" not in asked
    await bench.patient_says(patient, "Pouvez-vous décaler mon rendez-vous de jeudi ?")
    await bench.advance(timedelta(minutes=5))  # a message outside a questionnaire is posted within a minute
    await bench.settle()
    group = [m.text or "" for m in bench.group_messages()]
    assert any("P-BS3" in t and "rendez-vous de jeudi" in t for t in group), group


async def test_part_2_answered_after_the_first_fraction_is_flagged_in_the_export(bench: Bench) -> None:
    """Day 0 the day after joining: part 2 comes after the day-0 diary, so its answers are not pre-treatment values
    and the export says so (`after_rt_start`); part 1, answered the day before, is not flagged."""
    from bot.export.csv_export import CSV_COLUMNS, csv_rows
    from bot.export.dataset import load_dataset

    patient = await bench.join(3604, "P-BS4", date(2027, 3, 2))
    await answer_all(bench, patient, {"rf_screen": "none"})
    await _until(bench, patient, "daily")
    await answer_all(bench, patient, {"rf_screen": "none", "se_screen": "no"})  # the diary, then part 2 follows
    services = bench.services
    assert services is not None
    out = io.StringIO()
    csv.writer(out).writerows(
        csv_rows(await load_dataset(services.store), services.questionnaires, services.opioids, "fr_sor")
    )
    lines = [dict(zip(CSV_COLUMNS, row, strict=False)) for row in csv.reader(io.StringIO(out.getvalue()))]
    flags = {(line["timepoint"], line["item"]): line["flags"] for line in lines if line["derivation"] == ""}
    assert "after_rt_start" in flags[("baseline_more", "se_nausea")]
    assert "after_rt_start" not in flags[("baseline", "pain_worst")]
