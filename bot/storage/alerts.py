"""The alert outbox: rows written with the answer that raised them, delivered later by the delivery worker."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from bot.clock import parse_utc, utc_iso
from bot.storage.store import Tx


@dataclass(frozen=True)
class AlertRow:
    id: int
    patient_id: int
    instance_id: int | None
    rule_id: str
    severity: str
    payload: dict[str, object]
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: int
    delivered_at: datetime | None
    message_id: int | None
    sends: int
    acknowledged_at: datetime | None
    acknowledged_by: int | None


def _row(row: aiosqlite.Row) -> AlertRow:
    def t(key: str) -> datetime | None:
        return parse_utc(row[key]) if row[key] else None

    return AlertRow(
        id=row["id"],
        patient_id=row["patient_id"],
        instance_id=row["instance_id"],
        rule_id=row["rule_id"],
        severity=row["severity"],
        payload=json.loads(row["payload"]),
        created_at=parse_utc(row["created_at"]),
        next_attempt_at=t("next_attempt_at"),
        attempts=row["attempts"],
        delivered_at=t("delivered_at"),
        message_id=row["message_id"],
        sends=row["sends"],
        acknowledged_at=t("acknowledged_at"),
        acknowledged_by=row["acknowledged_by"],
    )


async def insert_alert(
    tx: Tx, *, patient_id: int, instance_id: int | None, rule_id: str, severity: str, payload: dict[str, object],
    now: datetime, send_now: bool,
) -> int:
    """Queue an alert. Info alerts (`send_now=False`) wait for the morning digest."""
    return await tx.execute(
        "INSERT INTO alerts (patient_id, instance_id, rule_id, severity, payload, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            patient_id,
            instance_id,
            rule_id,
            severity,
            json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
            utc_iso(now),
            utc_iso(now) if send_now else None,
        ),
    )


async def rules_already_fired(tx: Tx, instance_id: int) -> set[str]:
    """Rules that alerted, or were suppressed as repeats, for this questionnaire (each is decided once)."""
    rows = await tx.fetchall(
        "SELECT rule_id FROM alerts WHERE instance_id = ? UNION SELECT rule_id FROM suppressed_alerts"
        " WHERE instance_id = ?", (instance_id, instance_id),
    )
    return {r["rule_id"] for r in rows}


async def record_suppressed(
    tx: Tx, *, patient_id: int, instance_id: int, rule_id: str, fired: dict[str, object], previous_alert_id: int | None,
    now: datetime,
) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO suppressed_alerts (patient_id, instance_id, rule_id, fired, previous_alert_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (patient_id, instance_id, rule_id, json.dumps(fired, ensure_ascii=False, sort_keys=True, default=str),
         previous_alert_id, utc_iso(now)),
    )


async def last_alert_of_rule(tx: Tx, patient_id: int, rule_id: str) -> AlertRow | None:
    """The newest alert this rule raised for this patient (repeat suppression)."""
    row = await tx.fetchone(
        "SELECT * FROM alerts WHERE patient_id = ? AND rule_id = ? ORDER BY id DESC LIMIT 1", (patient_id, rule_id)
    )
    return _row(row) if row else None


async def recent_alerts_of_rules(
    tx: Tx, patient_id: int, rule_ids: Collection[str], *, since: datetime
) -> list[AlertRow]:
    """This patient's alerts of `rule_ids` raised since `since`, oldest first (burst control for messages)."""
    if not rule_ids:
        return []
    marks = ", ".join("?" for _ in rule_ids)
    rows = await tx.fetchall(
        f"SELECT * FROM alerts WHERE patient_id = ? AND rule_id IN ({marks}) AND created_at >= ? ORDER BY id",
        (patient_id, *rule_ids, utc_iso(since)),
    )
    return [_row(r) for r in rows]


async def get_alert(tx: Tx, alert_id: int) -> AlertRow | None:
    row = await tx.fetchone("SELECT * FROM alerts WHERE id = ?", (alert_id,))
    return _row(row) if row else None


