"""What clinicians record about the treatment and the course beyond the questionnaires: the actual last
radiotherapy fraction (/fraction), intercurrent events (/event) and the analgesic regimen (/traitement), all
audited.

Why here: the flare window runs to 10 days after the *last fraction* (pain-response.md), which may differ from the
planned one (a fraction postponed); and a trial lists intercurrent events (re-irradiation, surgery or
cementoplasty, steroid start, change of systemic therapy, death, withdrawal with its reason) per patient, because
they change how a pain response is read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from bot.domain.models import Patient
from bot.domain.omed import Regimen
from bot.i18n import _
from bot.services.container import Services
from bot.storage import alerts, audit, intercurrent_events, patients, team_regimens
from bot.storage.intercurrent_events import IntercurrentEvent
from bot.storage.store import Tx

__all__ = [
    "EVENT_KINDS",
    "NEEDS_NOTE",
    "IntercurrentEvent",
    "AlreadyDeceased",
    "record_last_fraction",
    "record_event",
    "cancel_death",
    "record_regimen",
    "events_of",
    "all_events",
]

EVENT_KINDS: Final[tuple[str, ...]] = (
    "reirradiation",
    "surgery",
    "cementoplasty",
    "steroids",
    "systemic",
    "death",
    "withdrawal",
)
"""Kinds of intercurrent events (the CHECK of table intercurrent_events, migration 0007)."""
NEEDS_NOTE: Final[frozenset[str]] = frozenset({"withdrawal"})
"""A withdrawal is recorded with its reason."""


async def record_last_fraction(
    services: Services, patient: Patient, last_on: date, delivered: int, *, actor: str
) -> None:
    """Store the actual last fraction and the number of fractions delivered; audited with the old values."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        await patients.set_last_fraction(tx, patient.id, last_on, delivered)
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="last_fraction",
            patient_id=patient.id,
            entity="patient",
            entity_id=patient.id,
            old_value={
                "last_fraction_on": patient.last_fraction_on.isoformat() if patient.last_fraction_on else None,
                "fractions_delivered": patient.fractions_delivered,
            },
            new_value={"last_fraction_on": last_on.isoformat(), "fractions_delivered": delivered},
        )
        await tx.commit()


class AlreadyDeceased(ValueError):
    """A death is already recorded for this patient (and not corrected): a second one would tell the team twice."""


