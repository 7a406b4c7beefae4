"""A patient's own words: kept, screened for red flags, and passed on to the team at once.

Nothing a patient writes is lost. A message outside a questionnaire, a text typed while a button question is
pending, a voice note, a photo or a document: each is stored (`patient_messages`, append-only), recorded in the
audit trail and queued for the clinicians' group in the same transaction. Text (and a media's caption) goes
through the French red-flag screen (`bot.domain.free_text_screen`): a match is an **urgent** alert with the
patient's words, and the patient is owed the urgent advice at once (`patient_notices`), exactly like a "yes" to a
red-flag question. Otherwise the message is forwarded as information, at once, and the patient is told when it will
be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.domain.free_text_screen import FreeTextFlag, screen_free_text
from bot.domain.models import Patient
from bot.domain.rules import Advice, Severity, evaluate_event
from bot.services.container import Services
from bot.storage import alerts, audit, instances, messages, notices, patients
from bot.storage.inbox import settle_current_update
from bot.storage.store import Tx

#: Neurological categories of the screen: the advice is the unconditional "call now" of a new neurological sign.
NEURO_CATEGORIES = frozenset({"leg_weakness", "numbness", "bladder_bowel", "fall"})
#: Categories whose advice is their own (fever: suspected neutropenic sepsis; drowsiness: opioid toxicity).
_CATEGORY_ADVICE: dict[str, Advice] = {"fever": "fever", "opioid_toxicity": "toxicity"}

#: Burst control, so that one patient writing fast cannot flood the clinicians' group (alarm fatigue) or push other
#: patients' alerts back: at most this many ordinary messages become separate alerts in `BURST_WINDOW`; later ones
#: are stored and linked to the latest of those alerts (the export and `/patient` show them all).
FORWARD_BURST = 3
BURST_WINDOW = timedelta(minutes=10)
#: A red flag repeated in further messages while its alert is still open does not raise another urgent alert (nor
#: the same advice again); the new message is linked to the open alert.
RED_FLAG_REPEAT_WINDOW = timedelta(minutes=30)

Outcome = Literal["forwarded", "red_flag", "held", "not_patient", "withdrawn"]


@dataclass(frozen=True)
class ReceivedMessage:
    outcome: Outcome
    patient: Patient | None = None
    flags: tuple[FreeTextFlag, ...] = ()
    notice_id: int | None = None
    alert_id: int | None = None


#: A typed text that is not a valid answer is a message to the team when it has at least this many words with
#: letters ("j'ai mal", a sentence) or when the red-flag screen finds something in it; a single stray word or a
#: mistyped number ("abc", "15" on a 0–10 scale) only gets the hint to answer the question.
MESSAGE_MIN_WORDS = 2


def looks_like_a_message(text: str, services: Services) -> bool:
    words = [word for word in text.split() if any(ch.isalpha() for ch in word)]
    return len(words) >= MESSAGE_MIN_WORDS or bool(screen_free_text(text, services.free_text_vocabulary))


def severity_for_flags(flags: tuple[FreeTextFlag, ...]) -> Severity:
    """The alert's severity: urgent if any sign found is urgent (most are), else same-day (thirst, constipation)."""
    return "urgent" if any(flag.severity == "urgent" for flag in flags) else "same_day"


def advice_for_flags(flags: tuple[FreeTextFlag, ...]) -> Advice | None:
    """The most pressing advice for what the screen found (None when nothing was found)."""
    if not flags:
        return None
    categories = {flag.category for flag in flags}
    if categories & NEURO_CATEGORIES:
        return "neuro"
    for category, advice in _CATEGORY_ADVICE.items():
        if category in categories:
            return advice
    urgent = any(flag.severity == "urgent" for flag in flags)
    return "urgent" if urgent else "same_day"


async def receive(
    services: Services, *, telegram_user_id: int, chat_id: int, message_id: int, kind: str, text: str | None,
    telegram_date: datetime | None, details: dict[str, object] | None = None,
) -> ReceivedMessage:
    """Store one message from a patient and queue it (and any red-flag alert and advice) in one transaction."""
    now = services.clock.now()
    flags = screen_free_text(text, services.free_text_vocabulary) if text else ()
    async with services.store.transaction() as tx:
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
        if patient is None:
            return ReceivedMessage("not_patient")
        instance = await instances.open_instance_for(tx, patient.id)
        event = "free_text_red_flag" if flags else "free_text"
        linked = await _alert_to_join(tx, services, patient.id, event, now)
        drafts = [] if linked is not None else evaluate_event(services.rules, event, details={"kind": kind})
        alert_id: int | None = linked
        for draft in drafts:
            payload: dict[str, object] = {
                "title": draft.title, "source": draft.source, "trend": [],
                "fired": {"event": event, "kind": kind, "patient_message": text or ""},
                "message": {"kind": kind, "text": text or "", "chat_id": chat_id, "message_id": message_id,
                            **(details or {})},
                "flags": [flag.label for flag in flags],
            }
            new_id = await alerts.insert_alert(
                tx, patient_id=patient.id, instance_id=None, rule_id=draft.rule_id,
                severity=severity_for_flags(flags) if flags else draft.severity,
                payload=payload, now=now, send_now=True,
            )
            alert_id = alert_id or new_id
        stored = await messages.insert_message(
            tx, patient_id=patient.id, instance_id=instance.id if instance else None, kind=kind, text=text,
            chat_id=chat_id, message_id=message_id, telegram_date=telegram_date, received_at=now,
            flags=[flag.category for flag in flags], alert_id=alert_id,
        )
        await audit.record(
            tx, at=now, actor=f"patient:{patient.study_id}", action="message", patient_id=patient.id,
            entity="patient_message", entity_id=stored, new_value={"kind": kind, "flags": [f.category for f in flags]},
            telegram_date=telegram_date,
        )
        advice = advice_for_flags(flags)
        notice_id = None
        if advice is not None and patient.status != "withdrawn" and linked is None:
            severity = "urgent" if advice != "same_day" else "same_day"
            notice_id = await notices.owe_notice(
                tx, patient_id=patient.id, instance_id=None, severity=severity, now=now, advice=advice,
            )
        await settle_current_update(tx, now)  # the message and "this update is handled": one commit
        await tx.commit()
    if patient.status == "withdrawn":
        return ReceivedMessage("withdrawn", patient=patient, flags=flags, alert_id=alert_id)
    outcome: Outcome = "held" if linked is not None else "red_flag" if flags else "forwarded"
    return ReceivedMessage(outcome, patient=patient, flags=flags, notice_id=notice_id, alert_id=alert_id)


async def _alert_to_join(tx: Tx, services: Services, patient_id: int, event: str, now: datetime) -> int | None:
    """The recent alert this message joins instead of raising its own (burst control), or None for a new alert."""
    if event == "free_text_red_flag":
        rule_ids = services.rules.event_rule_ids("free_text_red_flag")
        recent = await alerts.recent_alerts_of_rules(tx, patient_id, rule_ids, since=now - RED_FLAG_REPEAT_WINDOW)
        still_open = [alert for alert in recent if alert.acknowledged_at is None]
        return still_open[-1].id if still_open else None
    rule_ids = services.rules.event_rule_ids("free_text")
    recent = await alerts.recent_alerts_of_rules(tx, patient_id, rule_ids, since=now - BURST_WINDOW)
    return recent[-1].id if len(recent) >= FORWARD_BURST else None
