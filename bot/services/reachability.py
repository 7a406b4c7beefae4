"""A patient who blocks the bot: marked unreachable, the team told once, nothing sent; back when they write again.

Why: Telegram answers 403 to every message for a patient who blocked the bot (or deleted their account), and sends
a `my_chat_member` update ("kicked") when they block it. A patient left "active" kept being scheduled, every send
failed, and nobody knew a patient had dropped out of the follow-up: the team must call them. So on the first sign
(a 403 on any send to the patient, or the "kicked" update) the patient becomes `unreachable` (audited), the team gets
one alert ("P-xxx a bloqué le bot : à appeler"), and the scheduler, reminders and advice skip them (they send to
`active` patients only). When the patient writes again (any message or button press, or unblocks the bot), the
status they had before is restored (audited) and the schedule resumes at the next tick.
"""

from __future__ import annotations

import logging

from bot.i18n import _
from bot.services.container import Services
from bot.storage import alerts, audit, patients

log = logging.getLogger(__name__)

UNREACHABLE_RULE = "patient_unreachable"
_RESTORABLE = ("joined", "active", "paused")


def blocked_title(study_id: str) -> str:
    """The alert the team reads, once per blocking."""
    return _("{study_id} blocked the bot: call them").format(study_id=study_id)


async def mark_unreachable(services: Services, patient_id: int, *, source: str = "Telegram 403 Forbidden") -> bool:
    """The patient blocked the bot: stop sending and tell the clinicians (once: False if already marked)."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        patient = await patients.get_patient(tx, patient_id)
        if patient is None or patient.status in ("unreachable", "withdrawn", "invited", "deceased"):
            return False
        await patients.mark_unreachable(tx, patient_id, resume_status=patient.status, now=now)
        await audit.record(
            tx,
            at=now,
            actor="system",
            action="unreachable",
            patient_id=patient_id,
            old_value=patient.status,
            new_value="unreachable",
            details={"source": source},
        )
        await alerts.insert_alert(
            tx,
            patient_id=patient_id,
            instance_id=None,
            rule_id=UNREACHABLE_RULE,
            severity="same_day",
            payload={"title": blocked_title(patient.study_id), "source": source, "fired": {}, "trend": []},
            now=now,
            send_now=True,
        )
        await tx.commit()
    log.warning("patient %s unreachable (blocked the bot)", patient_id)
    return True


async def mark_unreachable_user(services: Services, telegram_user_id: int, *, source: str) -> bool:
    """`mark_unreachable` for the patient linked to this Telegram account, if any."""
    async with services.store.read() as tx:
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
    return patient is not None and await mark_unreachable(services, patient.id, source=source)


async def reachable_again(services: Services, telegram_user_id: int) -> bool:
    """The patient wrote (or unblocked the bot): an unreachable patient gets back the status they had."""
    async with services.store.read_one() as tx:  # on every message and press: one statement, no transaction
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
    if patient is None or patient.status != "unreachable":
        return False
    now = services.clock.now()
    async with services.store.transaction() as tx:
        current = await patients.get_patient(tx, patient.id)
        if current is None or current.status != "unreachable":
            return False
        previous = _previous_status(await patients.resume_status(tx, patient.id))
        await patients.set_status(tx, patient.id, previous, now)
        await audit.record(
            tx,
            at=now,
            actor="system",
            action="reachable_again",
            patient_id=patient.id,
            old_value="unreachable",
            new_value=previous,
        )
        await tx.commit()
    log.info("patient %s reachable again", patient.id)
    return True


def _previous_status(stored: str | None) -> str:
    """The status kept when the patient was marked unreachable; anything unexpected (none kept) resumes as active."""
    return stored if stored in _RESTORABLE else "active"
