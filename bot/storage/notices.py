"""The patient-notice outbox (migration 0002): advice owed to a patient after a worrying answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import utc_iso
from bot.storage.store import Tx

#: After this, the advice is no longer "now": the clinicians' alert carries on (bot.delivery.patient_notices).
NOTICE_VALID_FOR = timedelta(hours=24)
#: The alert severities that tell the patient something at once.
NOTICE_KINDS = ("urgent", "same_day")


@dataclass(frozen=True)
class DueNotice:
    id: int
    patient_id: int
    kind: str
    chat_id: int
    attempts: int
    advice: str  # bot.domain.rules.Advice; the kind's own advice for rows older than migration 0003
    site_code: str
    about_message: bool = False  # owed for the patient's own words (no questionnaire), not for a tapped answer
    caregiver: bool = False  # owed to the caregiver who answered or wrote (issue 36): their chat, their wording


async def owe_notice(
    tx: Tx,
    *,
    patient_id: int,
    instance_id: int | None,
    severity: str,
    now: datetime,
    advice: str | None = None,
    caregiver_id: int | None = None,
) -> int | None:
    """Inside the answer's transaction: record the advice the patient (or the caregiver who answered, issue 36) is
    owed for alerts of this `severity`."""
    if severity not in NOTICE_KINDS:
        return None
    return await insert_notice(
        tx,
        patient_id=patient_id,
        instance_id=instance_id,
        kind=severity,
        now=now,
        expires_at=now + NOTICE_VALID_FOR,
        advice=advice or severity,
        caregiver_id=caregiver_id,
    )


async def insert_notice(
    tx: Tx,
    *,
    patient_id: int,
    instance_id: int | None,
    kind: str,
    now: datetime,
    expires_at: datetime,
    advice: str | None = None,
    caregiver_id: int | None = None,
) -> int:
    return await tx.execute(
        "INSERT INTO patient_notices (patient_id, instance_id, kind, advice, created_at, next_attempt_at, expires_at,"
        " caregiver_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, instance_id, kind, advice or kind, utc_iso(now), utc_iso(now), utc_iso(expires_at), caregiver_id),
    )


async def due_notices(tx: Tx, now: datetime, notice_id: int | None = None) -> list[DueNotice]:
    """Notices to send now (or the one given), to patients still linked, not withdrawn and not unreachable (blocked
    the bot: kept for when they come back), that no replica is sending now, oldest first."""
    rows = await tx.fetchall(
        "SELECT n.id, n.patient_id, n.kind, n.advice, n.attempts, COALESCE(c.chat_id, l.chat_id) AS chat_id,"
        " p.site_code, n.instance_id, n.caregiver_id"
        " FROM patient_notices n"
        " JOIN patients p ON p.id = n.patient_id JOIN telegram_links l ON l.patient_id = n.patient_id"
        " LEFT JOIN caregivers c ON c.id = n.caregiver_id"
        " WHERE n.next_attempt_at IS NOT NULL AND n.expires_at > ? AND p.status NOT IN ('withdrawn', 'unreachable', 'deceased')"
        " AND (n.caregiver_id IS NULL OR c.status = 'active')"
        " AND (n.claimed_until IS NULL OR n.claimed_until <= ?)"
        " AND (CAST(? AS INTEGER) IS NULL AND n.next_attempt_at <= ? OR n.id = ?) ORDER BY n.id",
        (utc_iso(now), utc_iso(now), notice_id, utc_iso(now), notice_id),
    )
    return [
        DueNotice(
            int(r["id"]),
            int(r["patient_id"]),
            str(r["kind"]),
            int(r["chat_id"]),
            int(r["attempts"]),
            str(r["advice"] or r["kind"]),
            str(r["site_code"]),
            r["instance_id"] is None,
            r["caregiver_id"] is not None,
        )
        for r in rows
    ]


async def claim_due_notices(
    tx: Tx, now: datetime, notice_id: int | None = None, *, holder: str, until: datetime
) -> list[DueNotice]:
    """In a write transaction: the due notices, claimed by `holder` until `until` (another replica skips them)."""
    due = await due_notices(tx, now, notice_id)
    for notice in due:
        await tx.execute(
            "UPDATE patient_notices SET claimed_by = ?, claimed_until = ? WHERE id = ?",
            (holder, utc_iso(until), notice.id),
        )
    return due


async def release_claims_of(tx: Tx, holder: str) -> int:
    """At start-up: the notices this replica's previous run was sending when it was killed are free again."""
    return await tx.execute_count(
        "UPDATE patient_notices SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (holder,)
    )


async def record_sent(tx: Tx, notice_id: int, now: datetime) -> None:
    await tx.execute(
        "UPDATE patient_notices SET sent_at = ?, next_attempt_at = NULL, claimed_by = NULL,"
        " claimed_until = NULL WHERE id = ?",
        (utc_iso(now), notice_id),
    )


async def record_failed(tx: Tx, notice_id: int, next_attempt_at: datetime) -> None:
    await tx.execute(
        "UPDATE patient_notices SET attempts = attempts + 1, next_attempt_at = ?, claimed_by = NULL,"
        " claimed_until = NULL WHERE id = ?",
        (utc_iso(next_attempt_at), notice_id),
    )


async def record_given_up(tx: Tx, notice_id: int) -> None:
    await tx.execute("UPDATE patient_notices SET next_attempt_at = NULL WHERE id = ?", (notice_id,))
