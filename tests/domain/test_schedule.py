"""The protocol schedule: the shipped data file, the planner, quiet hours, reminders and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.schedule import (
    DEFAULT_SCHEDULE_PATH,
    PlannedInstance,
    ScheduleFileError,
    ScheduleSpec,
    answered_after_rt_start,
    baseline_closes_at,
    call_list_time,
    fraction_days,
    is_quiet,
    load_schedule,
    next_allowed,
    plan,
    present_horizon,
    primary_notice_time,
    reminder_times,
    rt_start_moment,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = UTC
SPEC = load_schedule()


def paris(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """A Paris wall time as an aware UTC datetime."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=PARIS).astimezone(UTC)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


def by_label(instances: list[PlannedInstance]) -> dict[str, PlannedInstance]:
    return {i.timepoint: i for i in instances}


def local_days(instance: PlannedInstance, tz: ZoneInfo = PARIS) -> set[date]:
    first = instance.opens_at.astimezone(tz).date()
    last = instance.closes_at.astimezone(tz).date()
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


# --- the data file -------------------------------------------------------------------------------------------


def test_shipped_schedule_has_the_protocol_values() -> None:
    assert SPEC.timezone.name == "Europe/Paris"
    assert SPEC.quiet_hours.start == time(21, 0) and SPEC.quiet_hours.end == time(8, 0)
    assert SPEC.send_times.default == "matin"
    assert SPEC.send_times.choices == {"matin": time(10, 0), "midi": time(12, 30), "soir": time(18, 0)}
    assert SPEC.reminders.after_send_hours == 4
    windows = {tp.day: (tp.days_before, tp.days_after, tp.primary) for tp in SPEC.followups.timepoints}
    assert windows == {15: (2, 5, False), 30: (3, 7, True), 60: (2, 5, False), 90: (2, 5, False)}
    assert SPEC.daily.days_after_last_fraction == 10
    assert {
        SPEC.baseline.questionnaire,
        SPEC.daily.questionnaire,
        SPEC.followups.questionnaire,
        SPEC.weekly.questionnaire,
    } == {"baseline", "daily", "followup", "weekly"}


def _write_variant(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_SCHEDULE_PATH.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "trial-schedule.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _two_primaries(raw: dict) -> None:
    raw["followups"]["timepoints"][0]["primary"] = True


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda raw: raw.pop("followups"), ["followups", "Field required"]),
        (lambda raw: raw["quiet_hours"].__setitem__("start", 600), ["quiet_hours.start", "HH:MM"]),
        (
            lambda raw: raw["send_times"]["choices"].__setitem__("soir", "22:00"),
            ["send_times.choices.soir", "quiet_hours"],
        ),
        (lambda raw: raw.__setitem__("reminder", {"after_send_hours": 4}), ["reminder", "Extra inputs"]),
        (lambda raw: raw["daily"].__setitem__("label", "D{day}"), ["followups.label", "daily.label"]),
        (lambda raw: raw["weekly"].__setitem__("label", "W"), ["weekly.label", "{day}"]),
        (_two_primaries, ["followups", "at most one primary"]),
        (lambda raw: raw["timezone"].__setitem__("name", "Mars/Olympus"), ["timezone.name", "Mars/Olympus"]),
        (lambda raw: raw["send_times"].__setitem__("default", "nuit"), ["send_times", "nuit"]),
        (
            lambda raw: raw["followups"]["timepoints"][1].__setitem__("days_after", -1),
            ["followups.timepoints.1.days_after"],
        ),
    ],
)
def test_a_bad_schedule_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, mutate, expected: list[str]
) -> None:
    path = _write_variant(tmp_path, mutate)
    with pytest.raises(ScheduleFileError) as error:
        load_schedule(path)
    message = str(error.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_a_schedule_file_that_is_not_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("quiet_hours: [21:00\n", encoding="utf-8")
    with pytest.raises(ScheduleFileError, match="broken.yaml: not valid YAML"):
        load_schedule(path)


def test_a_missing_schedule_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ScheduleFileError, match="nowhere.yaml"):
        load_schedule(tmp_path / "nowhere.yaml")


