"""Parsing an enrolment request (`/enroll` in the clinician group or `python -m bot enroll`). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.domain.models import ARMS, FRACTIONATIONS
from bot.i18n import _

STUDY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")
SITE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
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


def usage() -> str:
    return _("Usage: /enroll <study_id> <radiotherapy start YYYY-MM-DD> [arm=standard|experimental] [site=<code>] "
             "[fractions=1|5]")


def parse_enrolment(args: list[str]) -> EnrolmentRequest:
    """Turn command arguments into a request, or raise `EnrolmentError` saying what is wrong."""
    if len(args) < 2:
        raise EnrolmentError(usage())
    study_id, start_text, *options = args
    if not STUDY_ID_PATTERN.match(study_id):
        raise EnrolmentError(
            _("The study id \"{value}\" is not valid: use 2 to 32 letters, digits, '-' or '_'.").format(value=study_id)
        )
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", start_text):
            raise ValueError
        rt_start = date.fromisoformat(start_text)
    except ValueError:
        raise EnrolmentError(
            _("The radiotherapy start date \"{value}\" is not valid: write it as YYYY-MM-DD, e.g. 2026-12-01.").format(
                value=start_text
            )
        ) from None
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("arm", "site", "fractions") or key in values:
            raise EnrolmentError(
                _("Unknown or repeated option \"{value}\". {usage}").format(value=option, usage=usage())
            )
        values[key] = value
    arm = values.get("arm", DEFAULT_ARM)
    if arm not in ARMS:
        raise EnrolmentError(_("The arm must be standard or experimental."))
    site = values.get("site", DEFAULT_SITE)
    if not SITE_PATTERN.match(site):
        raise EnrolmentError(_("The site code must be 1 to 16 letters, digits, '-' or '_'."))
    fractions_text = values.get("fractions", str(DEFAULT_FRACTIONS))
    if not fractions_text.isdigit() or int(fractions_text) not in FRACTIONATIONS:
        raise EnrolmentError(_("The number of fractions must be 1 or 5."))
    return EnrolmentRequest(study_id=study_id, rt_start=rt_start, arm=arm, site=site, fractions=int(fractions_text))
