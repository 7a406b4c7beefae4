"""Delivering the alert outbox to the clinicians' group: retries, back-off, 429, re-alerts, acknowledgement.

Delivery is at-least-once by design: an alert is marked delivered only after Telegram accepted it, so a crash
between Telegram's answer and the commit can (rarely) repeat it after a restart — for a red flag a repeat is
acceptable, a loss is not. In normal running it is sent once, then re-sent only as a numbered reminder when an
urgent alert stays unacknowledged (every 15 min, at most 3 times, then flagged in the digest).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot.domain.rules import evaluate_event
from bot.services.container import Services
from bot.storage import alerts, audit, patients
from bot.delivery.alert_text import alert_text
from bot.telegram.keyboards import ack_keyboard
from bot.telegram.pacing import Lane, sending_as

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timings of delivery; the re-alert numbers follow issue #5 (15 minutes, up to 3 times), configurable."""

    realert_after: timedelta = timedelta(minutes=15)
    max_realerts: int = 3
    first_backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(minutes=5)
    #: Urgent alerts and the patient's emergency advice wait at most this long between attempts (issue 21: a 5-min
    #: cap made an alert wait 50 s after Telegram recovered). Telegram's own retry_after still wins.
    urgent_max_backoff: timedelta = timedelta(seconds=15)

    def backoff(self, attempts: int, severity: str = "same_day") -> timedelta:
        """2 s, 4 s, 8 s … capped at `urgent_max_backoff` for urgent sends, at `max_backoff` otherwise."""
        cap = self.urgent_max_backoff if severity == "urgent" else self.max_backoff
        return min(self.first_backoff * (2 ** min(max(attempts, 0), 20)), cap)


async def deliver_due(services: Services, bot: Bot, policy: DeliveryPolicy = DeliveryPolicy()) -> int:
    """Send every alert whose attempt is due; return how many Telegram accepted."""
    if services.clinician_chat_id is None:
        return 0
    with sending_as(Lane.URGENT):  # alerts go first in the group's queue, never behind bulk (bot.telegram.pacing)
        async with services.delivery_lock:
            return await _deliver(services, bot, policy, services.clinician_chat_id)


async def _deliver(services: Services, bot: Bot, policy: DeliveryPolicy, chat_id: int) -> int:
    async with services.store.read() as tx:
        due = await alerts.due_for_delivery(tx, services.clock.now())
    accepted = 0
    for alert in due:
        async with services.store.read() as tx:
            patient = await patients.get_patient(tx, alert.patient_id)
        assert patient is not None
        resend = alert.sends if alert.delivered_at is not None else 0
        received = alert.created_at.astimezone(services.settings.timezone).strftime("%d/%m/%Y %H:%M")
        text = alert_text(alert, study_id=patient.study_id, site=patient.site_code, resend=resend,
                          local_time=received)
        try:
            message = await bot.send_message(
                chat_id, text, protect_content=True, reply_markup=ack_keyboard(alert.id)
            )
            if alert.delivered_at is None:
                await _copy_media(bot, alert, chat_id, message.message_id)
        except RetryAfter as exc:
            retry = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(seconds=exc.retry_after)
            await _failed(services, alert.id, services.clock.now() + retry)
            log.warning("alert %s: Telegram asks to wait %s", alert.id, retry)
            break
        except BadRequest as exc:
            log.error("alert %s refused by Telegram: %s", alert.id, type(exc).__name__)
            await _failed(services, alert.id, services.clock.now() + policy.backoff(99, alert.severity))
            continue
        except TelegramError as exc:
            await _failed(services, alert.id, services.clock.now() + policy.backoff(alert.attempts, alert.severity))
            log.warning("alert %s not delivered yet (%s); will retry", alert.id, type(exc).__name__)
            continue
        await _sent(services, alert, message.message_id, policy)
        accepted += 1
    return accepted


async def _copy_media(bot: Bot, alert: alerts.AlertRow, chat_id: int, alert_message_id: int) -> None:
    """A voice note, photo or document from a patient reaches the team as it is, under its alert.

    copyMessage carries the content without the sender's name (pseudonymity). A failure here is logged, not
    retried: the alert itself went out and says what was sent, and the media stays in the patient's chat.
    """
    message = alert.payload.get("message")
    if not isinstance(message, dict) or message.get("kind") in (None, "text"):
        return
    try:
        await bot.copy_message(
            chat_id, from_chat_id=int(message["chat_id"]), message_id=int(message["message_id"]),
            protect_content=True, reply_to_message_id=alert_message_id,
        )
    except TelegramError as exc:
        log.warning("alert %s: the patient's %s could not be copied (%s)", alert.id, message.get("kind"),
                    type(exc).__name__)


async def _failed(services: Services, alert_id: int, next_attempt_at: object) -> None:
    async with services.store.transaction() as tx:
        await alerts.record_attempt_failed(tx, alert_id, next_attempt_at)  # type: ignore[arg-type]
        await tx.commit()


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