# --- fractions -----------------------------------------------------------------------------------------------


def test_a_single_fraction_is_given_on_the_start_day() -> None:
    assert fraction_days(date(2026, 6, 4), 1) == [date(2026, 6, 4)]


def test_five_fractions_from_a_thursday_skip_the_weekend() -> None:
    thursday = date(2026, 6, 4)
    assert fraction_days(thursday, 5) == [
        date(2026, 6, 4),
        date(2026, 6, 5),
        date(2026, 6, 8),
        date(2026, 6, 9),
        date(2026, 6, 10),
    ]


def test_a_saturday_start_is_day_zero_and_the_next_fractions_are_working_days() -> None:
    saturday = date(2026, 6, 6)
    assert fraction_days(saturday, 5) == [
        date(2026, 6, 6),
        date(2026, 6, 8),
        date(2026, 6, 9),
        date(2026, 6, 10),
        date(2026, 6, 11),
    ]


def test_public_holidays_are_not_skipped() -> None:
    assert date(2026, 7, 14) in fraction_days(date(2026, 7, 13), 5)


def test_zero_fractions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        fraction_days(date(2026, 6, 4), 0)


# --- the plan ------------------------------------------------------------------------------------------------

EARLY = paris(2026, 5, 20, 11, 0)  # enrolled well before day 0


def test_a_single_fraction_plan_has_the_protocol_timepoints_in_order() -> None:
    planned = plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=EARLY, preferred="matin", tz=PARIS)
    assert [p.timepoint for p in planned] == (
        ["baseline", "baseline_more"]  # issue 35: the baseline's second part, the day after enrolment
        + [f"DD{d}" for d in range(0, 11)]
        + ["D15", "W22", "D30", "W43", "W50", "D60", "W71", "W78", "W85", "D90"]
    )
    assert [p.opens_at for p in planned] == sorted(p.opens_at for p in planned)
    kinds = {p.timepoint: p.questionnaire_id for p in planned}
    assert kinds["baseline"] == "baseline" and kinds["DD4"] == "daily"
    assert kinds["D60"] == "followup" and kinds["W71"] == "weekly"
    assert [p.timepoint for p in planned if p.primary] == ["D30"]
    assert by_label(planned)["baseline"].day is None and by_label(planned)["W43"].day == 43


def test_five_fractions_from_a_thursday_keep_the_diary_until_ten_days_after_the_wednesday() -> None:
    thursday = date(2026, 6, 4)
    planned = plan(SPEC, rt_start=thursday, fractions=5, enrolled_at=EARLY, preferred="matin", tz=PARIS)
    diary = [p for p in planned if p.questionnaire_id == "daily"]
    assert [p.timepoint for p in diary] == [f"DD{d}" for d in range(0, 17)]
    assert diary[-1].closes_at.astimezone(PARIS).date() == date(2026, 6, 10) + timedelta(days=10)
    assert len(planned) == 2 + 17 + 4 + 6  # the baseline in two parts (issue 35)
    assert len({p.timepoint for p in planned}) == len(planned)


@pytest.mark.parametrize(("preferred", "expected"), [("matin", time(10)), ("midi", time(12, 30)), ("soir", time(18))])
def test_every_window_opens_at_the_preferred_local_time_outside_quiet_hours(preferred: str, expected: time) -> None:
    planned = plan(SPEC, rt_start=date(2026, 6, 4), fractions=5, enrolled_at=EARLY, preferred=preferred, tz=PARIS)
    for p in planned:
        assert not is_quiet(p.opens_at, SPEC, PARIS)
        assert p.opens_at.tzinfo == UTC
        if p.timepoint != "baseline":
            assert p.opens_at.astimezone(PARIS).time() == expected, p.timepoint


def test_the_default_preference_is_the_morning() -> None:
    planned = plan(SPEC, rt_start=date(2026, 6, 4), fractions=1, enrolled_at=EARLY)
    assert by_label(planned)["DD0"].opens_at == paris(2026, 6, 4, 10, 0)


