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
from datetime import datetime
from typing import Literal

from bot.domain.free_text_screen import FreeTextFlag, screen_free_text
from bot.domain.models import Patient
from bot.domain.rules import Advice, Severity, evaluate_event
from bot.services.container import Services
from bot.storage import alerts, audit, instances, messages, notices, patients

#: Neurological categories of the screen: the advice is the unconditional "call now" of a new neurological sign.
NEURO_CATEGORIES = frozenset({"leg_weakness", "numbness", "bladder_bowel", "fall"})
#: Categories whose advice is their own (fever: suspected neutropenic sepsis; drowsiness: opioid toxicity).
_CATEGORY_ADVICE: dict[str, Advice] = {"fever": "fever", "opioid_toxicity": "toxicity"}

Outcome = Literal["forwarded", "red_flag", "not_patient", "withdrawn"]


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
        drafts = evaluate_event(services.rules, event, details={"kind": kind})
        alert_id: int | None = None
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
        if advice is not None and patient.status != "withdrawn":
            severity = "urgent" if advice != "same_day" else "same_day"
            notice_id = await notices.owe_notice(
                tx, patient_id=patient.id, instance_id=None, severity=severity, now=now, advice=advice,
            )
        await tx.commit()
    if patient.status == "withdrawn":
        return ReceivedMessage("withdrawn", patient=patient, flags=flags, alert_id=alert_id)
    return ReceivedMessage(
        "red_flag" if flags else "forwarded", patient=patient, flags=flags, notice_id=notice_id, alert_id=alert_id,
    )
