"""What clinicians record about the treatment and the course beyond the questionnaires: the actual last
radiotherapy fraction (/fraction), intercurrent events (/event) and the analgesic regimen (/traitement), all
audited.

Why here: the flare window runs to 10 days after the *last fraction* (pain-response.md), which may differ from the
planned one (a fraction postponed); and a trial lists intercurrent events (re-irradiation, surgery or
cementoplasty, steroid start, change of systemic therapy, death, withdrawal with its reason) per patient, because
they change how a pain response is read.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from bot.domain.models import Patient
from bot.domain.omed import Regimen
from bot.services.container import Services
from bot.storage import audit, intercurrent_events, patients, team_regimens
from bot.storage.intercurrent_events import IntercurrentEvent
from bot.storage.store import Tx

__all__ = ["EVENT_KINDS", "NEEDS_NOTE", "IntercurrentEvent", "record_last_fraction", "record_event", "record_regimen", "events_of", "all_events"]

EVENT_KINDS: Final[tuple[str, ...]] = (
    "reirradiation", "surgery", "cementoplasty", "steroids", "systemic", "death", "withdrawal",
)
"""Kinds of intercurrent events (the CHECK of table intercurrent_events, migration 0007)."""
NEEDS_NOTE: Final[frozenset[str]] = frozenset({"withdrawal"})
"""A withdrawal is recorded with its reason."""


async def record_last_fraction(services: Services, patient: Patient, last_on: date, delivered: int,
                               *, actor: str) -> None:
    """Store the actual last fraction and the number of fractions delivered; audited with the old values."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        await patients.set_last_fraction(tx, patient.id, last_on, delivered)
        await audit.record(
            tx, at=now, actor=actor, action="last_fraction", patient_id=patient.id, entity="patient",
            entity_id=patient.id,
            old_value={"last_fraction_on": patient.last_fraction_on.isoformat() if patient.last_fraction_on else None,
                       "fractions_delivered": patient.fractions_delivered},
            new_value={"last_fraction_on": last_on.isoformat(), "fractions_delivered": delivered},
        )
        await tx.commit()


async def record_event(services: Services, patient: Patient, kind: str, occurred_on: date, note: str | None,
                       *, actor: str) -> int:
    """Append one intercurrent event; audited. `kind` must be one of EVENT_KINDS (ValueError otherwise), and a
    withdrawal needs its reason in `note`."""
    if kind not in EVENT_KINDS:
        raise ValueError(kind)
    if kind in NEEDS_NOTE and not (note and note.strip()):
        raise ValueError("a withdrawal needs its reason")
    now = services.clock.now()
    async with services.store.transaction() as tx:
        event_id = await intercurrent_events.insert_event(tx, patient_id=patient.id, kind=kind,
                                                          occurred_on=occurred_on, note=note, actor=actor, now=now)
        await audit.record(tx, at=now, actor=actor, action="intercurrent_event", patient_id=patient.id,
                           entity="intercurrent_event", entity_id=event_id,
                           new_value={"kind": kind, "occurred_on": occurred_on.isoformat(), "note": note})
        await tx.commit()
    return event_id


async def all_events(tx: Tx) -> list[IntercurrentEvent]:
    """Every event, by patient then date (for the report)."""
    return await intercurrent_events.all_events(tx)


async def events_of(tx: Tx, study_id: str) -> list[IntercurrentEvent]:
    return [e for e in await all_events(tx) if e.study_id == study_id]


async def record_regimen(services: Services, patient: Patient, regimen: Regimen, reason: str,
                         *, actor: str) -> int:
    """Store the analgesic regimen a clinician recorded (/traitement), with its required reason; audited with the
    regimen it replaces. The patient confirms it at the next questionnaire that asks about analgesics."""
    if not reason.strip():
        raise ValueError("a regimen entry needs its reason")
    now = services.clock.now()
    async with services.store.transaction() as tx:
        before = await team_regimens.for_patient(tx, patient.id)
        entry_id = await team_regimens.record(tx, patient_id=patient.id, regimen=regimen, reason=reason,
                                              actor=actor, now=now)
        await audit.record(
            tx, at=now, actor=actor, action="clinician_regimen", patient_id=patient.id,
            entity="clinician_regimen", entity_id=entry_id,
            old_value=before[-1].regimen.model_dump(mode="json") if before else None,
            new_value=regimen.model_dump(mode="json"), details={"reason": reason},
        )
        await tx.commit()
    return entry_id
