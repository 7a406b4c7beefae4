"""Patient messages (migration 0003): what a patient wrote outside an answer, kept append-only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.clock import parse_utc, utc_iso
from bot.storage.store import Tx


@dataclass(frozen=True)
class PatientMessage:
    id: int
    patient_id: int
    instance_id: int | None
    kind: str
    text: str | None
    received_at: datetime
    flags: tuple[str, ...]
    alert_id: int | None


async def insert_message(
    tx: Tx, *, patient_id: int, instance_id: int | None, kind: str, text: str | None, chat_id: int,
    message_id: int, telegram_date: datetime | None, received_at: datetime, flags: list[str], alert_id: int | None,
) -> int:
    return await tx.execute(
        "INSERT INTO patient_messages (patient_id, instance_id, kind, text, chat_id, message_id, telegram_date,"
        " received_at, flags, alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, instance_id, kind, text, chat_id, message_id,
         utc_iso(telegram_date) if telegram_date else None, utc_iso(received_at),
         json.dumps(flags, ensure_ascii=False), alert_id),
    )


async def messages_for_patient(tx: Tx, patient_id: int) -> list[PatientMessage]:
    rows = await tx.fetchall(
        "SELECT id, patient_id, instance_id, kind, text, received_at, flags, alert_id FROM patient_messages"
        " WHERE patient_id = ? ORDER BY id", (patient_id,),
    )
    return [
        PatientMessage(
            id=int(r["id"]), patient_id=int(r["patient_id"]), instance_id=r["instance_id"], kind=str(r["kind"]),
            text=r["text"], received_at=parse_utc(r["received_at"]), flags=tuple(json.loads(r["flags"])),
            alert_id=r["alert_id"],
        )
        for r in rows
    ]


async def all_messages(tx: Tx) -> list[PatientMessage]:
    """Every stored message, oldest first (exports)."""
    rows = await tx.fetchall(
        "SELECT id, patient_id, instance_id, kind, text, received_at, flags, alert_id FROM patient_messages ORDER BY id"
    )
    return [
        PatientMessage(
            id=int(r["id"]), patient_id=int(r["patient_id"]), instance_id=r["instance_id"], kind=str(r["kind"]),
            text=r["text"], received_at=parse_utc(r["received_at"]), flags=tuple(json.loads(r["flags"])),
            alert_id=r["alert_id"],
        )
        for r in rows
    ]
