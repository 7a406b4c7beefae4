"""A research nurse enters a patient's day-30 answers by phone, from the clinicians' group (/saisie, issue 16).

Issue 33: also a baseline still not completed while its window is open (it is on the call list too): without it
the day-30 response cannot be computed. `/saisie` opens the baseline first when it is the one missing.

The same questionnaire, the same engine and the same storage as the patient's own answers (`answering.store_answer`):
only who answers changes. Every row is stamped `source = 'phone'` and audited under the clinician's id with
`{"source": "phone"}`, and the exports carry the source (CSV `source` column, FHIR answer-source extension), so the
statistician can tell phone answers from self-reported ones.

Which clinician is entering which questionnaire is kept in `settings` (`phone_entry:<telegram id>`), so a typed
answer (a number, a free text) in the group goes to that nurse's entry, and a restart loses nothing. Buttons carry
the instance id and item index, and are checked against the stored state like the patient's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bot.domain import engine
from bot.domain.models import Instance, Patient
from bot.domain.prompt import Prompt
from bot.services import answering
from bot.services.answering import Submission, ValueFactory
from bot.services.call_list import CALLABLE_STATUSES
from bot.services.container import Services
from bot.storage import audit, instances, patients
from bot.storage.settings import get_setting, put_setting
from bot.storage.store import Tx

OpenProblem = Literal["unknown", "inactive", "no_window", "completed"]
PHONE = "phone"


def session_key(clinician_id: int) -> str:
    return f"phone_entry:{clinician_id}"


async def open_entry(
    services: Services, *, clinician_id: int, study_id: str
) -> tuple[OpenProblem | None, Patient | None, Prompt | None]:
    """Start (or resume) the phone entry of the patient's day-30 questionnaire; return its current question.

    Refused for an unknown or withdrawn patient, and outside the day-30 window (an answer by phone counts only
    where the patient's own would). A questionnaire not yet sent to the patient is opened without sending it.
    """
    now = services.clock.now()
    actor = f"clinician:{clinician_id}"
    async with services.store.transaction() as tx:
        patient = await patients.find_by_study_id(tx, study_id)
        if patient is None:
            return "unknown", None, None
        if patient.status not in CALLABLE_STATUSES:
            return "inactive", patient, None
        instance = await _entry_instance(tx, patient, now)
        if instance is None:
            return "no_window", patient, None
        if instance.status == "completed":
            return "completed", patient, None
        if instance.status not in ("planned", "sending", "open") or not instance.opens_at <= now < instance.closes_at:
            return "no_window", patient, None
        if instance.status != "open":
            await instances.set_status(tx, instance.id, "open", now)
            if instance.questionnaire_id in services.questionnaires:
                await instances.stamp_sent(tx, instance.id, services.questionnaires[instance.questionnaire_id], now)
            instance = await instances.get_instance(tx, instance.id)
            assert instance is not None
        await put_setting(tx, session_key(clinician_id), str(instance.id))
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="phone_entry_start",
            patient_id=patient.id,
            entity="instance",
            entity_id=instance.id,
            details={"source": PHONE},
        )
        prompt = await answering.prompt_for(tx, services, instance)
        await tx.commit()
    return None, patient, prompt


def phone_enterable(instance: Instance) -> bool:
    """The questionnaires a nurse may enter by phone: the day-30 (primary) one and the baseline (issue 33)."""
    return instance.is_primary or instance.timepoint == "baseline"


async def _entry_instance(tx: Tx, patient: Patient, now: datetime) -> Instance | None:
    """The baseline while it is missing and its window open (the response needs it), else the day-30 one."""
    baseline = await instances.baseline_instance_of(tx, patient.id)
    if (
        baseline is not None
        and baseline.status in ("planned", "sending", "open")
        and baseline.opens_at <= now < baseline.closes_at
    ):
        return baseline
    return await instances.primary_instance_of(tx, patient.id)


async def session_instance(services: Services, clinician_id: int) -> int | None:
    """The instance this clinician is entering by phone, if any."""
    async with services.store.read() as tx:
        value = await get_setting(tx, session_key(clinician_id))
    return int(value) if value else None


async def current_prompt(services: Services, instance_id: int) -> Prompt | None:
    async with services.store.read() as tx:
        instance = await instances.get_instance(tx, instance_id)
        if instance is None or instance.status != "open":
            return None
        return await answering.prompt_for(tx, services, instance)


async def submit(
    services: Services, *, clinician_id: int, instance_id: int, item_index: int | None, make_value: ValueFactory
) -> Submission:
    """Store one answer given by phone (source "phone"), checked against the stored state like a patient's."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        instance = await instances.get_instance(tx, instance_id)
        patient = None if instance is None else await patients.get_patient(tx, instance.patient_id)
        if instance is None or patient is None or not phone_enterable(instance):
            return Submission("stale")
        if patient.status not in CALLABLE_STATUSES:
            return Submission("inactive", patient=patient)
        if instance.status != "open" or not now <= instance.closes_at:
            return Submission("stale", patient=patient)
        submission = await answering.store_answer(
            tx,
            services,
            patient,
            instance,
            item_index=item_index,
            value_for=lambda prompt: make_value(prompt.item),
            answered_at=None,
            now=now,
            actor=f"clinician:{clinician_id}",
            source=PHONE,
        )
    if submission.finished:
        async with services.store.transaction() as tx:
            await put_setting(tx, session_key(clinician_id), "")
            await tx.commit()
    return submission


async def toggle(
    services: Services, *, instance_id: int, item_index: int, code: str
) -> tuple[str | None, Prompt | None]:
    """Toggle one choice of a multiple-choice item in a phone entry (stored, like the patient's ticks)."""
    async with services.store.transaction() as tx:
        instance = await instances.get_instance(tx, instance_id)
        if instance is None or instance.status != "open" or not phone_enterable(instance):
            return "stale", None
        new_prompt = await answering.toggle_in(tx, services, instance, item_index=item_index, code=code)
        if new_prompt is None:
            return "stale", None
        await tx.commit()
    return None, new_prompt


def typed_value(text: str) -> ValueFactory:
    return lambda item: engine.answer_from_text(item, text)
