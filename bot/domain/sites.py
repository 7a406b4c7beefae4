"""The trial sites: who a patient calls, and when the team can call back.

A site is configuration, not code: each hospital writes its own entry in the sites file (`questionnaires/sites.yaml`
by default, `BOT_SITES_FILE` to use another). Every patient advice that says "call" names the site's numbers, so a
site without a daytime and an on-call number is refused at start-up, naming the site: an advice without a number to
call is worse than none.

Working hours decide what the same-day advice may promise ("the team will call you today" is only true on a working
day, before closing time). Public holidays come from the `holidays` package (French calendar, with the local
subdivision when a site has one: Alsace-Moselle keeps Good Friday and 26 December).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.yaml_io import load_yaml

#: A French phone number as patients dial it: digits, spaces, dots; a leading + for international form.
_PHONE = re.compile(r"^\+?[0-9][0-9 .]{1,18}[0-9]$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


#: Default same-day cut-off: an alert raised later than this before closing is not promised a call "today". The team
#: needs time to read the alert, reach the patient (often more than one attempt) and act (a prescription, a
#: consultation) before it leaves; one hour is the project's choice, to be set per site (`same_day_cutoff`) by the
#: site's clinicians (docs/clinical/alerts.md, "same day").
DEFAULT_CUTOFF_BEFORE_CLOSING = timedelta(hours=1)


#: The example file's default site (bot.domain.enrolment.DEFAULT_SITE), used only while every site is an example.
EXAMPLE_DEFAULT_SITE = "main"


class SitesFileError(ValueError):
    """The sites file is unreadable or invalid; the message names the file, the site and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingHours(_Model):
    """When the team answers the phone and calls patients back: Monday to Friday (by default), local time."""

    start: str = "09:00"
    end: str = "17:00"
    #: ISO weekdays (1 = Monday … 7 = Sunday) the team works.
    days: tuple[int, ...] = (1, 2, 3, 4, 5)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time written HH:MM")
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(day not in range(1, 8) for day in value):
            raise ValueError("days are ISO weekdays 1 (Monday) to 7 (Sunday)")
        return value

    @model_validator(mode="after")
    def _order(self) -> WorkingHours:
        if self.start_time >= self.end_time:
            raise ValueError("start must be before end")
        return self

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


#: A Telegram username as written in the sites file: "@" then 5 to 32 letters, digits or underscores.
_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


class OnCallClinician(_Model):
    """A clinician named by numeric Telegram id (no username), with the name shown in the group."""

    id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=64)


class Escalation(_Model):
    """The ladder of an urgent alert nobody has taken care of (issue 32; docs/clinical/alert-ladder.md).

    Minutes between the rungs, each counted from the previous one: the first post, `reminders` numbered re-posts
    every `reminder_minutes`, then (step 1) a re-post naming the site's on-call clinicians after
    `on_call_after_minutes`, then (step 2) after `patient_after_minutes` the patient is told plainly that the team
    has not seen their message yet and to call the on-call number or 15 now. The alert stays urgent in every digest
    until someone takes it. The defaults follow the urgent ("red") arm of the UKONS 24-hour triage tool (an urgent
    problem is assessed without delay) and issue #5's 15-minute reminders; the numbers are the site's to set from its
    own on-call policy, and `source` says where they come from.
    """

    reminder_minutes: int = Field(default=15, ge=1, le=240)
    reminders: int = Field(default=3, ge=0, le=10)
    on_call_after_minutes: int = Field(default=15, ge=1, le=240)
    patient_after_minutes: int = Field(default=30, ge=1, le=480)
    #: Telegram usernames ("@dr_martin"), numeric ids (123456789) or {id:, name:} of the clinicians on call.
    on_call_clinicians: tuple[str | int | OnCallClinician, ...] = ()
    source: str = Field(
        default="UKONS 24-hour triage tool (urgent: assess at once) ; issue #5 (rappel toutes les 15 min) ; "
        "à régler par le site selon sa propre politique d'astreinte",
        min_length=1,
    )

    @field_validator("on_call_clinicians")
    @classmethod
    def _clinicians(cls, value: tuple[str | int | OnCallClinician, ...]) -> tuple[str | int | OnCallClinician, ...]:
        for entry in value:
            if isinstance(entry, str) and not _USERNAME.match(entry):
                raise ValueError(f"{entry!r} is neither a Telegram @username nor a numeric id")
            if isinstance(entry, int) and entry <= 0:
                raise ValueError(f"{entry!r} is not a Telegram user id")
        return value


