"""The French text of an alert for the clinicians' group: pseudonymous, short, actionable.

Only the study id and site identify the patient — never a name, Telegram name, birth date or diagnosis
(shared/clinical/red-flags.md, "What the clinicians get").
"""

from __future__ import annotations

from bot.i18n import _
from bot.storage.alerts import AlertRow


def severity_label(severity: str) -> str:
    return {
        "urgent": _("🔴 URGENT ALERT"),
        "same_day": _("🟠 Alert to handle today"),
        "info": _("ℹ️ Information"),
    }.get(severity, severity)


def _value(value: object) -> str:
    if value == "yes":
        return _("yes")
    if value == "no":
        return _("no")
    return str(value)


def alert_text(alert: AlertRow, *, study_id: str, site: str, resend: int = 0) -> str:
    """Render an outbox row."""
    payload = alert.payload
    lines = [severity_label(alert.severity)]
    if resend:
        lines.append(_("REMINDER {n}: not yet taken care of").format(n=resend))
    lines.append(_("Patient: {study_id} (site {site})").format(study_id=study_id, site=site))
    lines.append(_("Rule: {title} [{rule}]").format(title=payload.get("title", ""), rule=alert.rule_id))
    if payload.get("timepoint"):
        lines.append(_("Questionnaire: {questionnaire} ({timepoint})").format(
            questionnaire=payload.get("questionnaire", ""), timepoint=payload["timepoint"]))
    fired = payload.get("fired") or {}
    if isinstance(fired, dict) and fired:
        answers = ", ".join(f"{key} = {_value(value)}" for key, value in fired.items())
        lines.append(_("Answers: {answers}").format(answers=answers))
    trend = payload.get("trend") or []
    if trend:
        lines.append(_("Worst pain (last scores): {trend}").format(
            trend=" → ".join(f"{tp} {score}" for tp, score in trend)))
    lines.append(_("Source: {source}").format(source=payload.get("source", "")))
    return "\n".join(lines)


def acknowledged_suffix(by_name: str, when: str) -> str:
    return "\n\n" + _("✅ Taken care of by {name} at {when}").format(name=by_name, when=when)
