"""The French text of an alert for the clinicians' group: pseudonymous, short, actionable.

Only the study id and site identify the patient — never a name, Telegram name, birth date or diagnosis
(shared/clinical/red-flags.md, "What the clinicians get").
"""

from __future__ import annotations

from bot.domain.engine import format_number
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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def _context_label(key: str) -> str:
    """The values a rule compares answers with (`bot.domain.rules.RuleContext`), named for the clinicians."""
    return {
        "baseline_pain_worst": _("Worst pain at baseline"),
        "baseline_omed": _("Oral morphine equivalent at baseline (mg/day)"),
        "current_omed": _("Oral morphine equivalent now (mg/day)"),
        "on_chemo": _("Chemotherapy (baseline answer)"),
    }.get(key, key)


def answers_line(fired: dict[str, object], shown: dict[str, str]) -> str | None:
    """What made an answer rule fire: each answer by its short label, each compared value by its name.

    Event alerts (missed questionnaire, unacknowledged alert) have no answers: their title says it all.
    `shown` is empty in alerts stored before labels were kept; their item ids are shown then.
    """
    if not fired or "event" in fired:
        return None
    parts = [shown.get(key) or f"{_context_label(key)} = {_value(value)}" for key, value in fired.items()]
    return _("Answers: {answers}").format(answers=" ; ".join(parts))


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
    fired, shown = payload.get("fired") or {}, payload.get("shown") or {}
    if isinstance(fired, dict) and isinstance(shown, dict):
        answers = answers_line(fired, shown)
        if answers:
            lines.append(answers)
    trend = payload.get("trend") or []
    if trend:
        lines.append(_("Worst pain (last scores): {trend}").format(
            trend=" → ".join(f"{tp} {score}" for tp, score in trend)))
    lines.append(_("Source: {source}").format(source=payload.get("source", "")))
    return "\n".join(lines)


def acknowledged_suffix(by_name: str, when: str) -> str:
    return "\n\n" + _("✅ Taken care of by {name} at {when}").format(name=by_name, when=when)
