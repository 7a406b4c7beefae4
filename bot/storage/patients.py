"""Patients, sites, invitations and the Telegram link (repositories: they never commit)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from bot.clock import parse_utc, utc_iso
from bot.domain.models import Patient, TelegramLink
from bot.storage.store import Tx


def hash_code(code: str) -> str:
    """Invitation codes are stored hashed: a leaked database does not let anyone join as a patient."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def patient_from(row: aiosqlite.Row) -> Patient:
    return Patient(
        id=row["id"],
        study_id=row["study_id"],
        site_code=row["site_code"],
        arm=row["arm"],
        rt_start=date.fromisoformat(row["rt_start"]),
        fractions=row["fractions"],
        status=row["status"],
        preferred_time=row["preferred_time"],
        enrolled_at=parse_utc(row["enrolled_at"]),
        joined_at=parse_utc(row["joined_at"]) if row["joined_at"] else None,
        last_fraction_on=date.fromisoformat(row["last_fraction_on"]) if row["last_fraction_on"] else None,
        fractions_delivered=row["fractions_delivered"],
    )


async def ensure_site(tx: Tx, code: str, now: datetime) -> None:
    await tx.execute("INSERT OR IGNORE INTO sites (code, created_at) VALUES (?, ?)", (code, utc_iso(now)))


async def create_patient(
    tx: Tx, *, study_id: str, site_code: str, arm: str, rt_start: date, fractions: int, now: datetime
) -> int:
    await ensure_site(tx, site_code, now)
    return await tx.execute(
        "INSERT INTO patients (study_id, site_code, arm, rt_start, fractions, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)",
        (study_id, site_code, arm, rt_start.isoformat(), fractions, utc_iso(now)),
    )


async def get_patient(tx: Tx, patient_id: int) -> Patient | None:
    row = await tx.fetchone("SELECT * FROM patients WHERE id = ?", (patient_id,))
    return patient_from(row) if row else None


async def find_by_study_id(tx: Tx, study_id: str) -> Patient | None:
    row = await tx.fetchone("SELECT * FROM patients WHERE study_id = ?", (study_id,))
    return patient_from(row) if row else None


async def list_patients(tx: Tx) -> list[Patient]:
    return [patient_from(r) for r in await tx.fetchall("SELECT * FROM patients ORDER BY site_code, study_id")]


FIND_BY_TELEGRAM_USER = (
    "SELECT p.* FROM patients p JOIN telegram_links l ON l.patient_id = p.id WHERE l.telegram_user_id = ?"
)


async def find_by_telegram_user(tx: Tx, telegram_user_id: int) -> Patient | None:
    row = await tx.fetchone(FIND_BY_TELEGRAM_USER, (telegram_user_id,))
    return patient_from(row) if row else None


async def get_link(tx: Tx, patient_id: int) -> TelegramLink | None:
    row = await tx.fetchone("SELECT * FROM telegram_links WHERE patient_id = ?", (patient_id,))
    return TelegramLink(row["patient_id"], row["telegram_user_id"], row["chat_id"]) if row else None


async def link_telegram(tx: Tx, *, patient_id: int, telegram_user_id: int, chat_id: int, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO telegram_links (patient_id, telegram_user_id, chat_id, linked_at) VALUES (?, ?, ?, ?)",
        (patient_id, telegram_user_id, chat_id, utc_iso(now)),
    )


async def set_status(tx: Tx, patient_id: int, status: str, now: datetime) -> None:
    extra = ", joined_at = ?" if status == "joined" else ", withdrawn_at = ?" if status == "withdrawn" else ""
    params: tuple[object, ...] = (status, utc_iso(now), patient_id) if extra else (status, patient_id)
    await tx.execute(f"UPDATE patients SET status = ?{extra} WHERE id = ?", params)


async def mark_unreachable(tx: Tx, patient_id: int, *, resume_status: str, now: datetime) -> None:
    """The patient blocked the bot: `unreachable`, remembering the status they get back when they write again."""
    await set_status(tx, patient_id, "unreachable", now)
    await tx.execute("UPDATE patients SET resume_status = ? WHERE id = ?", (resume_status, patient_id))


async def mark_deceased(tx: Tx, patient_id: int, *, previous_status: str, now: datetime) -> None:
    """A recorded death (migration 0012): status `deceased`, remembering the status a correction gives back."""
    await set_status(tx, patient_id, "deceased", now)
    await tx.execute("UPDATE patients SET resume_status = ? WHERE id = ?", (previous_status, patient_id))


async def clear_resume_status(tx: Tx, patient_id: int) -> None:
    """The remembered status was given back (a death entry corrected)."""
    await tx.execute("UPDATE patients SET resume_status = NULL WHERE id = ?", (patient_id,))


async def resume_status(tx: Tx, patient_id: int) -> str | None:
    """The status an unreachable patient had before (`mark_unreachable`; migration 0009), or None."""
    row = await tx.fetchone("SELECT resume_status FROM patients WHERE id = ?", (patient_id,))
    return None if row is None or row["resume_status"] is None else str(row["resume_status"])


async def set_last_fraction(tx: Tx, patient_id: int, last_on: date, delivered: int) -> None:
    """The actual last radiotherapy fraction and the number of fractions delivered (/fraction)."""
    await tx.execute(
        "UPDATE patients SET last_fraction_on = ?, fractions_delivered = ? WHERE id = ?",
        (last_on.isoformat(), delivered, patient_id),
    )


async def set_preferred_time(tx: Tx, patient_id: int, preferred: str) -> None:
    await tx.execute("UPDATE patients SET preferred_time = ? WHERE id = ?", (preferred, patient_id))


async def set_rt_start(tx: Tx, patient_id: int, rt_start: date) -> None:
    await tx.execute("UPDATE patients SET rt_start = ? WHERE id = ?", (rt_start.isoformat(), patient_id))


async def create_invitation(tx: Tx, *, patient_id: int, code: str, now: datetime, expires_at: datetime) -> int:
    return await tx.execute(
        "INSERT INTO invitations (patient_id, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (patient_id, hash_code(code), utc_iso(now), utc_iso(expires_at)),
    )


@dataclass(frozen=True)
class StoredInvitation:
    """An invitation as kept (its code only as a hash)."""

    id: int
    patient_id: int
    expires_at: datetime
    redeemed_at: datetime | None


async def find_invitation(tx: Tx, code: str) -> StoredInvitation | None:
    row = await tx.fetchone(
        "SELECT id, patient_id, expires_at, redeemed_at FROM invitations WHERE code_hash = ?", (hash_code(code),)
    )
    if row is None:
        return None
    return StoredInvitation(
        int(row["id"]),
        int(row["patient_id"]),
        parse_utc(row["expires_at"]),
        parse_utc(row["redeemed_at"]) if row["redeemed_at"] else None,
    )


async def redeem_invitation(tx: Tx, invitation_id: int, now: datetime) -> None:
    await tx.execute("UPDATE invitations SET redeemed_at = ? WHERE id = ?", (utc_iso(now), invitation_id))


async def site_codes_in_use(tx: Tx) -> list[str]:
    """Sites with at least one patient (their phone numbers must be configured)."""
    return [str(r["site_code"]) for r in await tx.fetchall("SELECT DISTINCT site_code FROM patients ORDER BY 1")]
