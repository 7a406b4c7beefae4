"""From a redeemed invitation to an active patient: understood the information, chose a time, schedule planned."""

from __future__ import annotations

from typing import Literal

from bot.domain.models import PREFERRED_TIMES, Patient
from bot.services import planner
from bot.services.container import Services
from bot.storage import audit, joining, patients

Step = Literal["ask_preference", "activated", "not_patient", "already_active", "already_done"]


async def confirm_information(
    services: Services, telegram_user_id: int, message_id: int | None
) -> tuple[Step, Patient | None]:
    """The patient pressed "I have read and understood": record it, then ask for the preferred time.

    A second press on the same information message (a double tap) changes nothing; a press on a new information
    message (the patient sent /start again before choosing a time) asks again.
    """
    now = services.clock.now()
    details: dict[str, object] = {"message_id": message_id}
    async with services.store.transaction() as tx:
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
        if patient is None:
            return "not_patient", None
        if patient.status != "joined":
            return "already_active", patient
        if not await joining.confirm_information(tx, patient_id=patient.id, message_id=message_id, now=now):
            return "already_done", patient
        await audit.record(
            tx,
            at=now,
            actor=f"patient:{patient.study_id}",
            action="information_understood",
            patient_id=patient.id,
            details=details,
        )
        await tx.commit()
    return "ask_preference", patient


async def choose_time_and_activate(
    services: Services, telegram_user_id: int, preferred: str
) -> tuple[Step, Patient | None]:
    """Store the preferred time, activate the patient and plan the protocol schedule (one transaction)."""
    if preferred not in PREFERRED_TIMES:
        raise ValueError(preferred)
    now = services.clock.now()
    async with services.store.transaction() as tx:
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
        if patient is None:
            return "not_patient", None
        if patient.status != "joined":
            return "already_active", patient
        await patients.set_preferred_time(tx, patient.id, preferred)
        await patients.set_status(tx, patient.id, "active", now)
        await audit.record(
            tx,
            at=now,
            actor=f"patient:{patient.study_id}",
            action="activate",
            patient_id=patient.id,
            entity="patient",
            entity_id=patient.study_id,
            new_value={"preferred_time": preferred},
        )
        active = await patients.get_patient(tx, patient.id)
        assert active is not None
        await planner.plan_patient(tx, services, active, now=now)
        await tx.commit()
    return "activated", active
