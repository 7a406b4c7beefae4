"""Parsing an enrolment request (`/enroll` in the clinician group or `python -m bot enroll`). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.models import ARMS, FRACTIONATIONS
from bot.i18n import _

# `\Z`, not `$`: `$` also matches before a final newline, which would store "P-001\n" as a study id.
STUDY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}\Z")
SITE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,16}\Z")
_ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_ASCII_DIGITS = re.compile(r"[0-9]{1,3}\Z")  # "²".isdigit() is True but int("²") raises: ASCII digits only
DAY0_WINDOW = timedelta(days=365)
"""A radiotherapy start (day 0) is accepted within one year before or after today (the clock's local date): the
follow-up lasts 90 days after day 0, so a start further away is a typing mistake (0001-01-01, 9999-12-31), not a
patient to follow. Not a clinical number: a guard on input."""
DEFAULT_SITE = "main"
DEFAULT_ARM = "standard"
DEFAULT_FRACTIONS = 1
INVITATION_VALIDITY_DAYS = 14  # issue #2: a one-time invite expires after 14 days


class EnrolmentError(ValueError):
    """The request is wrong; the message is French, for the clinician."""


@dataclass(frozen=True)
class EnrolmentRequest:
    study_id: str
    rt_start: date
    arm: str = DEFAULT_ARM
    site: str = DEFAULT_SITE
    fractions: int = DEFAULT_FRACTIONS
    #: Was `site=` given? Issue 32: with several real sites, a patient is never put at a default site (its numbers
    #: would be another hospital's); `bot.services.enrolment.enroll` decides with the sites file.
    site_named: bool = True


def usage() -> str:
    return _(
        "Usage: /enroll <study_id> <radiotherapy start YYYY-MM-DD> [arm=standard|experimental] [site=<code>] "
        "[fractions=1|5]"
    )


def _french_date(day: date) -> str:
    """DD/MM/YYYY with a four-digit year (strftime writes year 1 as "1")."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def check_day0(day0: date, today: date) -> None:
    """Raise `EnrolmentError` when `day0` is further than `DAY0_WINDOW` from `today`."""
    if abs(day0 - today) > DAY0_WINDOW:
        raise EnrolmentError(
            _(
                "The radiotherapy start date {value} is too far from today: it must be between {first} and {last}."
            ).format(
                value=_french_date(day0),
                first=_french_date(today - DAY0_WINDOW),
                last=_french_date(today + DAY0_WINDOW),
            )
        )


def parse_day0(text: str, today: date) -> date:
    """A radiotherapy start written YYYY-MM-DD (ASCII digits) and within `DAY0_WINDOW` of `today`, or
    `EnrolmentError` saying what is wrong."""
    try:
        if not _ASCII_DATE.match(text):
            raise ValueError
        day0 = date.fromisoformat(text)
    except ValueError:
        raise EnrolmentError(
            _('The radiotherapy start date "{value}" is not valid: write it as YYYY-MM-DD, e.g. 2026-12-01.').format(
                value=text
            )
        ) from None
    check_day0(day0, today)
    return day0


def parse_enrolment(args: list[str], today: date) -> EnrolmentRequest:
    """Turn command arguments into a request, or raise `EnrolmentError` saying what is wrong.

    `today` is the clock's local date: the radiotherapy start must be within `DAY0_WINDOW` of it."""
    if len(args) < 2:
        raise EnrolmentError(usage())
    study_id, start_text, *options = args
    if not STUDY_ID_PATTERN.match(study_id):
        raise EnrolmentError(
            _("The study id \"{value}\" is not valid: use 2 to 32 letters, digits, '-' or '_'.").format(value=study_id)
        )
    rt_start = parse_day0(start_text, today)
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("arm", "site", "fractions") or key in values:
            raise EnrolmentError(_('Unknown or repeated option "{value}". {usage}').format(value=option, usage=usage()))
        values[key] = value
    arm = values.get("arm", DEFAULT_ARM)
    if arm not in ARMS:
        raise EnrolmentError(_("The arm must be standard or experimental."))
    site = values.get("site", DEFAULT_SITE)
    if not SITE_PATTERN.match(site):
        raise EnrolmentError(_("The site code must be 1 to 16 letters, digits, '-' or '_'."))
    fractions_text = values.get("fractions", str(DEFAULT_FRACTIONS))
    if not _ASCII_DIGITS.match(fractions_text) or int(fractions_text) not in FRACTIONATIONS:
        raise EnrolmentError(_("The number of fractions must be 1 or 5."))
    return EnrolmentRequest(
        study_id=study_id,
        rt_start=rt_start,
        arm=arm,
        site=site,
        fractions=int(fractions_text),
        site_named="site" in values,
    )
