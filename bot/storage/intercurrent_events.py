"""Intercurrent events recorded by clinicians (/event, migration 0007 table intercurrent_events): append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.clock import utc_iso
from bot.storage.store import Tx

__all__ = [
    "IntercurrentEvent",
    "insert_event",
    "all_events",
    "insert_correction",
    "standing_death",
    "remember_cancelled",
    "restore_cancelled",
    "stop_patient_notices",
]


@dataclass(frozen=True)
class IntercurrentEvent:
    study_id: str
    kind: str
    occurred_on: date
    note: str | None
    recorded_by: str


async def insert_event(
    tx: Tx, *, patient_id: int, kind: str, occurred_on: date, note: str | None, actor: str, now: datetime
) -> int:
    """Append one event; its id."""
    row = await tx.fetchone(
        "INSERT INTO intercurrent_events (patient_id, kind, occurred_on, note, recorded_by, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (patient_id, kind, occurred_on.isoformat(), note, actor, utc_iso(now)),
    )
    assert row is not None
    return int(row["id"])


async def all_events(tx: Tx) -> list[IntercurrentEvent]:
    """Every event not corrected away (migration 0012), by patient then date (for the report)."""
    rows = await tx.fetchall(
        "SELECT p.study_id, e.kind, e.occurred_on, e.note, e.recorded_by FROM intercurrent_events e"
        " JOIN patients p ON p.id = e.patient_id"
        " WHERE NOT EXISTS (SELECT 1 FROM intercurrent_corrections c WHERE c.event_id = e.id)"
        " ORDER BY p.study_id, e.occurred_on, e.id"
    )
    return [
        IntercurrentEvent(r["study_id"], r["kind"], date.fromisoformat(r["occurred_on"]), r["note"], r["recorded_by"])
        for r in rows
    ]


async def standing_death(tx: Tx, patient_id: int) -> int | None:
    """The id of the patient's last death event that no correction cancelled, or None."""
    row = await tx.fetchone(
        "SELECT e.id FROM intercurrent_events e WHERE e.patient_id = ? AND e.kind = 'death'"
        " AND NOT EXISTS (SELECT 1 FROM intercurrent_corrections c WHERE c.event_id = e.id)"
        " ORDER BY e.id DESC LIMIT 1",
        (patient_id,),
    )
    return None if row is None else int(row["id"])


async def insert_correction(tx: Tx, *, event_id: int, reason: str, actor: str, now: datetime) -> int:
    """Cancel an event recorded by mistake: a new row (the event itself is never changed); its id."""
    row = await tx.fetchone(
        "INSERT INTO intercurrent_corrections (event_id, reason, recorded_by, recorded_at) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (event_id, reason, actor, utc_iso(now)),
    )
    assert row is not None
    return int(row["id"])


async def remember_cancelled(tx: Tx, event_id: int, patient_id: int) -> list[int]:
    """Cancel the patient's questionnaires not yet finished because of the death `event_id`, remembering each
    one's status then (`cancelled_by`); their ids."""
    rows = await tx.fetchall(
        "SELECT id, status FROM instances WHERE patient_id = ?"
        " AND status IN ('planned', 'sending', 'open') ORDER BY id",
        (patient_id,),
    )
    for r in rows:
        await tx.execute(
            "INSERT INTO death_cancellations (event_id, instance_id, previous_status) VALUES (?, ?, ?)",
            (event_id, int(r["id"]), str(r["status"])),
        )
        await tx.execute("UPDATE instances SET status = 'cancelled' WHERE id = ?", (int(r["id"]),))
    return [int(r["id"]) for r in rows]


async def restore_cancelled(tx: Tx, event_id: int, now: datetime) -> list[int]:
    """After a correction: the questionnaires the death cancelled whose window is still open are planned again
    (the dispatcher sends them anew); those whose window closed meanwhile stay cancelled, not missed (the
    patient was not asked). Their ids."""
    rows = await tx.fetchall(
        "SELECT i.id FROM death_cancellations d JOIN instances i ON i.id = d.instance_id"
        " WHERE d.event_id = ? AND i.status = 'cancelled' AND i.closes_at > ? ORDER BY i.id",
        (event_id, utc_iso(now)),
    )
    for r in rows:
        await tx.execute("UPDATE instances SET status = 'planned' WHERE id = ?", (int(r["id"]),))
    return [int(r["id"]) for r in rows]


async def stop_patient_notices(tx: Tx, patient_id: int) -> None:
    """A death: the advice and notices queued for the patient's chat are never sent."""
    await tx.execute(
        "UPDATE patient_notices SET next_attempt_at = NULL WHERE patient_id = ? AND next_attempt_at IS NOT NULL",
        (patient_id,),
    )
