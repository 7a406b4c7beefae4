"""A patient's own words: kept, screened for red flags, and passed on to the team at once.

Nothing a patient writes is lost. A message outside a questionnaire, a text typed while a button question is
pending, a voice note, a photo or a document: each is stored (`patient_messages`, append-only), recorded in the
audit trail and queued for the clinicians' group in the same transaction. Text (and a media's caption) goes
through the French red-flag screen (`bot.domain.free_text_screen`): a match is an **urgent** alert with the
patient's words, and the patient is owed the urgent advice at once (`patient_notices`), exactly like a "yes" to a
red-flag question. A red flag of a danger group already alerted and still open joins that alert, its words posted
under it at once (issue 31). Otherwise the message is forwarded as information, at once — or, past the burst
limit, posted with the other held messages in one group message a minute later, never dropped (issue 39). Voice
notes, photos and other media are copied to the group through the same retried outbox. See docs/patient-messages.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.domain.free_text_screen import FreeTextFlag, screen_free_text
from bot.domain.models import Patient
from bot.domain.rules import ADVICE_ORDER, Advice, Severity, evaluate_event
from bot.services.container import Services
from bot.storage import alerts, audit, group_posts, instances, messages, notices, patients
from bot.storage.caregivers import Caregiver
from bot.storage.inbox import settle_current_update
from bot.storage.store import Tx

#: Danger groups (issue 31): each screen category is read as the advice the patient needs for it
#: (`bot.domain.rules.Advice`). A red flag of a group with no open alert gets its own urgent alert and advice; a
#: repeat of the same group joins the open alert, its words posted under it at once. Categories not named here take
#: "urgent" (an urgent sign) or "same_day" (thirst, constipation…) from their severity in the screen's file.
CATEGORY_GROUP: dict[str, Advice] = {
    "suicidal": "suicide",
    "unconscious": "emergency",
    "bleeding": "emergency",
    "chest_breathing": "emergency",
    "leg_weakness": "neuro",
    "numbness": "neuro",
    "bladder_bowel": "neuro",
    "fall": "neuro",
    "urinary_retention": "neuro",
    "opioid_toxicity": "toxicity",
    "confusion": "toxicity",
    "overdose": "toxicity",
    "fever": "fever",
    "vomiting_swallowing": "same_day",
    "cry_for_help": "urgent",
}
#: Neurological categories of the screen: the advice is the unconditional "call now" of a new neurological sign.
NEURO_CATEGORIES = frozenset(category for category, group in CATEGORY_GROUP.items() if group == "neuro")

#: Burst control, so that one patient writing fast cannot flood the clinicians' group (alarm fatigue) or push other
#: patients' alerts back: at most this many ordinary messages become separate alerts in `BURST_WINDOW`; later ones
#: are stored, linked to the latest of those alerts, and posted together in one group message (`HOLD_FOR` after the
#: first held one: a patient writing without pause costs the group at most one message a minute, far under its 20
#: a minute). A red flag is never held.
FORWARD_BURST = 3
BURST_WINDOW = timedelta(minutes=10)
HOLD_FOR = timedelta(minutes=1)
#: A red flag of a danger group whose alert is still open (not acknowledged, raised less than this long ago) does
#: not raise another urgent alert (nor the same advice again): it joins the open alert, and its words are posted
#: under it at once.
RED_FLAG_REPEAT_WINDOW = timedelta(minutes=30)

SILENT_STATUSES = ("withdrawn", "deceased")
"""The bot never writes to these patients' chats again: a withdrawal, or a recorded death (issue 39, item 4; a
relative may still write from the phone: the message is kept and reaches the team, nothing is answered)."""

Outcome = Literal["forwarded", "red_flag", "followup", "held", "kept", "not_patient", "withdrawn"]
#: How a text came: a message ("message"); a single unflagged word typed beside a question ("stray": kept and posted
#: grouped, the patient gets the hint); a number typed as an answer but out of range ("answer_attempt": kept, not
#: forwarded — see docs/patient-messages.md).
Mode = Literal["message", "stray", "answer_attempt"]


@dataclass(frozen=True)
class ReceivedMessage:
    outcome: Outcome
    patient: Patient | None = None
    flags: tuple[FreeTextFlag, ...] = ()
    notice_id: int | None = None
    alert_id: int | None = None


#: A typed text that is not a valid answer is a message to the team of its own when it has at least this many words
#: with letters ("j'ai mal", a sentence) or when the red-flag screen finds something in it; a single stray word is
#: kept and posted grouped (`Mode` "stray"), a number is an answer attempt.
MESSAGE_MIN_WORDS = 2
_NUMBER = re.compile(r"^\s*[-+]?\d+(?:[.,]\d+)?\s*$")


def screen(text: str | None, services: Services) -> tuple[FreeTextFlag, ...]:
    """The red-flag screen; a cry for help ("SOS", "au secours", "urgent" alone) is its category `cry_for_help`."""
    if not text:
        return ()
    return screen_free_text(text, services.free_text_vocabulary)


def looks_like_a_message(text: str, services: Services) -> bool:
    words = [word for word in text.split() if any(ch.isalpha() for ch in word)]
    return len(words) >= MESSAGE_MIN_WORDS or bool(screen(text, services))


def is_a_number(text: str) -> bool:
    """ "15", "7,5", "-1": an attempt to answer a number or scale question, not words for the team."""
    return bool(_NUMBER.match(text))


def severity_for_flags(flags: tuple[FreeTextFlag, ...]) -> Severity:
    """The alert's severity: urgent if any sign found is urgent (most are), else same-day (thirst, constipation)."""
    return "urgent" if any(flag.severity == "urgent" for flag in flags) else "same_day"


