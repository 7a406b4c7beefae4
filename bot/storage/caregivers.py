"""Caregivers (migration 0018, issue 36): a relative who may answer for a patient (repository: never commits).

The Telegram identity of a caregiver lives in this table only, like the patient's in `telegram_links`: exports and
the team's messages name a caregiver by their number ("aidant 1").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.clock import parse_utc, utc_iso
from bot.domain.models import Instance
from bot.storage.patients import hash_code
from bot.storage.store import Tx

__all__ = [
    "CAREGIVER_LIMIT",
    "Caregiver",
    "CaregiverStatus",
    "create_invitation",
    "find_by_code",
    "find_by_user",
    "for_patient",
    "get",
    "holder_label",
    "link",
    "consent",
    "end",
    "live_count",
    "next_number",
    "record_offer",
    "offer_candidates",
]

CAREGIVER_LIMIT = 2
"""At most this many caregivers per patient at a time (invited, joined or active): the issue's bound; more people
answering for one patient would blur whose answers the trial holds."""

CaregiverStatus = Literal["invited", "joined", "active", "ended"]


@dataclass(frozen=True)
class Caregiver:
    id: int
    patient_id: int
    number: int
    status: CaregiverStatus
    telegram_user_id: int | None
    chat_id: int | None
    expires_at: datetime
    consented_at: datetime | None = None

    @property
    def holder(self) -> str:
        """What `instances.held_by` records when this caregiver starts a questionnaire."""
        return holder_label(self.id)


def holder_label(caregiver_id: int | None) -> str:
    """`instances.held_by`: "patient", or "caregiver:<id>"."""
    return "patient" if caregiver_id is None else f"caregiver:{caregiver_id}"


def _from(row: Any) -> Caregiver:
    return Caregiver(
        id=int(row["id"]),
        patient_id=int(row["patient_id"]),
        number=int(row["number"]),
        status=row["status"],
        telegram_user_id=None if row["telegram_user_id"] is None else int(row["telegram_user_id"]),
        chat_id=None if row["chat_id"] is None else int(row["chat_id"]),
        expires_at=parse_utc(row["expires_at"]),
        consented_at=parse_utc(row["consented_at"]) if row["consented_at"] else None,
    )


async def live_count(tx: Tx, patient_id: int, now: datetime) -> int:
    """Caregivers of the patient not ended (an unused invitation counts until it expires)."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n FROM caregivers WHERE patient_id = ? AND status != 'ended'"
        " AND (status != 'invited' OR expires_at > ?)",
        (patient_id, utc_iso(now)),
    )
    return int(row["n"]) if row is not None else 0


async def next_number(tx: Tx, patient_id: int) -> int:
    row = await tx.fetchone(
        "SELECT COALESCE(MAX(number), 0) + 1 AS n FROM caregivers WHERE patient_id = ?", (patient_id,)
    )
    return int(row["n"]) if row is not None else 1


async def create_invitation(
    tx: Tx, *, patient_id: int, number: int, code: str, now: datetime, expires_at: datetime
) -> int:
    return await tx.execute(
        "INSERT INTO caregivers (patient_id, number, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (patient_id, number, hash_code(code), utc_iso(now), utc_iso(expires_at)),
    )


async def find_by_code(tx: Tx, code: str) -> Caregiver | None:
    row = await tx.fetchone("SELECT * FROM caregivers WHERE code_hash = ?", (hash_code(code),))
    return _from(row) if row else None


async def find_by_user(tx: Tx, telegram_user_id: int) -> Caregiver | None:
    """The caregiver role of this Telegram account: the live one if any, else the newest ended one."""
    row = await tx.fetchone(
        "SELECT * FROM caregivers WHERE telegram_user_id = ? ORDER BY CASE WHEN status = 'ended' THEN 1 ELSE 0 END,"
        " id DESC LIMIT 1",
        (telegram_user_id,),
    )
    return _from(row) if row else None


async def get(tx: Tx, caregiver_id: int) -> Caregiver | None:
    row = await tx.fetchone("SELECT * FROM caregivers WHERE id = ?", (caregiver_id,))
    return _from(row) if row else None


async def for_patient(tx: Tx, patient_id: int, *, live_only: bool = True) -> list[Caregiver]:
    rows = await tx.fetchall(
        "SELECT * FROM caregivers WHERE patient_id = ?"
        + (" AND status != 'ended'" if live_only else "")
        + " ORDER BY number",
        (patient_id,),
    )
    return [_from(r) for r in rows]


async def link(tx: Tx, caregiver_id: int, *, telegram_user_id: int, chat_id: int, now: datetime) -> None:
    await tx.execute(
        "UPDATE caregivers SET status = 'joined', telegram_user_id = ?, chat_id = ?, joined_at = ? WHERE id = ?",
        (telegram_user_id, chat_id, utc_iso(now), caregiver_id),
    )


async def consent(tx: Tx, caregiver_id: int, *, text: str, now: datetime) -> bool:
    """Record the consent with its time and the text shown; False when not awaiting it (a double tap)."""
    return (
        await tx.execute_count(
            "UPDATE caregivers SET status = 'active', consented_at = ?, consent_text = ? WHERE id = ? AND status = 'joined'",
            (utc_iso(now), text, caregiver_id),
        )
        > 0
    )


async def end(tx: Tx, caregiver_id: int, *, by: str, now: datetime) -> bool:
    """End the role; False when already ended."""
    return (
        await tx.execute_count(
            "UPDATE caregivers SET status = 'ended', ended_at = ?, ended_by = ? WHERE id = ? AND status != 'ended'",
            (utc_iso(now), by, caregiver_id),
        )
        > 0
    )


async def record_offer(tx: Tx, instance_id: int, now: datetime) -> bool:
    """The caregivers were offered this questionnaire (once); False when they already were."""
    return (
        await tx.execute_count(
            "INSERT INTO caregiver_offers (instance_id, offered_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (instance_id, utc_iso(now)),
        )
        > 0
    )


async def offer_candidates(tx: Tx) -> list[Instance]:
    """Open questionnaires nobody has started, of active patients with an active caregiver, not yet offered."""
    from bot.storage.instances import instance_from

    rows = await tx.fetchall(
        "SELECT i.* FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE i.status = 'open' AND i.held_by IS NULL AND p.status = 'active'"
        " AND EXISTS (SELECT 1 FROM caregivers c WHERE c.patient_id = i.patient_id AND c.status = 'active')"
        " AND NOT EXISTS (SELECT 1 FROM caregiver_offers o WHERE o.instance_id = i.id) ORDER BY i.id"
    )
    return [instance_from(r) for r in rows]


async def completed_by_caregivers(tx: Tx, patient_id: int) -> int:
    """Completed questionnaires of the patient that a caregiver answered (held, issue 36): for /patient."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n FROM instances WHERE patient_id = ? AND status = 'completed' AND held_by LIKE 'caregiver:%'",
        (patient_id,),
    )
    return int(row["n"]) if row is not None else 0