class Site(_Model):
    """One site: its numbers, its hours and its public-holiday calendar."""

    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    name: str = Field(min_length=1)
    daytime_phone: str | None = None
    on_call_phone: str | None = None
    working_hours: WorkingHours = WorkingHours()
    #: `holidays` subdivision of France (e.g. "57" for Moselle), or None for the national calendar.
    holiday_subdivision: str | None = None
    #: Example entries shipped with the project (sandbox, demo, tests): a real deployment replaces them.
    example: bool = False
    #: The ladder of an urgent alert left unacknowledged (issue 32); the defaults when the file has none.
    escalation: Escalation = Escalation()
    #: The last time of a working day at which a same-day alert can still be promised a call "today" (issue 32).
    #: Default: `DEFAULT_CUTOFF_BEFORE_CLOSING` before the end of working hours.
    same_day_cutoff: str | None = None

    @field_validator("daytime_phone", "on_call_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError(f"{value!r} is not a phone number")
        return value

    @field_validator("same_day_cutoff")
    @classmethod
    def _cutoff(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time written HH:MM")
        return value

    @model_validator(mode="after")
    def _cutoff_in_hours(self) -> Site:
        if self.same_day_cutoff is not None and not (
            self.working_hours.start_time < time.fromisoformat(self.same_day_cutoff) <= self.working_hours.end_time
        ):
            raise ValueError("same_day_cutoff must be after the start and no later than the end of working hours")
        return self

    @property
    def cutoff_time(self) -> time:
        """`same_day_cutoff`, or `DEFAULT_CUTOFF_BEFORE_CLOSING` before closing (never before opening)."""
        if self.same_day_cutoff is not None:
            return time.fromisoformat(self.same_day_cutoff)
        hours = self.working_hours
        end = datetime.combine(date.min, hours.end_time) - DEFAULT_CUTOFF_BEFORE_CLOSING
        return max(end.time(), hours.start_time)

    @field_validator("holiday_subdivision")
    @classmethod
    def _subdivision(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.France.subdivisions:
            raise ValueError(f"unknown French subdivision {value!r} (see the `holidays` package)")
        return value


@dataclass(frozen=True)
class Sites:
    """The validated sites, by code."""

    by_code: Mapping[str, Site]
    origin: str = "<memory>"

    def get(self, code: str) -> Site | None:
        return self.by_code.get(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.by_code)

    @property
    def has_examples(self) -> bool:
        return any(site.example for site in self.by_code.values())

    @property
    def enrolment_default(self) -> str | None:
        """The site of an enrolment that names none: the only site; in the example file (sandbox, demo, tests: never
        with a real token, `bot.__main__.require_real_sites`) the example site "main"; otherwise None, and the
        clinician must name the site (issue 32)."""
        if len(self.by_code) == 1:
            return next(iter(self.by_code))
        if all(site.example for site in self.by_code.values()) and EXAMPLE_DEFAULT_SITE in self.by_code:
            return EXAMPLE_DEFAULT_SITE
        return None

    def require(self, codes: Iterable[str]) -> None:
        """Refuse patients' sites missing from the file (start-up): their advice would have no number."""
        missing = sorted(set(codes) - set(self.by_code))
        if missing:
            raise SitesFileError(f"{self.origin}: site {missing[0]!r} has patients but no entry with its phone numbers")


def parse_sites(document: object, *, origin: str = "<memory>") -> Sites:
    if not isinstance(document, Mapping) or not isinstance(document.get("sites"), list) or not document["sites"]:
        raise SitesFileError(f"{origin}: expected a mapping with a non-empty `sites:` list")
    found: dict[str, Site] = {}
    for position, raw in enumerate(document["sites"], start=1):
        label = raw.get("code") if isinstance(raw, Mapping) and raw.get("code") else f"#{position}"
        try:
            site = Site.model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem.get("loc", ()))
            message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
            raise SitesFileError(f"{origin}: site {label}: {where + ': ' if where else ''}{message}") from exc
        if site.code in found:
            raise SitesFileError(f"{origin}: site {site.code}: listed twice")
        if not site.daytime_phone or not site.on_call_phone:
            raise SitesFileError(f"{origin}: site {site.code}: a daytime_phone and an on_call_phone are required")
        found[site.code] = site
    return Sites(by_code=found, origin=origin)


def load_sites(path: str | Path) -> Sites:
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SitesFileError(f"{origin}: cannot read the sites file: {exc.strerror or exc}") from exc
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise SitesFileError(f"{origin}: not valid YAML: {exc}") from exc
    return parse_sites(document, origin=origin)


# ----------------------------------------------------------------------------------------------------------------
# When can the team call back? (pure)
# ----------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _holidays(subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("FR", subdiv=subdivision, years=year)


def is_working_day(site: Site, day: date) -> bool:
    return day.isoweekday() in site.working_hours.days and day not in _holidays(site.holiday_subdivision, day.year)


@dataclass(frozen=True)
class Callback:
    """When the team can next call: `today` (open now or later today) or the first moment of a later working day."""

    today: bool
    at: datetime  # local time the team is next at work (now when open now)
    open_now: bool


def next_callback(site: Site, local_now: datetime) -> Callback:
    """The next time the site's team is at work, from `local_now` (an aware datetime in the site's time zone)."""
    hours = site.working_hours
    day = local_now.date()
    if is_working_day(site, day):
        if hours.start_time <= local_now.time() < hours.end_time:
            return Callback(today=True, at=local_now, open_now=True)
        if local_now.time() < hours.start_time:
            return Callback(today=True, at=_at(local_now, day, hours.start_time), open_now=False)
    for ahead in range(1, 15):
        candidate = day + timedelta(days=ahead)
        if is_working_day(site, candidate):
            return Callback(today=False, at=_at(local_now, candidate, hours.start_time), open_now=False)
    raise ValueError(f"site {site.code}: no working day in the next two weeks")  # refused by the model in practice


def same_day_callback(site: Site, local_now: datetime) -> Callback:
    """When the team can call back about a same-day alert raised at `local_now`: "today" only before the site's
    cut-off on a working day (`Site.cutoff_time`), else the start of the next working day. `open_now`: the team is
    at work now and before the cut-off (it will call today)."""
    hours = site.working_hours
    day = local_now.date()
    if is_working_day(site, day) and local_now.time() < site.cutoff_time:
        if local_now.time() >= hours.start_time:
            return Callback(today=True, at=local_now, open_now=True)
        return Callback(today=True, at=_at(local_now, day, hours.start_time), open_now=False)
    for ahead in range(1, 15):
        candidate = day + timedelta(days=ahead)
        if is_working_day(site, candidate):
            return Callback(today=False, at=_at(local_now, candidate, hours.start_time), open_now=False)
    raise ValueError(f"site {site.code}: no working day in the next two weeks")


def is_open(site: Site, local_now: datetime) -> bool:
    """Is the team at work now (a working day, within working hours)?"""
    hours = site.working_hours
    return is_working_day(site, local_now.date()) and hours.start_time <= local_now.time() < hours.end_time


def _at(local_now: datetime, day: date, moment: time) -> datetime:
    tz = local_now.tzinfo
    return datetime.combine(day, moment).replace(tzinfo=tz)