def test_an_unknown_preference_is_refused() -> None:
    with pytest.raises(ValueError, match="nuit"):
        plan(SPEC, rt_start=date(2026, 6, 4), fractions=1, enrolled_at=EARLY, preferred="nuit", tz=PARIS)


def test_a_naive_enrolment_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(SPEC, rt_start=date(2026, 6, 4), fractions=1, enrolled_at=datetime(2026, 6, 1, 10), tz=PARIS)


def test_a_diary_day_is_open_until_23_59_59_local_that_day() -> None:
    planned = by_label(plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=EARLY, tz=PARIS))
    assert planned["DD3"].opens_at == paris(2026, 6, 4, 10, 0)
    assert planned["DD3"].closes_at == paris(2026, 6, 4, 23, 59, 59)


def test_follow_up_windows_are_minus_2_plus_5_days_and_day_30_minus_3_plus_7() -> None:
    start = date(2026, 6, 1)
    planned = by_label(plan(SPEC, rt_start=start, fractions=1, enrolled_at=EARLY, preferred="midi", tz=PARIS))
    for label, day, before, after in [("D15", 15, 2, 5), ("D30", 30, 3, 7), ("D60", 60, 2, 5), ("D90", 90, 2, 5)]:
        first, last = start + timedelta(days=day - before), start + timedelta(days=day + after)
        assert planned[label].opens_at == paris(first.year, first.month, first.day, 12, 30)
        assert planned[label].closes_at == paris(last.year, last.month, last.day, 23, 59, 59)
    assert planned["D30"].primary and not planned["D15"].primary


def test_baseline_is_open_from_enrolment_until_the_end_of_day_0() -> None:
    enrolled = paris(2026, 5, 28, 15, 12)
    planned = by_label(plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=enrolled, tz=PARIS))
    assert planned["baseline"].opens_at == enrolled
    assert planned["baseline"].closes_at == paris(2026, 6, 1, 23, 59, 59)


@pytest.mark.parametrize("fractions", [1, 5])
@pytest.mark.parametrize("start_offset", range(7))  # every weekday as day 0
def test_no_weekly_window_shares_a_day_with_a_diary_or_a_follow_up_window(fractions: int, start_offset: int) -> None:
    start = date(2026, 6, 1) + timedelta(days=start_offset)
    planned = plan(SPEC, rt_start=start, fractions=fractions, enrolled_at=EARLY, tz=PARIS)
    weekly = [p for p in planned if p.questionnaire_id == "weekly"]
    others = [p for p in planned if p.questionnaire_id in ("daily", "followup")]
    assert len(weekly) == 6
    busy = set().union(*(local_days(p) for p in others))
    for w in weekly:
        assert len(local_days(w)) == 3
        assert not (local_days(w) & busy), w.timepoint
        assert w.day is not None and w.day <= 90


def test_a_long_diary_pushes_out_a_weekly_check_it_would_overlap() -> None:
    planned = plan(SPEC, rt_start=date(2026, 6, 4), fractions=10, enrolled_at=EARLY, tz=PARIS)  # Thursday
    labels = [p.timepoint for p in planned]
    assert "DD23" in labels and "W22" not in labels


