"""What the clinicians read instead of the bot's internal codes: a patient's status, the arm, the site, the time point
(issue 34, item 4: "site main", "bras experimental", "D30" are codes, not words). Shared by the group's commands,
the alerts, the digest and its call list."""

from __future__ import annotations

import re

from bot.domain.sites import Sites
from bot.i18n import _

__all__ = ["arm_label", "site_label", "site_list", "status_label", "timepoint_label"]

_STUDY_DAY = re.compile(r"^[A-Z]+(\d+)$")


def status_label(status: str) -> str:
    """A patient status as the clinicians read it."""
    labels = {
        "invited": _("invited"),
        "joined": _("joined"),
        "active": _("active"),
        "paused": _("paused"),
        "withdrawn": _("withdrawn"),
        "unreachable": _("unreachable"),
        "deceased": _("deceased"),
    }
    return labels.get(status, status)


def arm_label(arm: str) -> str:
    """The trial arm in words ("standard arm", "experimental arm"); an arm the bot does not know, as written."""
    labels = {"standard": _("standard arm"), "experimental": _("experimental arm")}
    return labels.get(arm, arm)


def site_label(sites: Sites, code: str) -> str:
    """The site's name from the sites file ("Radiothérapie, Lyon"); its code only when the file does not name it."""
    site = sites.get(code)
    return site.name if site is not None else code


def site_list(sites: Sites, codes: tuple[str, ...] | None = None) -> str:
    """The sites a clinician can name, each by its name with what to type: "Radiothérapie, Lyon (site=LYON)"."""
    return "; ".join(f"{site_label(sites, code)} (site={code})" for code in (codes or sites.codes))


def timepoint_label(timepoint: str) -> str:
    """ "baseline" → "inclusion", "baseline_more" → "inclusion (suite)"; DD3, D30, W22 → "jour 3", "jour 30", "jour 22" (the study day)."""
    if timepoint == "baseline":
        return _("inclusion")
    if timepoint == "baseline_more":
        return _("inclusion (part 2)")
    match = _STUDY_DAY.match(timepoint)
    return _("day {n}").format(n=int(match.group(1))) if match else timepoint
