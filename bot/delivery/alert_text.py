"""The French text of an alert for the clinicians' group: pseudonymous, short, actionable.

Only the study id and site identify the patient — never a name, Telegram name, birth date or diagnosis
(docs/clinical/red-flags.md, "What the clinicians get"). Nurses read labels, not codes: the text carries the rule's
French title, the questionnaire's title and day, and each answer by its short label. Rule ids, item ids and the
rule's source stay in the rules file, the stored alert and the exports.
"""

from __future__ import annotations

import re

from bot.domain.engine import format_number
from bot.i18n import _
from bot.storage.alerts import AlertRow

_STUDY_DAY = re.compile(r"^[A-Z]+(\d+)$")
_PATIENT_WORDS_LIMIT = 1500


def severity_label(severity: str) -> str:
    return {
        "urgent": _("🔴 URGENT ALERT"),
        "same_day": _("🟠 Alert to handle today"),
        "info": _("ℹ️ Information"),
    }.get(severity, severity)


def questionnaire_label(questionnaire_id: str) -> str:
    return {
        "baseline": _("Baseline questionnaire"),
        "daily": _("Daily diary"),
        "followup": _("Follow-up questionnaire"),
        "weekly": _("Weekly check"),
    }.get(questionnaire_id, _("Questionnaire"))


def timepoint_label(timepoint: str) -> str:
    """"baseline" → "inclusion"; DD3, D30, W22 → "jour 3", "jour 30", "jour 22" (the study day)."""
    if timepoint == "baseline":
        return _("inclusion")
    match = _STUDY_DAY.match(timepoint)
    return _("day {n}").format(n=int(match.group(1))) if match else timepoint


def media_label(kind: str) -> str:
    return {
        "voice": _("a voice message"),
        "audio": _("an audio file"),
        "photo": _("a photo"),
        "video": _("a video"),
        "video_note": _("a video message"),
        "document": _("a document"),
        "sticker": _("a sticker"),
        "location": _("a location"),
        "contact": _("a contact"),
    }.get(kind, _("a message"))


def _value(value: object) -> str:
    if value == "yes":
        return _("yes")
    if value == "no":
        return _("no")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def _context_label(key: str) -> str | None:
    """The values a rule compares answers with (`bot.domain.rules.RuleContext`), named for the clinicians."""
    return {
        "baseline_pain_worst": _("Worst pain at baseline"),
        "baseline_omed": _("Oral morphine equivalent at baseline (mg/day)"),
        "current_omed": _("Oral morphine equivalent now (mg/day)"),
        "on_chemo": _("Chemotherapy (baseline answer)"),
        "has_baseline": _("Baseline questionnaire answered"),
        "on_fentanyl_patch": _("Fentanyl patch in the current regimen"),
        "severe_pain_since": _("Severe pain every day since"),
    }.get(key)


#: `fired` keys shown elsewhere in the alert (the patient's words, the screen's findings) or not at all.
_NOT_ANSWERS = frozenset({"event", "flags", "patient_message", "kind", "alert", "after_alert", "questionnaire_id"})


def answers_line(fired: dict[str, object], shown: dict[str, str]) -> str | None:
    """What made an answer rule fire: each answer by its short label, each compared value by its name.

    Event alerts (missed questionnaire, unacknowledged alert) have no answers: their title says it all. An answer
    stored before labels were kept, or a value with no label, is left out rather than shown as a code.
    """
    if not fired or "event" in fired:
        return None
    parts: list[str] = []
    for key, value in fired.items():
        if key in _NOT_ANSWERS:
            continue
        if key in shown:
            parts.append(shown[key])
            continue
        label = _context_label(key)
        if label is not None:
            parts.append(f"{label} : {_value(value)}")
    return _("Answers: {answers}").format(answers=" ; ".join(parts)) if parts else None


def patient_words(payload: dict[str, object]) -> str | None:
    """The patient's own words (a message, or the text typed in a questionnaire), quoted, or the media sent."""
    message = payload.get("message")
    fired = payload.get("fired") if isinstance(payload.get("fired"), dict) else {}
    text = ""
    kind = "text"
    if isinstance(message, dict):
        text = str(message.get("text") or "")
        kind = str(message.get("kind") or "text")
    elif isinstance(fired, dict):
        text = str(fired.get("message_team") or fired.get("patient_message") or "")
    lines: list[str] = []
    if kind != "text":
        lines.append(_("The patient sent {what} (copied below).").format(what=media_label(kind)))
    if text:
        quoted = text if len(text) <= _PATIENT_WORDS_LIMIT else text[:_PATIENT_WORDS_LIMIT] + "…"
        lines.append(_("Patient's words: « {text} »").format(text=quoted))
    return "\n".join(lines) or None


def alert_text(alert: AlertRow, *, study_id: str, site: str, resend: int = 0, local_time: str | None = None) -> str:
    """Render an outbox row."""
    payload = alert.payload
    lines = [severity_label(alert.severity)]
    if resend:
        lines.append(_("REMINDER {n}: not yet taken care of").format(n=resend))
    lines.append(_("Patient: {study_id} (site {site})").format(study_id=study_id, site=site))
    lines.append(str(payload.get("title", "")))
    fired_values = payload.get("fired") if isinstance(payload.get("fired"), dict) else {}
    flags = payload.get("flags") or fired_values.get("flags")  # type: ignore[union-attr]
    if isinstance(flags, list) and flags:
        lines.append(_("Words that raised the alert: {flags}").format(flags=", ".join(str(f) for f in flags)))
    if payload.get("timepoint"):
        lines.append(_("Questionnaire: {questionnaire} ({timepoint})").format(
            questionnaire=questionnaire_label(str(payload.get("questionnaire", ""))),
            timepoint=timepoint_label(str(payload["timepoint"]))))
    if local_time:
        lines.append(_("Received: {when}").format(when=local_time))
    if payload.get("previous_alert"):
        lines.append(_("After the alert: {title}").format(title=payload["previous_alert"]))
    words = patient_words(payload)
    if words:
        lines.append(words)
    fired, shown = payload.get("fired") or {}, payload.get("shown") or {}
    if isinstance(fired, dict) and isinstance(shown, dict):
        answers = answers_line(fired, shown)
        if answers:
            lines.append(answers)
    trend = payload.get("trend") or []
    if trend:
        lines.append(_("Worst pain (last scores): {trend}").format(
            trend=" → ".join(f"{timepoint_label(str(tp))} {score}" for tp, score in trend)))
    return "\n".join(lines)


def acknowledged_suffix(by_name: str, when: str) -> str:
    return "\n\n" + _("✅ Taken care of by {name} at {when}").format(name=by_name, when=when)
