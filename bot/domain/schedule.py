"""The protocol schedule: what is sent when, and until when an answer counts.

The time points, windows, send times, quiet hours and reminder rules are trial data
(`questionnaires/schedule.yaml`, sources cited there and in `docs/clinical/schedule.md`); this module only
validates that file and turns it into concrete UTC moments for one patient. Everything here is pure: no clock, no
I/O except `load_schedule`, no Telegram, no database, so the planner can be tested over years of calendar in
milliseconds and re-run identically when a patient's data is re-derived.

Time rules (why they look like this):
- Every datetime in and out is timezone-aware UTC, as stored (`bot/clock.py`).
- A local wall time ("10:00 on study day 4") is built by combining the local date with the time in the trial's
  zone and converting to UTC, never by adding timedeltas to a local time: on the last Sundays of March and
  October a day lasts 23 or 25 hours and "same time tomorrow" is not "+24 h".
- The only elapsed-time arithmetic is the "+4 h" reminder, which really is a duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain.yaml_io import load_yaml
from bot.resources import data_path

DEFAULT_SCHEDULE_PATH = data_path("questionnaires") / "schedule.yaml"

#: Radiotherapy is delivered Monday to Friday (`datetime.weekday()` 0-4): a multi-fraction course skips weekends.
#: French public holidays are deliberately NOT skipped: they vary by year and centre, and a centre that does not
#: treat on a holiday records the real first-fraction date and the planner stays simple. Not a clinical number,
#: a calendar convention (schedule.md: "20 Gy x 5 on consecutive working days").
WORKING_WEEKDAYS: frozenset[int] = frozenset({0, 1, 2, 3, 4})

#: Largest study day checked when proving that two label templates can never produce the same timepoint.
_LABEL_CHECK_DAYS = 1000

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


class ScheduleFileError(ValueError):
    """The schedule file is missing, is not YAML, or does not describe a valid schedule."""


def _parse_local_time(value: Any) -> Any:
    """Accept only quoted "HH:MM" / "HH:MM:SS" strings.

    YAML 1.1 reads an unquoted 10:00 as the sexagesimal integer 600, which pydantic would happily turn into
    00:10:00; refusing anything but a string makes that mistake an error instead of a 00:10 send time.
    """
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise ValueError(f'expected a quoted local time "HH:MM" or "HH:MM:SS", got {value!r}')
    return time.fromisoformat(value)


LocalTime = Annotated[time, BeforeValidator(_parse_local_time)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _check_day_template(template: Any) -> str:
    """A label template must contain `{day}` and nothing else to format."""
    if not isinstance(template, str):
        raise ValueError(f"label must be a string, got {template!r}")
    if "{day}" not in template:
        raise ValueError(f"label {template!r} must contain '{{day}}'")
    try:
        template.format(day=0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"label {template!r} is not a valid template: {exc}") from exc
    return template


class _Model(BaseModel):
    """Immutable, and an unknown key is an error (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeZoneSpec(_Model):
    name: Name
    source: Source

    @field_validator("name")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name


class SendTimes(_Model):
    default: Name
    choices: dict[Name, LocalTime] = Field(min_length=1)
    source: Source

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> SendTimes:
        if self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices {sorted(self.choices)}")
        return self


class QuietHours(_Model):
    """Nothing is sent from `start` (included) to `end` (excluded), local time; may wrap past midnight."""

    start: LocalTime
    end: LocalTime
    source: Source

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are equal: quiet hours would be empty or the whole day")
        return self


class Reminders(_Model):
    after_send_hours: float = Field(gt=0)
    next_day_count: int = Field(ge=0)
    source: Source


class BaselineSpec(_Model):
    questionnaire: Name
    label: Name
    closes_on_day: int
    rt_start_time: LocalTime
    late_answer_days: int = Field(ge=0)
    source: Source


class BaselineMoreSpec(_Model):
    """The second part of the baseline (issue 35): what need not be known before the first fraction.

    Opens at the preferred send time `after_days` local days after the day the first part could first be sent, so
    it never comes before (nor blocks) the first part. Its window lasts up to `window_days` local days, but ends on
    the last day before any other questionnaire opens: the bot sends one questionnaire at a time, and an open second
    part must never hold back a diary (the pain-flare end point) or a follow-up.
    """

    questionnaire: Name
    label: Name
    after_days: int = Field(ge=1)
    window_days: int = Field(ge=1)
    source: Source


class DailySpec(_Model):
    questionnaire: Name
    label: Annotated[str, BeforeValidator(_check_day_template)]
    first_day: int = Field(ge=0)
    days_after_last_fraction: int = Field(ge=0)
    source: Source


class FollowupTimepoint(_Model):
    day: int = Field(ge=1)
    days_before: int = Field(ge=0)
    days_after: int = Field(ge=0)
    primary: bool = False


class FollowupSpec(_Model):
    questionnaire: Name
    label: Annotated[str, BeforeValidator(_check_day_template)]
    source: Source
    timepoints: list[FollowupTimepoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_days_one_primary(self) -> FollowupSpec:
        days = [tp.day for tp in self.timepoints]
        if len(set(days)) != len(days):
            raise ValueError(f"timepoints: the same day appears twice in {days}")
        primaries = [tp.day for tp in self.timepoints if tp.primary]
        if len(primaries) > 1:
            raise ValueError(f"timepoints: at most one primary time point, got days {primaries}")
        return self


class WeeklySpec(_Model):
    questionnaire: Name
    label: Annotated[str, BeforeValidator(_check_day_template)]
    first_day: int = Field(ge=0)
    every_days: int = Field(ge=1)
    last_day: int = Field(ge=0)
    window_days: int = Field(ge=1)
    source: Source

    @model_validator(mode="after")
    def _ordered(self) -> WeeklySpec:
        if self.last_day < self.first_day:
            raise ValueError(f"last_day {self.last_day} is before first_day {self.first_day}")
        return self


class PrimaryNoticeSpec(_Model):
    days_before_close: int = Field(ge=1)
    source: Source


class CallListSpec(_Model):
    days_before_close: int = Field(ge=0)
    source: Source


class ScheduleSpec(_Model):
    """The whole schedule file (`questionnaires/schedule.yaml`); see that file for the meaning of each field."""

    schema_version: Literal[1]
    timezone: TimeZoneSpec
    day_end: LocalTime
    day_end_source: Source
    send_times: SendTimes
    quiet_hours: QuietHours
    reminders: Reminders
    baseline: BaselineSpec
    #: None: a baseline in one part (schedule files written before issue 35's split still load).
    baseline_more: BaselineMoreSpec | None = None
    daily: DailySpec
    followups: FollowupSpec
    weekly: WeeklySpec
    primary_notice: PrimaryNoticeSpec
    call_list: CallListSpec

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleSpec:
        for name, at in self.send_times.choices.items():
            if _time_is_quiet(at, self.quiet_hours):
                raise ValueError(
                    f"send_times.choices.{name}: {at:%H:%M} is inside quiet_hours "
                    f"{self.quiet_hours.start:%H:%M}-{self.quiet_hours.end:%H:%M}"
                )
        self._check_labels_never_collide()
        return self

    def _check_labels_never_collide(self) -> None:
        """Timepoint labels key storage and exports, so two kinds may never share one, on any study day."""
        seen: dict[str, str] = {self.baseline.label: "baseline.label"}
        if self.baseline_more is not None:
            if self.baseline_more.label in seen:
                raise ValueError(f"baseline_more.label: {self.baseline_more.label!r} is already baseline.label")
            seen[self.baseline_more.label] = "baseline_more.label"
        for field, template in (
            ("daily.label", self.daily.label),
            ("followups.label", self.followups.label),
            ("weekly.label", self.weekly.label),
        ):
            mine = {template.format(day=d) for d in range(_LABEL_CHECK_DAYS + 1)}
            for label in mine:
                if label in seen:
                    raise ValueError(f"{field}: {template!r} produces {label!r}, already produced by {seen[label]}")
            seen.update(dict.fromkeys(mine, field))

    def zone(self) -> ZoneInfo:
        """The trial's time zone (default for every function taking `tz=None`)."""
        return ZoneInfo(self.timezone.name)

    def send_time(self, preferred: str | None = None) -> time:
        """Local send time for a preference key (`matin`, `midi`, `soir`); None means the default."""
        key = self.send_times.default if preferred is None else preferred
        try:
            return self.send_times.choices[key]
        except KeyError:
            raise ValueError(
                f"unknown preferred send time {key!r}; choose one of {sorted(self.send_times.choices)}"
            ) from None


def load_schedule(path: str | Path = DEFAULT_SCHEDULE_PATH) -> ScheduleSpec:
    """Read and validate a schedule file; every problem is reported as `file: field: reason`."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleFileError(f"{path}: cannot read schedule file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ScheduleFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ScheduleFileError(f"{path}: expected a mapping of schedule fields, got {type(raw).__name__}")
    try:
        return ScheduleSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"{path}: {where}: {error['msg']}")
        raise ScheduleFileError("invalid schedule file\n" + "\n".join(problems)) from exc


@dataclass(frozen=True)
class PlannedInstance:
    """One questionnaire to send to one patient, with its answer window."""

    questionnaire_id: str
    timepoint: str  # stable label: "baseline", "baseline_more", "DD0".."DD16" (daily diary), "D15".."D90", "W22"..
    day: int | None  # study day relative to day 0 (None for baseline)
    opens_at: datetime  # UTC, first moment it may be sent: outside quiet hours, not before enrolment
    closes_at: datetime  # UTC, last moment an answer is accepted (inclusive)
    primary: bool  # True for the primary end point (day 30)


def fraction_days(rt_start: date, fractions: int) -> list[date]:
    """Dates of the radiotherapy fractions.

    `rt_start` is day 0 and always the first fraction, even on a weekend day; the following fractions fall on the
    next working days (WORKING_WEEKDAYS). Public holidays are not skipped (see WORKING_WEEKDAYS).
    """
    if fractions < 1:
        raise ValueError(f"fractions must be at least 1, got {fractions}")
    days = [rt_start]
    current = rt_start
    while len(days) < fractions:
        current += timedelta(days=1)
        if current.weekday() in WORKING_WEEKDAYS:
            days.append(current)
    return days


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment!r}")


def _zone(spec: ScheduleSpec, tz: ZoneInfo | None) -> ZoneInfo:
    return spec.zone() if tz is None else tz


def _at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `at` on local date `day`.

    An ambiguous wall time (autumn fall-back) is its first occurrence; a nonexistent one (spring gap) is read with
    the pre-transition offset, i.e. it lands just after the gap. Neither happens for 08:00-21:00 in Europe/Paris.
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _time_is_quiet(local: time, quiet: QuietHours) -> bool:
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def is_quiet(moment: datetime, spec: ScheduleSpec, tz: ZoneInfo | None = None) -> bool:
    """True when `moment` falls in the quiet hours (local time), when nothing may be sent."""
    _require_aware(moment, "moment")
    local = moment.astimezone(_zone(spec, tz)).time()
    return _time_is_quiet(local, spec.quiet_hours)


def next_allowed(moment: datetime, spec: ScheduleSpec, tz: ZoneInfo | None = None) -> datetime:
    """`moment` itself (in UTC) if sending is allowed then, else the end of these quiet hours (08:00 local)."""
    zone = _zone(spec, tz)
    if not is_quiet(moment, spec, zone):
        return moment.astimezone(UTC)
    local_day = moment.astimezone(zone).date()
    candidate = _at_local(local_day, spec.quiet_hours.end, zone)
    if candidate <= moment:
        candidate = _at_local(local_day + timedelta(days=1), spec.quiet_hours.end, zone)
    return candidate


@dataclass(frozen=True)
class _Candidate:
    rank: int  # tie-break when two instances open at the same moment: baseline, daily, follow-up, weekly, part 2
    questionnaire_id: str
    timepoint: str
    day: int | None
    nominal_open: datetime
    closes_at: datetime
    primary: bool


def _diary_days(spec: ScheduleSpec, rt_start: date, fractions: int) -> range:
    last_fraction_day = (fraction_days(rt_start, fractions)[-1] - rt_start).days
    return range(spec.daily.first_day, last_fraction_day + spec.daily.days_after_last_fraction + 1)


def _weekly_days(spec: ScheduleSpec, diary_days: range) -> list[int]:
    """Weekly check days: the grid of the YAML, minus any whose window meets a diary day or a follow-up window."""
    blocked = set(diary_days)
    for tp in spec.followups.timepoints:
        blocked.update(range(tp.day - tp.days_before, tp.day + tp.days_after + 1))
    weekly = spec.weekly
    return [
        day
        for day in range(weekly.first_day, weekly.last_day + 1, weekly.every_days)
        if blocked.isdisjoint(range(day, day + weekly.window_days))
    ]


def plan(
    spec: ScheduleSpec,
    *,
    rt_start: date,
    fractions: int,
    enrolled_at: datetime,
    preferred: str | None = None,
    tz: ZoneInfo | None = None,
) -> list[PlannedInstance]:
    """Every questionnaire instance for one patient, ordered by opens_at (ties: baseline, daily, follow-up, weekly).

    Each window opens at the preferred send time on its first study day and closes at `day_end` on its last one.
    The baseline is always planned, even after day 0 (`baseline_closes_at`). Nothing opens before enrolment: an instance whose window is already open at enrolment opens at enrolment
    (moved out of quiet hours), like the baseline; one that could then not be sent before its window closes
    (window already closed, or enrolment at 22:30 on the diary's own day) is not planned.
    """
    _require_aware(enrolled_at, "enrolled_at")
    zone = _zone(spec, tz)
    send_at = spec.send_time(preferred)

    def study_date(day: int) -> date:
        return rt_start + timedelta(days=day)

    def opening(day: int) -> datetime:
        return next_allowed(_at_local(study_date(day), send_at, zone), spec, zone)

    def closing(day: int) -> datetime:
        return _at_local(study_date(day), spec.day_end, zone)

    earliest = next_allowed(enrolled_at, spec, zone)
    candidates = [
        _Candidate(
            0,
            spec.baseline.questionnaire,
            spec.baseline.label,
            None,
            earliest,
            baseline_closes_at(spec, rt_start=rt_start, enrolled_at=enrolled_at, tz=zone),
            False,
        )
    ]
    diary_days = _diary_days(spec, rt_start, fractions)
    candidates += [
        _Candidate(
            1, spec.daily.questionnaire, spec.daily.label.format(day=day), day, opening(day), closing(day), False
        )
        for day in diary_days
    ]
    candidates += [
        _Candidate(
            2,
            spec.followups.questionnaire,
            spec.followups.label.format(day=tp.day),
            tp.day,
            opening(tp.day - tp.days_before),
            closing(tp.day + tp.days_after),
            tp.primary,
        )
        for tp in spec.followups.timepoints
    ]
    candidates += [
        _Candidate(
            3,
            spec.weekly.questionnaire,
            spec.weekly.label.format(day=day),
            day,
            opening(day),
            closing(day + spec.weekly.window_days - 1),
            False,
        )
        for day in _weekly_days(spec, diary_days)
    ]

    if spec.baseline_more is not None:
        candidates.append(_baseline_more(spec, candidates, earliest, send_at, zone))

    planned: list[tuple[datetime, int, int, PlannedInstance]] = []
    for c in candidates:
        opens_at = max(c.nominal_open, earliest)
        if opens_at >= c.closes_at:
            continue
        instance = PlannedInstance(c.questionnaire_id, c.timepoint, c.day, opens_at, c.closes_at, c.primary)
        planned.append((opens_at, c.rank, -1 if c.day is None else c.day, instance))
    planned.sort(key=lambda item: item[:3])
    result = [item[3] for item in planned]

    labels = [p.timepoint for p in result]
    if len(set(labels)) != len(labels):  # the loader forbids this; kept as a guard for hand-built specs
        raise ValueError(f"timepoint labels collide: {labels}")
    return result


def _baseline_more(
    spec: ScheduleSpec, others: list[_Candidate], earliest: datetime, send_at: time, zone: ZoneInfo
) -> _Candidate:
    """The second part of the baseline (`BaselineMoreSpec`): `after_days` after the first part could be sent, open
    until the last day before another questionnaire opens (at least its own first day), at most `window_days`.

    Ranked after everything else, so on a day when a diary opens at the same time the diary goes first and the
    second part follows it."""
    more = spec.baseline_more
    assert more is not None
    first_day = earliest.astimezone(zone).date() + timedelta(days=more.after_days)
    busy = {max(c.nominal_open, earliest).astimezone(zone).date() for c in others if c.rank != 0}
    last_day = first_day
    while (last_day - first_day).days + 1 < more.window_days and last_day + timedelta(days=1) not in busy:
        last_day += timedelta(days=1)
    return _Candidate(
        4,
        more.questionnaire,
        more.label,
        None,
        next_allowed(_at_local(first_day, send_at, zone), spec, zone),
        _at_local(last_day, spec.day_end, zone),
        False,
    )


def rt_start_moment(spec: ScheduleSpec, rt_start: date, tz: ZoneInfo | None = None) -> datetime:
    """The UTC moment the first fraction starts: `baseline.rt_start_time` (local) on day 0.

    The baseline is due until then; an answer given later is kept but flagged "after RT start" in the exports,
    because pain measured after the first fraction is no longer a pre-treatment value (pain-response.md).
    """
    return _at_local(rt_start, spec.baseline.rt_start_time, _zone(spec, tz))


def answered_after_rt_start(
    spec: ScheduleSpec, rt_start: date, answered_at: datetime, tz: ZoneInfo | None = None
) -> bool:
    """True when a baseline answer was given at or after the start of the first fraction."""
    _require_aware(answered_at, "answered_at")
    return answered_at >= rt_start_moment(spec, rt_start, tz)


def baseline_closes_at(
    spec: ScheduleSpec, *, rt_start: date, enrolled_at: datetime, tz: ZoneInfo | None = None
) -> datetime:
    """Last moment a baseline answer is accepted.

    Normally `day_end` on `baseline.closes_on_day`. A patient who joins at or after the start of the first
    fraction still gets a baseline (a late one, flagged in the exports, better than none for the primary
    end point): its window then also covers `late_answer_days` local days after the day of joining, so an evening
    join can be answered the next day.
    """
    zone = _zone(spec, tz)
    closes = _at_local(rt_start + timedelta(days=spec.baseline.closes_on_day), spec.day_end, zone)
    if enrolled_at >= rt_start_moment(spec, rt_start, zone):
        joined_day = enrolled_at.astimezone(zone).date()
        closes = max(closes, _at_local(joined_day + timedelta(days=spec.baseline.late_answer_days), spec.day_end, zone))
    return closes


def present_horizon(now: datetime, spec: ScheduleSpec, tz: ZoneInfo | None = None) -> datetime:
    """Up to when an instance counts as due for a patient who is in the chat right now.

    Quiet hours protect patients from messages the bot starts; they must not silence a patient who is talking to
    the bot. The planner moves an opening that falls in quiet hours to their end (`next_allowed`), so during quiet
    hours everything opening by the end of these quiet hours is due now for a present patient; outside them,
    exactly what is due for the bot.
    """
    return next_allowed(now, spec, tz)


def reminder_times(
    spec: ScheduleSpec,
    *,
    sent_at: datetime,
    closes_at: datetime,
    preferred: str | None = None,
    tz: ZoneInfo | None = None,
) -> list[datetime]:
    """Reminder moments (UTC, ascending) for a questionnaire sent at `sent_at` and open until `closes_at`.

    `after_send_hours` after the send (elapsed time), dropped if that falls in quiet hours (reason in the YAML);
    then at the preferred time on each of the next `next_day_count` local days. Only moments strictly after the
    send and strictly before `closes_at` are kept, so a same-day diary sent at 18:00 gets none.
    """
    _require_aware(sent_at, "sent_at")
    _require_aware(closes_at, "closes_at")
    zone = _zone(spec, tz)
    send_at = spec.send_time(preferred)
    sent_utc = sent_at.astimezone(UTC)

    moments: set[datetime] = set()
    first = sent_utc + timedelta(hours=spec.reminders.after_send_hours)
    if not is_quiet(first, spec, zone):
        moments.add(first)
    sent_local = sent_at.astimezone(zone)
    sent_day = sent_local.date()
    if is_quiet(sent_at, spec, zone) and sent_local.time() < spec.quiet_hours.end:
        # Sent in the small hours to a patient who was in the chat: "the next day" is the morning that follows.
        sent_day -= timedelta(days=1)
    for offset in range(1, spec.reminders.next_day_count + 1):
        moments.add(next_allowed(_at_local(sent_day + timedelta(days=offset), send_at, zone), spec, zone))
    return sorted(m for m in moments if sent_utc < m < closes_at)


def primary_notice_time(spec: ScheduleSpec, instance: PlannedInstance, tz: ZoneInfo | None = None) -> datetime | None:
    """When to give the "closes tomorrow" notice for the primary time point, or None.

    `days_before_close` local days before the window's last day, at the local time the window opened (the
    patient's preferred time). None for a non-primary instance, or when that moment is not strictly inside the
    window (a patient enrolled so late that the window opened on that very day gets no separate notice).
    """
    if not instance.primary:
        return None
    zone = _zone(spec, tz)
    last_day = instance.closes_at.astimezone(zone).date()
    at = instance.opens_at.astimezone(zone).time()
    notice_day = last_day - timedelta(days=spec.primary_notice.days_before_close)
    notice = next_allowed(_at_local(notice_day, at, zone), spec, zone)
    if instance.opens_at < notice < instance.closes_at:
        return notice
    return None


def call_list_time(spec: ScheduleSpec, instance: PlannedInstance, tz: ZoneInfo | None = None) -> datetime | None:
    """When a still unanswered primary (day-30) questionnaire puts the patient on the coordinators' call list.

    `call_list.days_before_close` local days before the window's last day, at the local time the window opened
    (the patient's preferred time), after the patient's own reminders; never before the window opens (a patient
    whose window opened later is listed from its opening). None for a non-primary instance.
    """
    if not instance.primary:
        return None
    zone = _zone(spec, tz)
    last_day = instance.closes_at.astimezone(zone).date()
    at = instance.opens_at.astimezone(zone).time()
    listed = next_allowed(_at_local(last_day - timedelta(days=spec.call_list.days_before_close), at, zone), spec, zone)
    return min(max(listed, instance.opens_at), instance.closes_at)
