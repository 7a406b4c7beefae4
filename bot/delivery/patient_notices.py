"""Telling the patient what to do now after a worrying answer, even when Telegram fails at that moment.

"Call 15 or 112 now" matters as much as the clinicians' alert, so it is kept the same way: the notice is stored in
the answer's transaction (`answering.submit`), sent right after the commit, and — if Telegram refuses it or does
not answer — retried by the clinicians' job (2 s, 4 s, … then every 15 s for the emergency advice, every 5 min
for the same-day one), across restarts, for 24 hours. After that the advice is no longer "now"; the clinicians'
alert carries on. A patient who withdrew is never written to; one who blocked the bot (unreachable) is not written
to until they come back.
Delivery is at least once, as for alerts: a crash between Telegram's answer and the commit may repeat it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram import Bot
from telegram.error import Forbidden, RetryAfter, TelegramError

from bot.delivery.advice_text import advice_text
from bot.delivery.worker import DeliveryPolicy
from bot.services.container import Services
from bot.services.reachability import mark_unreachable
from bot.storage import audit, notices
from bot.telegram.pacing import Lane, sending_as

log = logging.getLogger(__name__)


def notice_text(services: Services, notice: notices.DueNotice) -> str:
    """The advice as true at the moment it is sent (working hours, weekend, public holiday), with the site's numbers."""
    local_now = services.clock.now().astimezone(services.settings.timezone)
    return advice_text(notice.advice, services.sites.get(notice.site_code), local_now)


async def send_notices(
    services: Services, bot: Bot, *, notice_id: int | None = None, policy: DeliveryPolicy = DeliveryPolicy()
) -> int:
    """Send the notices due (or just `notice_id`, right after its answer); return how many Telegram accepted.

    Never raises a Telegram error: a failure is recorded and retried later, and the caller goes on.
    """
    with sending_as(Lane.URGENT):  # safety advice goes first in its chat, never behind bulk (bot.telegram.pacing)
        return await _send_notices(services, bot, notice_id, policy)


async def _send_notices(services: Services, bot: Bot, notice_id: int | None, policy: DeliveryPolicy) -> int:
    async with services.notice_lock:
        async with services.store.read() as tx:
            due = await notices.due_notices(tx, services.clock.now(), notice_id)
        sent = 0
        for notice in due:
            try:
                await bot.send_message(notice.chat_id, notice_text(services, notice))
            except Forbidden:  # the patient blocked the bot: marked unreachable (the team is told); the advice
                # waits, and goes out if they come back within its 24 hours
                log.warning("notice %s: the patient blocked the bot; kept until they come back", notice.id)
                await mark_unreachable(services, notice.patient_id)
                await _failed(services, notice.id, services.clock.now() + policy.backoff(notice.attempts, notice.kind))
                continue
            except RetryAfter as exc:
                retry = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(seconds=exc.retry_after)
                await _failed(services, notice.id, services.clock.now() + retry)
                break
            except TelegramError as exc:
                await _failed(services, notice.id,
                              services.clock.now() + policy.backoff(notice.attempts, notice.kind))
                log.warning("notice %s to the patient not delivered yet (%s); will retry", notice.id,
                            type(exc).__name__)
                continue
            await _settled(services, notice, "patient_notice_sent")
            sent += 1
        return sent


async def _failed(services: Services, notice_id: int, next_attempt_at: datetime) -> None:
    async with services.store.single_statement() as one:
        await notices.record_failed(one, notice_id, next_attempt_at)


async def _settled(services: Services, notice: notices.DueNotice, action: str) -> None:
    """Sent (or impossible to send): no more attempts, and an audit entry saying which."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        if action == "patient_notice_sent":
            await notices.record_sent(tx, notice.id, now)
        else:
            await notices.record_given_up(tx, notice.id)
        await audit.record(tx, at=now, actor="system", action=action, patient_id=notice.patient_id,
                           entity="patient_notice", entity_id=notice.id, new_value=notice.kind)
        await tx.commit()
