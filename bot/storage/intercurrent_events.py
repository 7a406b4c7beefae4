"""Intercurrent events recorded by clinicians (/event, migration 0007 table intercurrent_events): append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.clock import utc_iso
from bot.storage.store import Tx

__all__ = ["IntercurrentEvent", "insert_event", "all_events"]


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
    """Every event, by patient then date (for the report)."""
    rows = await tx.fetchall(
        "SELECT p.study_id, e.kind, e.occurred_on, e.note, e.recorded_by FROM intercurrent_events e"
        " JOIN patients p ON p.id = e.patient_id ORDER BY p.study_id, e.occurred_on, e.id"
    )
    return [IntercurrentEvent(r["study_id"], r["kind"], date.fromisoformat(r["occurred_on"]), r["note"],
                              r["recorded_by"]) for r in rows]