def danger_group(flag: FreeTextFlag) -> Advice:
    """The danger group (the advice kind) of one sign the screen found."""
    return CATEGORY_GROUP.get(flag.category) or ("urgent" if flag.severity == "urgent" else "same_day")


def danger_groups(flags: tuple[FreeTextFlag, ...]) -> list[Advice]:
    """The danger groups of what the screen found, most pressing first (`ADVICE_ORDER`)."""
    found = {danger_group(flag) for flag in flags}
    return [advice for advice in ADVICE_ORDER if advice in found]


def advice_for_flags(flags: tuple[FreeTextFlag, ...]) -> Advice | None:
    """The most pressing advice for what the screen found (None when nothing was found)."""
    groups = danger_groups(flags)
    return groups[0] if groups else None


async def receive(
    services: Services,
    *,
    telegram_user_id: int,
    chat_id: int,
    message_id: int,
    kind: str,
    text: str | None,
    telegram_date: datetime | None,
    details: dict[str, object] | None = None,
    mode: Mode = "message",
    caregiver: Caregiver | None = None,
) -> ReceivedMessage:
    """Store one message from a patient and queue what it owes the team and the patient, in one transaction.

    A red flag of a new danger group: its own urgent alert and advice. A red flag of a group already alerted (open):
    joined to that alert, its words posted under it at once. Otherwise an information alert, or — past the burst
    limit, or for a stray word — a place in the next grouped post. A media is copied to the group (retried) under
    whatever carries it.
    `caregiver` (issue 36): the words are a caregiver's about their patient: screened the same way, labelled as the
    caregiver's for the team, and the advice goes to the caregiver's chat.
    """
    now = services.clock.now()
    if caregiver is not None:
        details = {**(details or {}), "respondent": "caregiver", "caregiver": caregiver.number}
    flags = screen(text, services)
    groups = danger_groups(flags)
    async with services.store.transaction() as tx:
        patient = (
            await patients.find_by_telegram_user(tx, telegram_user_id)
            if caregiver is None
            else await patients.get_patient(tx, caregiver.patient_id)
        )
        if patient is None:
            return ReceivedMessage("not_patient")
        instance = await instances.open_instance_for(tx, patient.id)
        alert_id: int | None = None
        post_id: int | None = None
        advice: Advice | None = None
        outcome: Outcome
        if flags:
            joined, uncovered = await _open_alert_of_groups(tx, services, patient.id, groups, now)
            if uncovered:
                alert_id = await _new_alert(
                    tx,
                    services,
                    patient.id,
                    "free_text_red_flag",
                    kind,
                    text,
                    chat_id,
                    message_id,
                    details,
                    flags,
                    groups,
                    now,
                )
                advice = uncovered[0]
                outcome = "red_flag"
            else:
                alert_id = joined
                post_id = await group_posts.insert_post(
                    tx,
                    patient_id=patient.id,
                    kind="followup",
                    severity=severity_for_flags(flags),
                    now=now,
                    due_at=now,
                    alert_id=joined,
                )
                outcome = "followup"
        elif mode == "answer_attempt" and kind == "text":
            outcome = "kept"
        else:
            burst = await _burst_alert(tx, services, patient.id, now)
            if mode == "stray" or burst is not None:
                alert_id = burst
                post_id = await group_posts.open_words_post(tx, patient.id, adding=len(text or "") + 40)
                if post_id is None:
                    post_id = await group_posts.insert_post(
                        tx, patient_id=patient.id, kind="words", severity="info", now=now, due_at=now + HOLD_FOR
                    )
                outcome = "held"
            else:
                alert_id = await _new_alert(
                    tx, services, patient.id, "free_text", kind, text, chat_id, message_id, details, flags, groups, now
                )
                outcome = "forwarded"
        stored = await messages.insert_message(
            tx,
            patient_id=patient.id,
            instance_id=instance.id if instance else None,
            kind=kind,
            text=text,
            chat_id=chat_id,
            message_id=message_id,
            telegram_date=telegram_date,
            received_at=now,
            flags=[flag.category for flag in flags],
            alert_id=alert_id,
            post_id=post_id,
            caregiver_id=caregiver.id if caregiver is not None else None,
        )
        if kind != "text" and outcome != "kept":
            # Under its own alert, or under the post that carries its words; retried like an alert (issue 39).
            await group_posts.insert_post(
                tx,
                patient_id=patient.id,
                kind="copy",
                severity=severity_for_flags(flags) if flags else "info",
                now=now,
                due_at=now,
                alert_id=alert_id if post_id is None else None,
                parent_post_id=post_id,
                message_ref=stored,
            )
        await audit.record(
            tx,
            at=now,
            actor=f"caregiver:{patient.study_id}#{caregiver.number}" if caregiver else f"patient:{patient.study_id}",
            action="message",
            patient_id=patient.id,
            entity="patient_message",
            entity_id=stored,
            new_value={"kind": kind, "flags": [f.category for f in flags]},
            telegram_date=telegram_date,
        )
        notice_id = None
        if advice is not None and patient.status not in SILENT_STATUSES:
            severity = "urgent" if advice != "same_day" else "same_day"
            notice_id = await notices.owe_notice(
                tx,
                patient_id=patient.id,
                instance_id=None,
                severity=severity,
                now=now,
                advice=advice,
                caregiver_id=caregiver.id if caregiver is not None else None,
            )
        await settle_current_update(tx, now)  # the message and "this update is handled": one commit
        await tx.commit()
    if patient.status in SILENT_STATUSES:  # kept and passed on to the team; the chat gets no reply
        return ReceivedMessage("withdrawn", patient=patient, flags=flags, alert_id=alert_id)
    return ReceivedMessage(outcome, patient=patient, flags=flags, notice_id=notice_id, alert_id=alert_id)


