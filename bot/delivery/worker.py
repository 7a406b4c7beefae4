"""Delivering the alert outbox to the clinicians' group: retries, back-off, 429, re-alerts, acknowledgement.

The loop itself is `bot.delivery.outbox.drain` (shared with the patient's advice). An alert is marked delivered only
after Telegram accepted it (at least once: a crash in between can repeat it after a restart — for a red flag a
repeat is acceptable, a loss is not). In normal running it is sent once, then re-sent only as a numbered reminder
when an urgent alert stays unacknowledged (every 15 min, at most 3 times, then flagged in the digest).

The group posts (`bot.storage.group_posts`: a patient's held words, red-flag follow-ups, media copies) go through the
same loop right after the alerts, with the same retries: a copyMessage that fails is tried again, not lost.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.delivery.alert_text import alert_text
from bot.delivery.outbox import DeliveryPolicy, Outbox, drain
from bot.delivery.post_text import copy_refused_text, post_text
from bot.domain.rules import evaluate_event
from bot.messenger import Messenger, Priority, TryLater, sending_as
from bot.services.container import Services
from bot.storage import alerts, audit, group_posts, patients
from bot.storage.store import Tx

__all__ = ["DeliveryPolicy", "deliver_due"]

log = logging.getLogger(__name__)


async def deliver_due(services: Services, messenger: Messenger, policy: DeliveryPolicy = DeliveryPolicy()) -> int:
    """Send every alert whose attempt is due; return how many Telegram accepted."""
    chat_id = services.clinician_chat_id
    if chat_id is None:
        return 0

    async def send(alert: alerts.AlertRow) -> int:
        async with services.store.read() as tx:
            patient = await patients.get_patient(tx, alert.patient_id)
        assert patient is not None
        resend = alert.sends if alert.delivered_at is not None else 0
        received = alert.created_at.astimezone(services.settings.timezone).strftime("%d/%m/%Y %H:%M")
        text = alert_text(alert, study_id=patient.study_id, site=patient.site_code, resend=resend,
                          local_time=received)
        return await messenger.send_text(chat_id, text, protect=True, acknowledge_alert=alert.id)

    async def sent(alert: alerts.AlertRow, message_id: int) -> None:
        await _sent(services, alert, message_id, policy)

    async def failed(alert: alerts.AlertRow, next_attempt_at: datetime) -> None:
        async with services.store.transaction() as tx:
            await alerts.record_attempt_failed(tx, alert.id, next_attempt_at)
            await tx.commit()

    async def claim(tx: Tx, now: datetime, replica: str, until: datetime) -> list[alerts.AlertRow]:
        return await alerts.claim_due_for_delivery(tx, now, holder=replica, until=until)

    outbox = Outbox[alerts.AlertRow](
        name="alert", due=alerts.due_for_delivery, claim=claim, send=send, sent=sent, failed=failed,
        severity=lambda alert: alert.severity,
    )
    with sending_as(Priority.URGENT):  # alerts go first in the group's queue, never behind bulk (bot.messenger)
        accepted = await drain(services.store, services.clock, outbox, policy, services.delivery_lock,
                               replica=services.replica_id)
        # Then the patient's words and media that ride under those alerts (a copy waits for what it replies to).
        return accepted + await deliver_posts(services, messenger, chat_id, policy)


#: A copy Telegram refuses (400: the patient deleted the message) this many times is given up, and the group told.
COPY_REFUSALS = 5


async def deliver_posts(services: Services, messenger: Messenger, chat_id: int, policy: DeliveryPolicy) -> int:
    """Send the due group posts (`bot.storage.group_posts`): held words, red-flag follow-ups, media copies; with the
    alerts' retries and back-off, so that one HTTP 500 never loses a voice note."""

    async def send(post: group_posts.PostRow) -> int:
        async with services.store.read() as tx:
            patient = await patients.get_patient(tx, post.patient_id)
            carried = await group_posts.carried_messages(tx, post)
            alert = await alerts.get_alert(tx, post.alert_id) if post.alert_id is not None else None
        assert patient is not None
        if post.kind != "copy":
            text = post_text(post, carried, study_id=patient.study_id, site=patient.site_code, alert=alert,
                             timezone=services.settings.timezone)
            return await messenger.send_text(chat_id, text, protect=True)
        if not carried:
            return 0
        media = carried[0]
        try:
            await messenger.copy(chat_id, from_chat_id=media.chat_id, message_id=media.message_id,
                                 reply_to=post.reply_to)
        except TryLater as exc:
            if not exc.refused or post.attempts + 1 < COPY_REFUSALS:
                raise
            return await messenger.send_text(chat_id, copy_refused_text(media.kind, patient.study_id), protect=True)
        return 0

    async def sent(post: group_posts.PostRow, message_id: int) -> None:
        async with services.store.transaction() as tx:
            await group_posts.record_sent(tx, post.id, message_id=message_id or None, now=services.clock.now())
            await tx.commit()

    async def failed(post: group_posts.PostRow, next_attempt_at: datetime) -> None:
        async with services.store.transaction() as tx:
            await group_posts.record_attempt_failed(tx, post.id, next_attempt_at)
            await tx.commit()

    async def claim(tx: Tx, now: datetime, replica: str, until: datetime) -> list[group_posts.PostRow]:
        return await group_posts.claim_due_posts(tx, now, holder=replica, until=until)

    outbox = Outbox[group_posts.PostRow](
        name="group post", due=group_posts.due_posts, claim=claim, send=send, sent=sent, failed=failed,
        severity=lambda post: post.severity,
    )
    return await drain(services.store, services.clock, outbox, policy, services.delivery_lock,
                       replica=services.replica_id)


async def _sent(services: Services, alert: alerts.AlertRow, message_id: int, policy: DeliveryPolicy) -> None:
    now = services.clock.now()
    sends_after = alert.sends + 1
    next_at = None
    if alert.severity == "urgent" and sends_after <= policy.max_realerts:
        next_at = now + policy.realert_after
    async with services.store.transaction() as tx:
        await alerts.record_sent(tx, alert.id, message_id=message_id, now=now, next_attempt_at=next_at)
        await audit.record(tx, at=now, actor="system", action="alert_sent", patient_id=alert.patient_id,
                           entity="alert", entity_id=alert.id, new_value=sends_after)
        if alert.severity == "urgent" and next_at is None:
            for draft in evaluate_event(services.rules, "urgent_unacknowledged", details={"alert": alert.id}):
                await alerts.insert_alert(
                    tx, patient_id=alert.patient_id, instance_id=alert.instance_id, rule_id=draft.rule_id,
                    severity=draft.severity,
                    payload={"title": draft.title, "source": draft.source, "fired": draft.fired, "trend": []},
                    now=now, send_now=draft.severity != "info",
                )
        await tx.commit()