async def record_event(
    services: Services, patient: Patient, kind: str, occurred_on: date, note: str | None, *, actor: str
) -> int:
    """Append one intercurrent event; audited. `kind` must be one of EVENT_KINDS (ValueError otherwise), and a
    withdrawal needs its reason in `note`.

    A death ends all contact in the same transaction (issue 39, item 4): status `deceased` (the previous status
    kept for a correction), every questionnaire not finished cancelled (remembered), the notices and advice queued
    for the patient's chat dropped, the information notices about them stopped, and the team told once by an
    outbox notice. Everything that writes to a patient asks for status `active` (the dispatcher, reminders, /send)
    or leaves out `deceased` (the patient notices), so nothing reaches the patient's chat any more. A second death
    for the same patient raises `AlreadyDeceased`.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(kind)
    if kind in NEEDS_NOTE and not (note and note.strip()):
        raise ValueError("a withdrawal needs its reason")
    now = services.clock.now()
    async with services.store.transaction() as tx:
        current = await patients.get_patient(tx, patient.id) if kind == "death" else None
        if kind == "death" and (current is None or await intercurrent_events.standing_death(tx, patient.id)):
            raise AlreadyDeceased(patient.study_id)
        event_id = await intercurrent_events.insert_event(
            tx, patient_id=patient.id, kind=kind, occurred_on=occurred_on, note=note, actor=actor, now=now
        )
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="intercurrent_event",
            patient_id=patient.id,
            entity="intercurrent_event",
            entity_id=event_id,
            new_value={"kind": kind, "occurred_on": occurred_on.isoformat(), "note": note},
        )
        if current is not None:
            await _end_contact(tx, current, event_id, occurred_on, actor=actor, now=now)
        await tx.commit()
    return event_id


async def _end_contact(
    tx: Tx, patient: Patient, event_id: int, occurred_on: date, *, actor: str, now: datetime
) -> None:
    await patients.mark_deceased(tx, patient.id, previous_status=patient.status, now=now)
    cancelled = await intercurrent_events.remember_cancelled(tx, event_id, patient.id)
    await intercurrent_events.stop_patient_notices(tx, patient.id)
    await alerts.stop_info_notices(tx, patient.id)  # e.g. a missed questionnaire not yet in a digest
    await audit.record(
        tx,
        at=now,
        actor=actor,
        action="status:deceased",
        patient_id=patient.id,
        entity="patient",
        entity_id=patient.study_id,
        old_value=patient.status,
        new_value="deceased",
        details={"event_id": event_id, "cancelled_instances": cancelled},
    )
    notice = await alerts.insert_alert(
        tx,
        patient_id=patient.id,
        instance_id=None,
        rule_id="patient_deceased",
        severity="info",
        payload={
            "title": _("Death recorded ({day}): no message will be sent to the patient any more").format(
                day=occurred_on.strftime("%d/%m/%Y")
            ),
            "source": _("requested by the {who}").format(who=_("care team")),
            "fired": {},
            "trend": [],
        },
        now=now,
        send_now=True,
    )
    await alerts.mark_digested(tx, [notice], now)  # sent at once: the group is told once, not again in a digest


async def cancel_death(services: Services, patient: Patient, reason: str, *, actor: str) -> bool:
    """Correct a death recorded by mistake (`/event <id> death-cancel <reason>`): a correction row (the event is
    kept, no longer counted), the previous status back, the cancelled questionnaires whose window is still open
    planned again; audited, and the team told. False when no death is recorded for the patient."""
    if not reason.strip():
        raise ValueError("a correction needs its reason")
    now = services.clock.now()
    async with services.store.transaction() as tx:
        event_id = await intercurrent_events.standing_death(tx, patient.id)
        current = await patients.get_patient(tx, patient.id)
        if event_id is None or current is None:
            return False
        correction_id = await intercurrent_events.insert_correction(
            tx, event_id=event_id, reason=reason, actor=actor, now=now
        )
        back: str = current.status  # may become the stored resume status, a plain string
        if current.status == "deceased":
            back = await patients.resume_status(tx, patient.id) or "active"
            await patients.set_status(tx, patient.id, back, now)
            await patients.clear_resume_status(tx, patient.id)
        restored = await intercurrent_events.restore_cancelled(tx, event_id, now)
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="intercurrent_correction",
            patient_id=patient.id,
            entity="intercurrent_event",
            entity_id=event_id,
            old_value=current.status,
            new_value=back,
            details={"correction_id": correction_id, "reason": reason, "restored_instances": restored},
        )
        notice = await alerts.insert_alert(
            tx,
            patient_id=patient.id,
            instance_id=None,
            rule_id="patient_death_cancelled",
            severity="info",
            payload={
                "title": _("Death entry cancelled ({reason}): follow-up resumed").format(reason=reason),
                "source": _("requested by the {who}").format(who=_("care team")),
                "fired": {},
                "trend": [],
            },
            now=now,
            send_now=True,
        )
        await alerts.mark_digested(tx, [notice], now)
        await tx.commit()
    return True


async def all_events(tx: Tx) -> list[IntercurrentEvent]:
    """Every event, by patient then date (for the report)."""
    return await intercurrent_events.all_events(tx)


async def events_of(tx: Tx, study_id: str) -> list[IntercurrentEvent]:
    return [e for e in await all_events(tx) if e.study_id == study_id]


async def record_regimen(services: Services, patient: Patient, regimen: Regimen, reason: str, *, actor: str) -> int:
    """Store the analgesic regimen a clinician recorded (/traitement), with its required reason; audited with the
    regimen it replaces. The patient confirms it at the next questionnaire that asks about analgesics."""
    if not reason.strip():
        raise ValueError("a regimen entry needs its reason")
    now = services.clock.now()
    async with services.store.transaction() as tx:
        before = await team_regimens.for_patient(tx, patient.id)
        entry_id = await team_regimens.record(
            tx, patient_id=patient.id, regimen=regimen, reason=reason, actor=actor, now=now
        )
        await audit.record(
            tx,
            at=now,
            actor=actor,
            action="clinician_regimen",
            patient_id=patient.id,
            entity="clinician_regimen",
            entity_id=entry_id,
            old_value=before[-1].regimen.model_dump(mode="json") if before else None,
            new_value=regimen.model_dump(mode="json"),
            details={"reason": reason},
        )
        await tx.commit()
    return entry_id
