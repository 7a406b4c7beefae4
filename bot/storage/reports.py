"""What the trial and telemonitoring reports read beyond the export snapshot: when each questionnaire opened, and
which ones raised an alert (the denominators of the telemonitoring yield, `bot.report.telemonitoring`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import parse_utc
from bot.storage.store import Tx

__all__ = ["OpenedInstance", "alerting_instance_ids", "opened_instances"]


@dataclass(frozen=True)
class OpenedInstance:
    """A questionnaire that was sent (open, completed or missed): pending and cancelled ones never reached anyone."""

    id: int
    patient_id: int
    status: str
    opens_at: datetime


async def opened_instances(tx: Tx) -> list[OpenedInstance]:
    rows = await tx.fetchall(
        "SELECT id, patient_id, status, opens_at FROM instances WHERE status IN ('open', 'completed', 'missed')"
    )
    return [
        OpenedInstance(int(r["id"]), int(r["patient_id"]), str(r["status"]), parse_utc(r["opens_at"])) for r in rows
    ]


async def alerting_instance_ids(tx: Tx) -> set[int]:
    """The instances that raised at least one alert."""
    return {
        int(r["instance_id"])
        for r in await tx.fetchall("SELECT DISTINCT instance_id FROM alerts WHERE instance_id IS NOT NULL")
    }