# --- DST -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rt_start", "before_label", "before_utc", "after_label", "after_utc"),
    [
        # Spring forward on Sunday 2027-03-28: 10:00 CET = 09:00 UTC before, 10:00 CEST = 08:00 UTC after.
        (date(2027, 3, 25), "DD2", utc(2027, 3, 27, 9), "DD4", utc(2027, 3, 29, 8)),
        # Fall back on Sunday 2026-10-25 and 2027-10-31: 08:00 UTC before, 09:00 UTC after.
        (date(2026, 10, 22), "DD2", utc(2026, 10, 24, 8), "DD4", utc(2026, 10, 26, 9)),
        (date(2027, 10, 28), "DD2", utc(2027, 10, 30, 8), "DD4", utc(2027, 11, 1, 9)),
    ],
)
def test_a_10am_send_stays_at_10am_local_across_a_dst_change(
    rt_start: date, before_label: str, before_utc: datetime, after_label: str, after_utc: datetime
) -> None:
    planned = by_label(plan(SPEC, rt_start=rt_start, fractions=1, enrolled_at=paris(2026, 1, 5, 10), tz=PARIS))
    assert planned[before_label].opens_at == before_utc
    assert planned[after_label].opens_at == after_utc
    change_day = planned["DD3"]  # the Sunday itself
    assert change_day.opens_at.astimezone(PARIS).time() == time(10)
    assert change_day.closes_at.astimezone(PARIS).time() == time(23, 59, 59)


def test_a_follow_up_window_spanning_the_spring_change_closes_at_local_midnight_minus_one_second() -> None:
    planned = by_label(plan(SPEC, rt_start=date(2027, 3, 1), fractions=1, enrolled_at=paris(2027, 2, 20, 9), tz=PARIS))
    assert planned["D30"].opens_at == utc(2027, 3, 28, 8)  # day 27, 10:00 CEST
    assert planned["D30"].closes_at == utc(2027, 4, 7, 21, 59, 59)  # day 37, 23:59:59 CEST


def test_the_next_day_reminder_is_23_hours_later_over_the_spring_change() -> None:
    sent = utc(2027, 3, 27, 9)  # 10:00 CET
    assert reminder_times(SPEC, sent_at=sent, closes_at=utc(2027, 4, 5), preferred="matin", tz=PARIS) == [
        utc(2027, 3, 27, 13),
        utc(2027, 3, 28, 8),
    ]


def test_the_next_day_reminder_is_25_hours_later_over_the_autumn_change() -> None:
    sent = utc(2026, 10, 24, 8)  # 10:00 CEST
    assert reminder_times(SPEC, sent_at=sent, closes_at=utc(2026, 11, 1), preferred="matin", tz=PARIS) == [
        utc(2026, 10, 24, 12),
        utc(2026, 10, 25, 9),
    ]


# --- enrolment time ------------------------------------------------------------------------------------------


def test_a_late_evening_enrolment_sends_the_baseline_at_8am() -> None:
    enrolled = paris(2026, 5, 31, 22, 30)
    planned = plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=enrolled, tz=PARIS)
    assert planned[0].timepoint == "baseline"
    assert planned[0].opens_at == paris(2026, 6, 1, 8, 0)
    assert planned[1].timepoint == "DD0" and planned[1].opens_at == paris(2026, 6, 1, 10, 0)


def test_an_enrolment_in_the_small_hours_waits_until_8am_the_same_day() -> None:
    planned = plan(SPEC, rt_start=date(2026, 6, 3), fractions=1, enrolled_at=paris(2026, 6, 1, 3, 15), tz=PARIS)
    assert planned[0].opens_at == paris(2026, 6, 1, 8, 0)


def test_an_enrolment_after_day_0_plans_a_late_baseline_and_nothing_whose_window_has_closed() -> None:
    start = date(2026, 6, 1)
    planned = plan(SPEC, rt_start=start, fractions=1, enrolled_at=paris(2026, 6, 22, 12), tz=PARIS)  # day 21
    assert [p.timepoint for p in planned] == [
        "baseline",
        "W22",
        "baseline_more",  # issue 35: the second part the next day, after the weekly check opening at the same time
        "D30",
        "W43",
        "W50",
        "D60",
        "W71",
        "W78",
        "W85",
        "D90",
    ]
    assert planned[0].opens_at == paris(2026, 6, 22, 12)
    assert planned[0].closes_at == paris(2026, 6, 23, 23, 59, 59)  # late_answer_days = 1 after joining