async def _new_alert(
    tx: Tx,
    services: Services,
    patient_id: int,
    event: str,
    kind: str,
    text: str | None,
    chat_id: int,
    message_id: int,
    details: dict[str, object] | None,
    flags: tuple[FreeTextFlag, ...],
    groups: list[Advice],
    now: datetime,
) -> int | None:
    """The message's own alert (urgent for a red flag, information otherwise), sent at once."""
    alert_id: int | None = None
    for draft in evaluate_event(services.rules, event, details={"kind": kind}):
        payload: dict[str, object] = {
            "title": draft.title,
            "source": draft.source,
            "trend": [],
            "fired": {"event": event, "kind": kind, "patient_message": text or ""},
            "message": {
                "kind": kind,
                "text": text or "",
                "chat_id": chat_id,
                "message_id": message_id,
                **(details or {}),
            },
            "flags": [flag.label for flag in flags],
            "danger_groups": list(groups),
        }
        if details and details.get("respondent") == "caregiver":  # "message de l'aidant" (issue 36)
            payload["respondent"], payload["caregiver"] = "caregiver", details.get("caregiver")
        new_id = await alerts.insert_alert(
            tx,
            patient_id=patient_id,
            instance_id=None,
            rule_id=draft.rule_id,
            severity=severity_for_flags(flags) if flags else draft.severity,
            payload=payload,
            now=now,
            send_now=True,
        )
        alert_id = alert_id or new_id
    return alert_id


async def _open_alert_of_groups(
    tx: Tx,
    services: Services,
    patient_id: int,
    groups: list[Advice],
    now: datetime,
) -> tuple[int | None, list[Advice]]:
    """The open red-flag alert this message joins (the newest one covering its most pressing group), and the danger
    groups of the message no open alert covers (most pressing first): any such group means a new alert."""
    rule_ids = services.rules.event_rule_ids("free_text_red_flag")
    recent = await alerts.recent_alerts_of_rules(tx, patient_id, rule_ids, since=now - RED_FLAG_REPEAT_WINDOW)
    covered: dict[str, int] = {}
    for alert in recent:  # oldest first: the newest open alert of a group wins
        if alert.acknowledged_at is None:
            groups_of_alert = alert.payload.get("danger_groups")
            if not isinstance(groups_of_alert, list):  # older alerts (no groups) join nothing
                continue
            for group in groups_of_alert:
                covered[str(group)] = alert.id
    uncovered = [group for group in groups if group not in covered]
    joined = covered.get(groups[0]) if groups and not uncovered else None
    return joined, uncovered


async def _burst_alert(tx: Tx, services: Services, patient_id: int, now: datetime) -> int | None:
    """Burst control: the latest information alert when this patient already had `FORWARD_BURST` of them within
    `BURST_WINDOW` (the message is then held for a grouped post), else None (the message gets its own alert)."""
    rule_ids = services.rules.event_rule_ids("free_text")
    recent = await alerts.recent_alerts_of_rules(tx, patient_id, rule_ids, since=now - BURST_WINDOW)
    return recent[-1].id if len(recent) >= FORWARD_BURST else None
