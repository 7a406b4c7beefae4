"""Pause, resume and withdrawal — by the patient or by a clinician — with the clinicians told.

Withdrawal keeps every stored answer (the protocol requires it) and cancels what was not yet sent; afterwards the
bot never writes to the patient again.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from bot.domain.models import Patient
from bot.i18n import _
from bot.services import planner
from bot.services.container import Services
from bot.storage import alerts, audit, instances, patients
from bot.storage.store import Tx

Outcome = Literal["done", "unchanged", "unknown"]


def _notice_title(status: str) -> str:
    return {
        "paused": _("Follow-up paused"),
        "active": _("Follow-up resumed"),
        "withdrawn": _("Withdrawn from the study: no message will be sent to the patient any more"),
    }[status]


async def _notify(tx: Tx, patient: Patient, status: str, actor: str, now: object) -> None:
    """Tell the clinicians at once (an outbox notice; it needs no acknowledgement to be safe)."""
    await alerts.insert_alert(
        tx,
        patient_id=patient.id,
        instance_id=None,
        rule_id=f"patient_{status}",
        severity="info",
        payload={
            "title": _notice_title(status),
            "source": _("requested by the {who}").format(
                who=_("patient") if actor.startswith("patient:") else _("care team")
            ),
            "fired": {},
            "trend": [],
        },
        now=now,  # type: ignore[arg-type]  # _notify types now as object; every caller passes the clock's datetime
        send_now=True,
    )


async def change_status(services: Services, patient: Patient, new_status: str, *, actor: str) -> Outcome:
    """Move a patient between active, paused and withdrawn; withdrawn is final."""
    now = services.clock.now()
    allowed = {
        "paused": ("active",),
        "active": ("paused", "unreachable"),
        "withdrawn": ("invited", "joined", "active", "paused", "unreachable"),
    }[new_status]
    async with services.store.transaction() as tx:
        current = await patients.get_patient(tx, patient.id)
        if current is None:
            return "unknown"
        if current.status not in allowed:
            return "unchanged"
        await patients.set_status(tx, patient.id, new_status, now)
        if new_status == "withdrawn":
            await instances.cancel_unsent(tx, patient.id)
            await alerts.stop_info_notices(tx, patient.id)
            from bot.services.caregivers import end_all  # issue 36: the withdrawal ends the caregivers' role

            await end_all(tx, current, by="withdrawal", actor=actor, now=now)
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action=f"status:{new_status}",
            patient_id=patient.id,
            entity="patient",
            entity_id=patient.study_id,
            old_value=current.status,
            new_value=new_status,
        )
        await _notify(tx, current, new_status, actor, now)
        await tx.commit()
    return "done"


async def change_day0(services: Services, patient: Patient, rt_start: date, *, actor: str) -> int:
    """A clinician corrects the radiotherapy start: instances not yet sent are planned again from the new day 0."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        await patients.set_rt_start(tx, patient.id, rt_start)
        await instances.delete_replannable(tx, patient.id)
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="change_day0",
            patient_id=patient.id,
            entity="patient",
            entity_id=patient.study_id,
            old_value=patient.rt_start.isoformat(),
            new_value=rt_start.isoformat(),
        )
        updated = await patients.get_patient(tx, patient.id)
        assert updated is not None
        count = await planner.plan_patient(tx, services, updated, now=now) if updated.status != "invited" else 0
        await tx.commit()
    return count


async def push_questionnaire(services: Services, patient: Patient, questionnaire_id: str, *, actor: str) -> int | None:
    """A clinician sends a questionnaire now (outside the schedule): an extra instance open until the end of the day."""
    from datetime import datetime, time, timedelta

    from bot.domain.schedule import next_allowed

    now = services.clock.now()
    tz = services.settings.timezone
    # Pushed at night, it waits for the end of quiet hours: it stays open until the end of that day, not tonight.
    first_send = next_allowed(now, services.schedule, tz)
    local_end = datetime.combine(first_send.astimezone(tz).date() + timedelta(days=1), time(0), tzinfo=tz)
    async with services.store.transaction() as tx:
        if questionnaire_id not in services.questionnaires or patient.status != "active":
            return None
        label = f"X{await instances.count_extra(tx, patient.id) + 1}"
        instance_id = await instances.create_instance(
            tx,
            patient_id=patient.id,
            questionnaire_id=questionnaire_id,
            questionnaire_version=services.questionnaires[questionnaire_id].version,
            timepoint=label,
            study_day=(now.astimezone(tz).date() - patient.rt_start).days,
            is_primary=False,
            opens_at=now,
            closes_at=local_end.astimezone(now.tzinfo),
        )
        await instances.set_opens_at(tx, instance_id, now)
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="push_questionnaire",
            patient_id=patient.id,
            entity="instance",
            entity_id=instance_id,
            new_value=questionnaire_id,
        )
        await tx.commit()
    return instance_id