def test_an_enrolment_inside_an_open_window_opens_it_at_enrolment() -> None:
    enrolled = paris(2026, 6, 21, 14, 0)  # day 20, last day of the D15 window
    planned = plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=enrolled, tz=PARIS)
    assert [p.timepoint for p in planned[:2]] == ["baseline", "D15"]  # a late baseline first, then D15 follows
    assert planned[1].opens_at == enrolled
    assert planned[1].closes_at == paris(2026, 6, 21, 23, 59, 59)


def test_an_afternoon_enrolment_on_day_0_opens_baseline_then_diary_at_once() -> None:
    enrolled = paris(2026, 6, 1, 15, 0)
    planned = plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=enrolled, tz=PARIS)
    assert [(p.timepoint, p.opens_at) for p in planned[:2]] == [("baseline", enrolled), ("DD0", enrolled)]


def test_an_enrolment_on_day_0_at_night_still_gets_a_baseline_but_not_that_days_diary() -> None:
    planned = plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=paris(2026, 6, 1, 22, 30), tz=PARIS)
    assert [p.timepoint for p in planned[:2]] == ["baseline", "DD1"]
    assert planned[0].opens_at == paris(2026, 6, 2, 8, 0)  # for a message the bot starts; at once if present
    assert planned[0].closes_at == paris(2026, 6, 2, 23, 59, 59)
    assert "DD0" not in {p.timepoint for p in planned}


def test_the_baseline_is_due_until_the_first_fraction_and_a_later_answer_is_flagged() -> None:
    start = date(2026, 6, 1)
    assert rt_start_moment(SPEC, start, PARIS) == paris(2026, 6, 1, 8, 0)
    assert not answered_after_rt_start(SPEC, start, paris(2026, 6, 1, 7, 59, 59), PARIS)
    assert answered_after_rt_start(SPEC, start, paris(2026, 6, 1, 8, 0), PARIS)
    # Joined before the fraction: the usual window (end of day 0), no extension.
    assert baseline_closes_at(SPEC, rt_start=start, enrolled_at=paris(2026, 6, 1, 7, 0), tz=PARIS) == paris(
        2026, 6, 1, 23, 59, 59
    )
    # Joined after it on day 0: one more day to answer.
    assert baseline_closes_at(SPEC, rt_start=start, enrolled_at=paris(2026, 6, 1, 9, 0), tz=PARIS) == paris(
        2026, 6, 2, 23, 59, 59
    )


def test_a_present_patient_is_due_what_quiet_hours_hold_back_and_nothing_more() -> None:
    assert present_horizon(paris(2026, 6, 1, 23, 30), SPEC, PARIS) == paris(2026, 6, 2, 8, 0)
    assert present_horizon(paris(2026, 6, 1, 15, 0), SPEC, PARIS) == paris(2026, 6, 1, 15, 0)


# --- quiet hours ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        ((20, 59, 59), False),
        ((21, 0, 0), True),
        ((0, 0, 0), True),
        ((7, 59, 59), True),
        ((8, 0, 0), False),
        ((12, 0, 0), False),
    ],
)
def test_quiet_hours_run_from_21h_included_to_8h_excluded(local: tuple[int, int, int], quiet: bool) -> None:
    assert is_quiet(paris(2026, 6, 1, *local), SPEC, PARIS) is quiet


def test_quiet_hours_follow_local_time_not_utc() -> None:
    assert is_quiet(utc(2026, 6, 1, 19, 30), SPEC, PARIS)  # 21:30 CEST
    assert not is_quiet(utc(2026, 6, 1, 19, 30), SPEC, ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (paris(2026, 6, 1, 12, 0), paris(2026, 6, 1, 12, 0)),
        (paris(2026, 6, 1, 22, 0), paris(2026, 6, 2, 8, 0)),
        (paris(2026, 6, 2, 3, 0), paris(2026, 6, 2, 8, 0)),
        (paris(2027, 3, 27, 23, 0), paris(2027, 3, 28, 8, 0)),  # night of the spring change
    ],
)
def test_next_allowed_is_the_moment_itself_or_the_next_8am(moment: datetime, expected: datetime) -> None:
    assert next_allowed(moment, SPEC, PARIS) == expected


