"""The French text of an alert for the clinicians' group: pseudonymous, short, actionable.

Only the study id and site identify the patient — never a name, Telegram name, birth date or diagnosis
(docs/clinical/red-flags.md, "What the clinicians get"). Nurses read labels, not codes: the text carries the rule's
French title, the questionnaire's title and day, and each answer by its short label. Rule ids, item ids and the
rule's source stay in the rules file, the stored alert and the exports.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.engine import format_number
from bot.domain.sites import OnCallClinician, Site
from bot.i18n import _
from bot.messenger import Mention
from bot.services.status_labels import timepoint_label  # re-exported: the digest and the alerts share it
from bot.storage.alerts import AlertRow

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
        "baseline_more": _("Baseline questionnaire (part 2)"),
        "daily": _("Daily diary"),
        "followup": _("Follow-up questionnaire"),
        "weekly": _("Weekly check"),
    }.get(questionnaire_id, _("Questionnaire"))


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


def alert_text(
    alert: AlertRow,
    *,
    study_id: str,
    site: str,
    resend: int = 0,
    local_time: str | None = None,
    last_contact: str | None = None,
) -> str:
    """Render an outbox row. `last_contact` (the "call the patient back" alert): the patient's last answer or
    message, shown instead of when the alert was raised (the silence is what matters)."""
    payload = alert.payload
    lines = [severity_label(alert.severity)]
    if resend:
        lines.append(_("REMINDER {n}: not yet taken care of").format(n=resend))
    lines.append(_("Patient: {study_id} ({site})").format(study_id=study_id, site=site))
    lines.append(str(payload.get("title", "")))
    fired_payload = payload.get("fired")
    fired_values = fired_payload if isinstance(fired_payload, dict) else {}
    flags = payload.get("flags") or fired_values.get("flags")
    if isinstance(flags, list) and flags:
        lines.append(_("Words that raised the alert: {flags}").format(flags=", ".join(str(f) for f in flags)))
    if payload.get("timepoint"):
        lines.append(
            _("Questionnaire: {questionnaire} ({timepoint})").format(
                questionnaire=questionnaire_label(str(payload.get("questionnaire", ""))),
                timepoint=timepoint_label(str(payload["timepoint"])),
            )
        )
    if last_contact:
        lines.append(_("Last contact: {when}").format(when=last_contact))
    elif local_time:
        lines.append(_("Received: {when}").format(when=local_time))
    if payload.get("previous_alert"):
        lines.append(_("After the alert: {title}").format(title=payload["previous_alert"]))
    if payload.get("respondent") == "caregiver":  # issue 36: the team knows who answered or wrote
        lines.append(
            _("Answer from the caregiver (caregiver {number}), not from the patient").format(
                number=payload.get("caregiver", "?")
            )
        )
    words = patient_words(payload)
    if words:
        lines.append(words)
    fired, shown = payload.get("fired") or {}, payload.get("shown") or {}
    if isinstance(fired, dict) and isinstance(shown, dict):
        answers = answers_line(fired, shown)
        if answers:
            lines.append(answers)
    trend = payload.get("trend")
    if isinstance(trend, list) and trend:  # [[timepoint, score], …]; older or event alerts have none
        lines.append(
            _("Worst pain (last scores): {trend}").format(
                trend=" → ".join(f"{timepoint_label(str(tp))} {score}" for tp, score in trend)
            )
        )
    return "\n".join(lines)


def acknowledged_suffix(by_name: str, when: str) -> str:
    return "\n\n" + _("✅ Taken care of by {name} at {when}").format(name=by_name, when=when)


# ----------------------------------------------------------------------------------------------------------------
# The ladder of an urgent alert nobody has taken care of (issue 32; docs/clinical/alert-ladder.md)
# ----------------------------------------------------------------------------------------------------------------


def on_call_header(
    title: str,
    clinicians: Sequence[str | int | OnCallClinician],
    minutes: int,
) -> tuple[str, list[Mention]]:
    """Step 1's lines above the alert: the rule's title, how long it has waited, and the on-call clinicians named
    so that Telegram notifies them. A "@username" is a mention as plain text; a numeric id gets a text mention over
    its label (Telegram's `text_mention` entity: no markup to escape). Returns the text and the mentions."""
    text = title + "\n" + _("Waiting for {minutes} min.").format(minutes=minutes) + "\n"
    if not clinicians:
        return text + _("No on-call clinician is listed for this site: whoever reads this, please take it."), []
    text += _("On call:") + " "
    mentions: list[Mention] = []
    for position, entry in enumerate(clinicians):
        if position:
            text += ", "
        if isinstance(entry, str):
            text += entry
            continue
        label = entry.name if isinstance(entry, OnCallClinician) else _("on-call clinician")
        user_id = entry.id if isinstance(entry, OnCallClinician) else entry
        mentions.append(Mention(offset=len(text), length=len(label), user_id=user_id))
        text += label
    return text, mentions


#: The patient notice's `advice` at step 2 of the ladder (`unacknowledged_patient_text`).
UNACKNOWLEDGED = "unacknowledged"


def patient_told_header() -> str:
    """Step 2's line above the alert: what the patient has just been told."""
    return _(
        "STILL NOT TAKEN CARE OF: the patient has just been told that the team has not seen their message yet, "
        "and to call the on-call number or 15 now."
    )


def unacknowledged_patient_text(site: Site | None) -> str:
    """Step 2, to the patient: plainly, nobody has seen their message yet; call the on-call number or 15 now.

    Sent through the patient-notice outbox like any advice (`bot.delivery.patient_notices`), with the site's
    on-call number (the one answered at any hour)."""
    lines = [_("Your care team has not yet seen your message.")]
    if site is not None and site.on_call_phone:
        lines.append(_("Do not wait: call the on-call team now at {phone}.").format(phone=site.on_call_phone))
        lines.append(_("If nobody answers, or if things get worse, call 15 (SAMU) or 112."))
    else:
        lines.append(_("Do not wait: call 15 (SAMU) or 112 now."))
    lines.append(_("Deaf or hard of hearing: SMS to 114."))
    return "\n".join(lines)