async def due_for_delivery(tx: Tx, now: datetime, limit: int = 20) -> list[AlertRow]:
    """Alerts whose next send attempt is due (first delivery, retry or re-alert), most severe first."""
    rows = await tx.fetchall(
        "SELECT * FROM alerts WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? AND acknowledged_at IS NULL"
        " ORDER BY CASE severity WHEN 'urgent' THEN 0 WHEN 'same_day' THEN 1 ELSE 2 END, id LIMIT ?",
        (utc_iso(now), limit),
    )
    return [_row(r) for r in rows]


async def record_attempt_failed(tx: Tx, alert_id: int, next_attempt_at: datetime) -> None:
    await tx.execute(
        "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
        (utc_iso(next_attempt_at), alert_id),
    )


async def record_sent(tx: Tx, alert_id: int, *, message_id: int, now: datetime, next_attempt_at: datetime | None) -> None:
    """Telegram accepted the message: mark delivered (first time) and plan the re-alert, if any."""
    await tx.execute(
        "UPDATE alerts SET delivered_at = COALESCE(delivered_at, ?), message_id = ?, sends = sends + 1,"
        " attempts = 0, next_attempt_at = ? WHERE id = ?",
        (utc_iso(now), message_id, utc_iso(next_attempt_at) if next_attempt_at else None, alert_id),
    )


async def acknowledge(tx: Tx, alert_id: int, *, by: int, now: datetime) -> bool:
    """Record who took the alert in charge; False if someone already had."""
    row = await tx.fetchone("SELECT acknowledged_at FROM alerts WHERE id = ?", (alert_id,))
    if row is None or row["acknowledged_at"] is not None:
        return False
    await tx.execute(
        "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, next_attempt_at = NULL WHERE id = ?",
        (utc_iso(now), by, alert_id),
    )
    return True


async def open_alerts(tx: Tx) -> list[AlertRow]:
    rows = await tx.fetchall("SELECT * FROM alerts WHERE acknowledged_at IS NULL ORDER BY id")
    return [_row(r) for r in rows]


async def alerts_for_patient(tx: Tx, patient_id: int) -> list[AlertRow]:
    rows = await tx.fetchall("SELECT * FROM alerts WHERE patient_id = ? ORDER BY id", (patient_id,))
    return [_row(r) for r in rows]


async def silence_candidates(tx: Tx, *, since: datetime, rule_ids: Collection[str]) -> list[AlertRow]:
    """Urgent or same-day alerts of `rule_ids` raised since `since`, with no later silence alert for the patient."""
    if not rule_ids:
        return []
    marks = ", ".join("?" for _ in rule_ids)
    rows = await tx.fetchall(
        f"SELECT * FROM alerts a WHERE a.severity IN ('urgent', 'same_day') AND a.created_at >= ?"
        f" AND a.rule_id IN ({marks}) AND NOT EXISTS (SELECT 1 FROM alerts s WHERE s.patient_id = a.patient_id"
        " AND s.rule_id = 'silent_after_alert' AND s.created_at >= a.created_at) ORDER BY a.id",
        (utc_iso(since), *rule_ids),
    )
    return [_row(r) for r in rows]


async def heard_from_since(tx: Tx, patient_id: int, since: datetime) -> bool:
    """Has the patient answered or written anything after `since`?"""
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM answers a JOIN instances i ON i.id = a.instance_id"
        " WHERE i.patient_id = ? AND a.received_at > ?)"
        " OR EXISTS (SELECT 1 FROM patient_messages m WHERE m.patient_id = ? AND m.received_at > ?) AS heard",
        (patient_id, utc_iso(since), patient_id, utc_iso(since)),
    )
    return bool(row and row["heard"])


async def unanswered_since(tx: Tx, patient_id: int, since: datetime, *, open_for: timedelta, now: datetime) -> bool:
    """Did a questionnaire that opened after `since` close unanswered, or stay unanswered for `open_for`?"""
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM instances WHERE patient_id = ? AND opens_at > ? AND status != 'completed'"
        " AND (status = 'missed' OR (status IN ('open', 'sending') AND opens_at <= ?))) AS m",
        (patient_id, utc_iso(since), utc_iso(now - open_for)),
    )
    return bool(row and row["m"])
