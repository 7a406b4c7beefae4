"""Telling the patient what to do now after a worrying answer, even when Telegram fails at that moment.

"Call 15 or 112 now" matters as much as the clinicians' alert, so it is kept the same way: the notice is stored in
the answer's transaction (`answering.submit`), sent right after the commit, and — if Telegram refuses it or does
not answer — retried by the clinicians' job (2 s, 4 s, … then every 15 s for the emergency advice, every 5 min
for the same-day one), across restarts, for 24 hours. After that the advice is no longer "now"; the clinicians'
alert carries on. A patient who withdrew is never written to; one who blocked the bot (unreachable) is not written
to until they come back. The loop is the alerts' one (`bot.delivery.outbox.drain`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.delivery.advice_text import advice_text
from bot.delivery.alert_text import UNACKNOWLEDGED, unacknowledged_patient_text
from bot.delivery.outbox import DeliveryPolicy, Outbox, drain
from bot.messenger import Messenger, Priority, sending_as
from bot.services.container import Services
from bot.services.reachability import mark_unreachable
from bot.storage import audit, notices
from bot.storage.store import Tx

log = logging.getLogger(__name__)


def notice_text(services: Services, notice: notices.DueNotice) -> str:
    """The advice as true at the moment it is sent (working hours, weekend, public holiday), with the site's numbers."""
    local_now = services.clock.now().astimezone(services.settings.timezone)
    if notice.caregiver:  # issue 36: the caregiver reported it, the caregiver is told what to do for the patient
        from bot.delivery.caregiver_text import caregiver_advice_text

        return caregiver_advice_text(notice.advice, services.sites.get(notice.site_code), local_now)
    if notice.advice == UNACKNOWLEDGED:  # step 2 of an urgent alert's ladder (issue 32)
        return unacknowledged_patient_text(services.sites.get(notice.site_code))
    return advice_text(
        notice.advice, services.sites.get(notice.site_code), local_now, "message" if notice.about_message else "answer"
    )


async def send_notices(
    services: Services,
    messenger: Messenger,
    *,
    notice_id: int | None = None,
    policy: DeliveryPolicy = DeliveryPolicy(),
) -> int:
    """Send the notices due (or just `notice_id`, right after its answer); return how many Telegram accepted.

    Never raises for a failed send: it is recorded and retried later, and the caller goes on.
    """

    async def due(tx: Tx, now: datetime) -> list[notices.DueNotice]:
        return await notices.due_notices(tx, now, notice_id)

    async def claim(tx: Tx, now: datetime, replica: str, until: datetime) -> list[notices.DueNotice]:
        return await notices.claim_due_notices(tx, now, notice_id, holder=replica, until=until)

    async def send(notice: notices.DueNotice) -> int:
        return await messenger.send_text(notice.chat_id, notice_text(services, notice))

    async def sent(notice: notices.DueNotice, message_id: int) -> None:
        now = services.clock.now()
        async with services.store.transaction() as tx:
            await notices.record_sent(tx, notice.id, now)
            await audit.record(
                tx,
                at=now,
                actor="system",
                action="patient_notice_sent",
                patient_id=notice.patient_id,
                entity="patient_notice",
                entity_id=notice.id,
                new_value=notice.kind,
            )
            await tx.commit()

    async def failed(notice: notices.DueNotice, next_attempt_at: datetime) -> None:
        async with services.store.single_statement() as one:
            await notices.record_failed(one, notice.id, next_attempt_at)

    async def unreachable(notice: notices.DueNotice) -> None:
        # the patient blocked the bot: marked unreachable (the team is told); the advice waits, and goes out if
        # they come back within its 24 hours. A caregiver who blocked the bot does not make the patient unreachable.
        if not notice.caregiver:
            await mark_unreachable(services, notice.patient_id)

    outbox = Outbox[notices.DueNotice](
        name="patient notice",
        due=due,
        claim=claim,
        send=send,
        sent=sent,
        failed=failed,
        severity=lambda notice: notice.kind,
        unreachable=unreachable,
    )
    with sending_as(Priority.URGENT):  # safety advice goes first in its chat, never behind bulk (bot.messenger)
        return await drain(
            services.store, services.clock, outbox, policy, services.notice_lock, replica=services.replica_id
        )
