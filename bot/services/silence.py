"""Silence after a worrying answer is itself worrying: ask the team to call the patient, once.

A patient who answered "yes" to new leg weakness and then misses every questionnaire is not "fine": they may be in
hospital, or unable to answer. After an urgent or same-day alert, if the patient neither answers nor writes and the
next scheduled questionnaire closes unanswered, or stays unanswered 24 hours after it was sent, a same-day alert
"call the patient back" goes to the group — once per episode (a new alert after the patient was heard from starts a
new one). A patient with nothing to answer is not "silent".

Contact is measured from the alert AND past the questionnaire that raised it (issue 32 item 2): the next taps of
that same questionnaire are not news from the patient — a patient who raised a red flag, tapped once more and then
fell silent for twelve days is silent. A later questionnaire answered, or a message, is contact.

The alert is a call to make during the day: it is raised outside the quiet hours only (the schedule's, 21:00–08:00,
`questionnaires/schedule.yaml`), so it reaches the group in the morning, not at midnight; it names the patient's
last contact ("Dernier contact"), the news the team needs, rather than when the alert was raised.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import utc_iso
from bot.domain.rules import evaluate_event
from bot.domain.schedule import is_quiet
from bot.services.container import Services
from bot.storage import alerts, audit, patients

#: How long the next questionnaire may stay unanswered after an urgent or same-day alert before the team is asked to call.
SILENCE_AFTER = timedelta(hours=24)
#: Alerts older than this are not looked at again (their episode was settled one way or the other long ago).
LOOK_BACK = timedelta(days=14)
#: Event rules whose alerts start no silence watch (silence itself, reminders about other alerts, missed windows).
_NOT_WATCHED_EVENTS = ("silent_after_alert", "urgent_unacknowledged", "missed", "missed_primary_soon", "free_text")


def watched_rule_ids(services: Services) -> frozenset[str]:
    """Answer rules, plus a red flag found in a patient's message."""
    unwatched = set().union(*(services.rules.event_rule_ids(event) for event in _NOT_WATCHED_EVENTS))
    return frozenset(rule.id for rule in services.rules if rule.id not in unwatched)


async def escalate_silences(services: Services) -> int:
    """Raise the "call the patient back" alerts now due; return how many."""
    now = services.clock.now()
    raised = 0
    if is_quiet(now, services.schedule, services.settings.timezone):
        return 0  # a call to make by day: the morning's first pass raises it
    async with services.store.transaction() as tx:
        candidates = await alerts.silence_candidates(tx, since=now - LOOK_BACK, rule_ids=watched_rule_ids(services))
        done: set[int] = set()
        for alert in candidates:
            if alert.patient_id in done:
                continue
            patient = await patients.get_patient(tx, alert.patient_id)
            if patient is None or patient.status not in ("active", "paused"):
                continue
            if await alerts.heard_from_since(tx, alert.patient_id, alert.created_at, apart_from=alert.instance_id):
                continue
            if not await alerts.unanswered_since(
                tx, alert.patient_id, alert.created_at, open_for=SILENCE_AFTER, now=now
            ):
                continue
            contact = await alerts.last_contact(tx, alert.patient_id)
            for draft in evaluate_event(services.rules, "silent_after_alert", details={"after_alert": alert.id}):
                title = str(alert.payload.get("title", ""))
                await alerts.insert_alert(
                    tx,
                    patient_id=alert.patient_id,
                    instance_id=None,
                    rule_id=draft.rule_id,
                    severity=draft.severity,
                    payload={
                        "title": draft.title,
                        "source": draft.source,
                        "fired": draft.fired,
                        "trend": [],
                        "previous_alert": title,
                        "last_contact": utc_iso(contact) if contact else None,
                    },
                    now=now,
                    send_now=True,
                )
                await audit.record(
                    tx,
                    at=now,
                    actor="system",
                    action="silence_escalated",
                    patient_id=alert.patient_id,
                    entity="alert",
                    entity_id=alert.id,
                )
                raised += 1
            done.add(alert.patient_id)
        await tx.commit()
    return raised
