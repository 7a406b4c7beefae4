"""The dispatcher's queries: what is due now, what expired, what waits for a reminder or the day-30 notice.

Kept apart from `instances` (one instance's life) because these read across all patients on every tick: they are
the statements whose cost grows with the cohort (`benchmarks/probes.py` times `DUE_PATIENTS_SQL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import parse_utc, utc_iso
from bot.domain.models import Instance
from bot.storage.instances import instance_from
from bot.storage.store import Tx

#: Active patients with a planned questionnaire whose window is open and nothing being sent or open: one row per
#: patient with its earliest due opening (two parameters: now, now).
DUE_PATIENTS_SQL = (
    "SELECT i.patient_id, MIN(i.opens_at) AS opens_at FROM instances i JOIN patients p ON p.id = i.patient_id"
    " WHERE p.status = 'active' AND i.status = 'planned' AND i.opens_at <= ? AND i.closes_at > ?"
    " AND NOT EXISTS (SELECT 1 FROM instances o WHERE o.patient_id = i.patient_id"
    "                 AND o.status IN ('sending', 'open'))"
    " GROUP BY i.patient_id ORDER BY i.patient_id"
)


@dataclass(frozen=True)
class ExpiredInstance:
    """An instance whose window closed unanswered, with what the "missed" alert needs."""

    id: int
    patient_id: int
    questionnaire_id: str
    timepoint: str
    patient_status: str


@dataclass(frozen=True)
class ReminderCandidate:
    """An open questionnaire of an active patient, with what the reminder times depend on."""

    id: int
    patient_id: int
    sent_at: datetime
    closes_at: datetime
    reminders_sent: int
    preferred_time: str | None
    chat_id: int


@dataclass(frozen=True)
class CaughtSend:
    """A questionnaire claimed for sending (`sending`) whose send was never recorded as done; `sent`: its question
    message id was recorded, so Telegram has it (issue 39), or the patient already answered part of it (shown by
    `/reprendre` meanwhile): either way it is theirs, not to be sent as new."""

    id: int
    patient_id: int
    sent: bool


async def caught_mid_send(
    tx: Tx, *, holder: str | None = None, intent_before: datetime | None = None
) -> list[CaughtSend]:
    """The instances a crash left between "claimed" and "sent recorded": with `holder`, those that replica claimed
    (and rows claimed before migration 0016, which have no claimant); with `intent_before`, anyone's whose send was
    started before then (another replica's, long dead)."""
    where, params = ["status = 'sending'"], []
    if holder is not None:
        where.append("(claimed_by = ? OR claimed_by IS NULL)")
        params.append(holder)
    if intent_before is not None:
        where.append("sent_at <= ?")
        params.append(utc_iso(intent_before))
    rows = await tx.fetchall(
        "SELECT id, patient_id, question_message_id IS NOT NULL OR EXISTS (SELECT 1 FROM answers a"
        " WHERE a.instance_id = instances.id) AS shown FROM instances WHERE " + " AND ".join(where) + " ORDER BY id",
        tuple(params),
    )
    return [CaughtSend(int(r["id"]), int(r["patient_id"]), bool(r["shown"])) for r in rows]


async def requeue_unsent(tx: Tx, instance_id: int) -> None:
    """A claim whose send never happened: `planned` again, unclaimed and without a send time, so the next tick
    sends it (its questionnaire stamp stays: a resend keeps the first stamp)."""
    await tx.execute(
        "UPDATE instances SET status = 'planned', sent_at = NULL, claimed_by = NULL"
        " WHERE id = ? AND status = 'sending'",
        (instance_id,),
    )


async def claimed_by(tx: Tx, instance_id: int) -> str | None:
    """The replica that claimed the instance's send (None when unclaimed, or claimed before migration 0016)."""
    row = await tx.fetchone("SELECT claimed_by FROM instances WHERE id = ?", (instance_id,))
    return None if row is None else row["claimed_by"]


async def due_patients(tx: Tx, now: datetime) -> list[tuple[int, datetime]]:
    """(patient id, earliest due opening) for every patient with something to send now (`DUE_PATIENTS_SQL`)."""
    rows = await tx.fetchall(DUE_PATIENTS_SQL, (utc_iso(now), utc_iso(now)))
    return [(int(r["patient_id"]), parse_utc(r["opens_at"])) for r in rows]


async def next_planned(tx: Tx, patient_id: int, *, horizon: datetime, now: datetime) -> int | None:
    """The patient's earliest planned instance opening by `horizon` whose window is still open, if any."""
    row = await tx.fetchone(
        "SELECT id FROM instances WHERE patient_id = ? AND status = 'planned' AND opens_at <= ? AND closes_at > ?"
        " ORDER BY opens_at, id LIMIT 1",
        (patient_id, utc_iso(horizon), utc_iso(now)),
    )
    return None if row is None else int(row["id"])


async def record_send_intent(tx: Tx, instance_id: int, now: datetime, *, holder: str) -> None:
    """The instance is about to be sent: `sending`, claimed by `holder` from `now` (step 1 of the dispatcher's
    order; `sent_at` is the claim's start until the send is recorded)."""
    await tx.execute(
        "UPDATE instances SET status = 'sending', sent_at = ?, claimed_by = ? WHERE id = ?",
        (utc_iso(now), holder, instance_id),
    )


async def any_expired(tx: Tx, now: datetime) -> bool:
    """Is any unanswered window closed? (Most ticks close nothing: a cheap read before taking the write lock.)"""
    row = await tx.fetchone(
        "SELECT 1 FROM instances WHERE status IN ('planned', 'sending', 'open') AND closes_at <= ? LIMIT 1",
        (utc_iso(now),),
    )
    return row is not None


async def expired(tx: Tx, now: datetime) -> list[ExpiredInstance]:
    """Instances still planned, being sent or open whose window closed by `now`."""
    rows = await tx.fetchall(
        "SELECT i.id, i.patient_id, i.questionnaire_id, i.timepoint, p.status AS pstatus"
        " FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE i.status IN ('planned', 'sending', 'open') AND i.closes_at <= ? ORDER BY i.id",
        (utc_iso(now),),
    )
    return [
        ExpiredInstance(int(r["id"]), int(r["patient_id"]), r["questionnaire_id"], r["timepoint"], r["pstatus"])
        for r in rows
    ]


async def primary_without_notice(tx: Tx) -> list[Instance]:
    """Day-30 instances not answered yet whose "one day left" notice has not been given, for patients followed."""
    rows = await tx.fetchall(
        "SELECT i.* FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE i.is_primary = 1 AND i.status IN ('planned', 'sending', 'open') AND i.primary_notice_at IS NULL"
        " AND p.status IN ('active', 'paused', 'unreachable') ORDER BY i.id"
    )
    return [instance_from(r) for r in rows]


async def record_primary_notice(tx: Tx, instance_id: int, now: datetime) -> None:
    await tx.execute("UPDATE instances SET primary_notice_at = ? WHERE id = ?", (utc_iso(now), instance_id))


async def reminder_candidates(tx: Tx) -> list[ReminderCandidate]:
    """Open questionnaires of active patients with a known chat (the reminder schedule decides which are due)."""
    rows = await tx.fetchall(
        "SELECT i.id, i.patient_id, i.sent_at, i.closes_at, i.reminders_sent, p.preferred_time, l.chat_id"
        " FROM instances i JOIN patients p ON p.id = i.patient_id JOIN telegram_links l ON l.patient_id = p.id"
        " WHERE i.status = 'open' AND p.status = 'active' AND i.sent_at IS NOT NULL"
        # issue 36: a questionnaire a caregiver is answering is not the patient's to be reminded of
        " AND (i.held_by IS NULL OR i.held_by = 'patient') ORDER BY i.id"
    )
    return [
        ReminderCandidate(
            int(r["id"]),
            int(r["patient_id"]),
            parse_utc(r["sent_at"]),
            parse_utc(r["closes_at"]),
            int(r["reminders_sent"]),
            r["preferred_time"],
            int(r["chat_id"]),
        )
        for r in rows
    ]


async def record_reminders(tx: Tx, instance_id: int, count: int, now: datetime) -> None:
    await tx.execute(
        "UPDATE instances SET reminders_sent = ?, last_reminder_at = ? WHERE id = ?", (count, utc_iso(now), instance_id)
    )