def test_the_trial_zone_is_used_when_none_is_given() -> None:
    assert next_allowed(paris(2026, 6, 1, 22, 0), SPEC) == paris(2026, 6, 2, 8, 0)


# --- reminders and the primary notice ------------------------------------------------------------------------


def test_a_morning_follow_up_is_reminded_4_hours_later_then_next_morning() -> None:
    sent = paris(2026, 6, 14, 10, 0)
    assert reminder_times(
        SPEC, sent_at=sent, closes_at=paris(2026, 6, 21, 23, 59, 59), preferred="matin", tz=PARIS
    ) == [paris(2026, 6, 14, 14, 0), paris(2026, 6, 15, 10, 0)]


def test_an_evening_send_drops_the_4_hour_reminder_that_would_fall_in_quiet_hours() -> None:
    sent = paris(2026, 6, 14, 18, 0)
    assert reminder_times(SPEC, sent_at=sent, closes_at=paris(2026, 6, 21, 23, 59, 59), preferred="soir", tz=PARIS) == [
        paris(2026, 6, 15, 18, 0)
    ]


def test_a_diary_gets_only_the_same_day_reminder_and_none_when_sent_in_the_evening() -> None:
    close = paris(2026, 6, 14, 23, 59, 59)
    assert reminder_times(SPEC, sent_at=paris(2026, 6, 14, 12, 30), closes_at=close, preferred="midi", tz=PARIS) == [
        paris(2026, 6, 14, 16, 30)
    ]
    assert reminder_times(SPEC, sent_at=paris(2026, 6, 14, 18, 0), closes_at=close, preferred="soir", tz=PARIS) == []


def test_a_reminder_at_the_closing_moment_is_not_planned() -> None:
    sent = paris(2026, 6, 14, 10, 0)
    assert reminder_times(SPEC, sent_at=sent, closes_at=paris(2026, 6, 14, 14, 0), tz=PARIS) == []


def test_a_send_in_the_small_hours_to_a_present_patient_is_reminded_that_same_morning() -> None:
    sent = paris(2026, 6, 1, 0, 5)  # joined at 00:05 on day 0: the baseline closes tonight
    assert reminder_times(SPEC, sent_at=sent, closes_at=paris(2026, 6, 1, 23, 59, 59), preferred="matin", tz=PARIS) == [
        paris(2026, 6, 1, 10, 0)
    ]
    late = paris(2026, 6, 1, 23, 30)  # before midnight: the next day's preferred time, as for any evening send
    assert reminder_times(SPEC, sent_at=late, closes_at=paris(2026, 6, 3), preferred="matin", tz=PARIS) == [
        paris(2026, 6, 2, 10, 0)
    ]


def test_a_delayed_evening_send_is_reminded_at_the_preferred_time_next_day() -> None:
    sent = paris(2026, 6, 14, 19, 0)
    assert reminder_times(SPEC, sent_at=sent, closes_at=paris(2026, 6, 20), preferred="matin", tz=PARIS) == [
        paris(2026, 6, 15, 10, 0)
    ]


def test_day_30_gets_a_closes_tomorrow_notice_the_day_before_its_last_day() -> None:
    start = date(2026, 6, 1)
    planned = by_label(plan(SPEC, rt_start=start, fractions=1, enrolled_at=EARLY, preferred="soir", tz=PARIS))
    assert primary_notice_time(SPEC, planned["D30"], PARIS) == paris(2026, 7, 7, 18, 0)  # day 36
    assert primary_notice_time(SPEC, planned["D15"], PARIS) is None
    assert primary_notice_time(SPEC, planned["DD0"], PARIS) is None


