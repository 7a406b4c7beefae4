"""Turning the protocol schedule into stored questionnaire instances for one patient.

The schedule itself is pure (`bot.domain.schedule.plan`); here it becomes rows, so what is due is always derived
from the database and the clock, never only from in-memory jobs.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain import schedule
from bot.domain.models import Patient
from bot.services.container import Services
from bot.storage import instances
from bot.storage.store import Tx


async def plan_patient(tx: Tx, services: Services, patient: Patient, *, now: datetime) -> int:
    """Create the patient's instances (idempotent: a timepoint exists once); return how many are planned."""
    planned = schedule.plan(
        services.schedule,
        rt_start=patient.rt_start,
        fractions=patient.fractions,
        enrolled_at=now,
        preferred=patient.preferred_time,
        tz=services.settings.timezone,
    )
    for item in planned:
        questionnaire = services.questionnaires[item.questionnaire_id]
        await instances.create_instance(
            tx,
            patient_id=patient.id,
            questionnaire_id=item.questionnaire_id,
            questionnaire_version=questionnaire.version,
            timepoint=item.timepoint,
            study_day=item.day,
            is_primary=item.primary,
            opens_at=item.opens_at,
            closes_at=item.closes_at,
        )
    return len(planned)