def test_an_unanswered_day_30_goes_on_the_call_list_two_days_before_its_window_closes() -> None:
    start = date(2026, 6, 1)
    planned = by_label(plan(SPEC, rt_start=start, fractions=1, enrolled_at=EARLY, preferred="soir", tz=PARIS))
    assert SPEC.call_list.days_before_close == 2
    assert call_list_time(SPEC, planned["D30"], PARIS) == paris(2026, 7, 6, 18, 0)  # day 35, window ends day 37
    assert call_list_time(SPEC, planned["D15"], PARIS) is None
    late = by_label(plan(SPEC, rt_start=start, fractions=1, enrolled_at=paris(2026, 7, 7, 12, 0), tz=PARIS))
    assert call_list_time(SPEC, late["D30"], PARIS) == late["D30"].opens_at  # listed from its opening


def test_no_separate_notice_when_the_primary_window_opened_that_same_day() -> None:
    enrolled = paris(2026, 7, 7, 12, 0)  # day 36
    planned = by_label(plan(SPEC, rt_start=date(2026, 6, 1), fractions=1, enrolled_at=enrolled, tz=PARIS))
    assert planned["D30"].opens_at == enrolled
    assert primary_notice_time(SPEC, planned["D30"], PARIS) is None


# --- properties ----------------------------------------------------------------------------------------------

ZONES = [PARIS, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("America/Santiago")]


@settings(max_examples=150, deadline=None)
@given(
    rt_start=st.dates(min_value=date(2024, 1, 1), max_value=date(2035, 12, 31)),
    fractions=st.integers(min_value=1, max_value=10),
    enrolment_offset=st.integers(min_value=-14 * 24 * 60, max_value=100 * 24 * 60),
    preferred=st.sampled_from(sorted(SPEC.send_times.choices)),
    tz=st.sampled_from(ZONES),
)
def test_every_planned_send_reminder_and_notice_is_outside_quiet_hours_and_inside_its_window(
    rt_start: date, fractions: int, enrolment_offset: int, preferred: str, tz: ZoneInfo
) -> None:
    enrolled_at = datetime.combine(rt_start, time(0), tzinfo=UTC) + timedelta(minutes=enrolment_offset)
    planned = plan(SPEC, rt_start=rt_start, fractions=fractions, enrolled_at=enrolled_at, preferred=preferred, tz=tz)
    assert len({p.timepoint for p in planned}) == len(planned)
    assert [p.opens_at for p in planned] == sorted(p.opens_at for p in planned)
    for p in planned:
        assert enrolled_at <= p.opens_at < p.closes_at
        assert not is_quiet(p.opens_at, SPEC, tz)
        assert p.closes_at.astimezone(tz).time() == SPEC.day_end
        for r in reminder_times(SPEC, sent_at=p.opens_at, closes_at=p.closes_at, preferred=preferred, tz=tz):
            assert p.opens_at < r < p.closes_at
            assert not is_quiet(r, SPEC, tz)
        notice = primary_notice_time(SPEC, p, tz)
        if notice is not None:
            assert p.primary and p.opens_at < notice < p.closes_at and not is_quiet(notice, SPEC, tz)


@settings(max_examples=150, deadline=None)
@given(
    sent_minute=st.integers(min_value=0, max_value=3 * 365 * 24 * 60),
    open_minutes=st.integers(min_value=1, max_value=12 * 24 * 60),
    preferred=st.sampled_from(sorted(SPEC.send_times.choices)),
    tz=st.sampled_from(ZONES),
)
def test_reminders_after_any_send_time_are_outside_quiet_hours_and_before_closing(
    sent_minute: int, open_minutes: int, preferred: str, tz: ZoneInfo
) -> None:
    sent = utc(2026, 1, 1) + timedelta(minutes=sent_minute)
    closes = sent + timedelta(minutes=open_minutes)
    reminders = reminder_times(SPEC, sent_at=sent, closes_at=closes, preferred=preferred, tz=tz)
    assert reminders == sorted(set(reminders))
    assert len(reminders) <= 1 + SPEC.reminders.next_day_count
    for r in reminders:
        assert sent < r < closes and not is_quiet(r, SPEC, tz)


def test_the_loaded_spec_cannot_be_changed_by_accident() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        SPEC.quiet_hours.start = time(22)  # type: ignore[misc]
    assert isinstance(SPEC, ScheduleSpec)
