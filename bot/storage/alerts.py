"""The alert outbox: rows written with the answer that raised them, delivered later by the delivery worker."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

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
    occurrences: int = 1
    last_occurrence_at: datetime | None = None
    latest_fired: dict[str, object] | None = None
    acknowledged_name: str | None = None

    @property
    def current_fired(self) -> dict[str, object]:
        """The values of the newest occurrence (what the team saw last): `latest_fired`, else the first firing."""
        if self.latest_fired is not None:
            return self.latest_fired
        fired = self.payload.get("fired")
        return fired if isinstance(fired, dict) else {}


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
        occurrences=row["occurrences"],
        last_occurrence_at=t("last_occurrence_at"),
        latest_fired=json.loads(row["latest_fired"]) if row["latest_fired"] else None,
        acknowledged_name=row["acknowledged_name"],
    )


async def insert_alert(
    tx: Tx,
    *,
    patient_id: int,
    instance_id: int | None,
    rule_id: str,
    severity: str,
    payload: dict[str, object],
    now: datetime,
    send_now: bool,
) -> int:
    """Queue an alert. Info alerts (`send_now=False`) wait for the morning digest. The payload is stamped with the
    opioid table and rules versions loaded at start-up (`versions`, `bot.domain.stamps`; issue 17)."""
    stamp = await tx.fetchone("SELECT value FROM settings WHERE key = 'versions'")
    if stamp is not None and "versions" not in payload:
        payload = {**payload, "versions": json.loads(stamp["value"])}
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


#: `rules_already_fired`'s query, `{instance}` an instance id's SQL (a parameter or a subquery) used twice.
RULES_ALREADY_FIRED = (
    "SELECT rule_id FROM alerts WHERE instance_id = {instance} UNION SELECT rule_id FROM suppressed_alerts"
    " WHERE instance_id = {instance}"
)


async def rules_already_fired(tx: Tx, instance_id: int) -> set[str]:
    """Rules that alerted, or were suppressed as repeats, for this questionnaire (each is decided once)."""
    rows = await tx.fetchall(RULES_ALREADY_FIRED.format(instance="?"), (instance_id, instance_id))
    return {r["rule_id"] for r in rows}


#: Why a firing did not alert (migration 0006): "repeat" (rules.yaml repeat window), "open" (merged into the open
#: alert of the rule), "acknowledged" (no worse than at the rule's last acknowledged alert); issue 15, second part:
#: "episode" (the same episode as the last alert, `repeat.until_below`), "ordered" (the rise the team recorded it
#: made, `expected_after`). A text column: no migration for a new reason.
#: `known` / `inclusion` (issue 33): the same news as an earlier alert, or what the team knew at inclusion
#: (`bot.domain.news`).
SuppressionReason = Literal["repeat", "open", "acknowledged", "episode", "ordered", "known", "inclusion"]


@dataclass(frozen=True)
class SuppressedRow:
    id: int
    patient_id: int
    instance_id: int
    rule_id: str
    fired: dict[str, object]
    previous_alert_id: int | None
    created_at: datetime
    reason: str


def last_suppressed_of_rules_query(rule_ids: Collection[str], *, patient: str = "?") -> str:
    """`last_suppressed_of_rules`' query: parameters the patient's (if `patient` is "?"), the reason, then the rule
    ids. `patient`: the patient id's SQL (a parameter, or a subquery with its own parameters)."""
    marks = ", ".join("?" for _ in rule_ids)
    return (
        f"SELECT * FROM suppressed_alerts WHERE patient_id = {patient} AND reason = ? AND rule_id IN ({marks})"
        " ORDER BY id"
    )


def newest_suppressed_by_rule(rows: list[aiosqlite.Row]) -> dict[str, SuppressedRow]:
    """The rows of `last_suppressed_of_rules_query`, rule id → its newest row (rows come oldest first)."""
    return {r["rule_id"]: _suppressed(r) for r in rows}


async def last_suppressed_of_rules(
    tx: Tx, patient_id: int, rule_ids: Collection[str], *, reason: str
) -> dict[str, SuppressedRow]:
    """Per rule, this patient's newest firing kept without alerting for `reason`."""
    if not rule_ids:
        return {}
    rows = await tx.fetchall(last_suppressed_of_rules_query(rule_ids), (patient_id, reason, *rule_ids))
    return newest_suppressed_by_rule(rows)


def _suppressed(row: aiosqlite.Row) -> SuppressedRow:
    return SuppressedRow(
        id=row["id"],
        patient_id=row["patient_id"],
        instance_id=row["instance_id"],
        rule_id=row["rule_id"],
        fired=json.loads(row["fired"]),
        previous_alert_id=row["previous_alert_id"],
        created_at=parse_utc(row["created_at"]),
        reason=row["reason"],
    )


async def last_alert_of_rules(tx: Tx, patient_id: int, rule_ids: Collection[str]) -> AlertRow | None:
    """The newest alert any of `rule_ids` raised for this patient (a family of rules: one news, issue 33)."""
    if not rule_ids:
        return None
    marks = ", ".join("?" for _ in rule_ids)
    row = await tx.fetchone(
        f"SELECT * FROM alerts WHERE patient_id = ? AND rule_id IN ({marks}) ORDER BY id DESC LIMIT 1",
        (patient_id, *rule_ids),
    )
    return _row(row) if row else None


async def last_suppressed_of_reason(
    tx: Tx, patient_id: int, rule_ids: Collection[str], reason: str
) -> SuppressedRow | None:
    """The newest firing of any of `rule_ids` kept for `reason` for this patient."""
    if not rule_ids:
        return None
    marks = ", ".join("?" for _ in rule_ids)
    row = await tx.fetchone(
        f"SELECT * FROM suppressed_alerts WHERE patient_id = ? AND reason = ? AND rule_id IN ({marks})"
        " ORDER BY id DESC LIMIT 1",
        (patient_id, reason, *rule_ids),
    )
    return _suppressed(row) if row else None


async def completed_without_rules(
    tx: Tx,
    patient_id: int,
    rule_ids: Collection[str],
    *,
    after: datetime,
    after_instance: int | None,
    questionnaires: Collection[str] | None,
    apart_from: Collection[int],
) -> bool:
    """Was a questionnaire (of `questionnaires`; None: any) completed by this patient after `after` (at the same
    instant: opened after `after_instance`), other than `apart_from`, on which none of `rule_ids` fired (no alert,
    no kept firing)? Then the finding was absent that day: the episode is over (issue 33)."""
    marks = ", ".join("?" for _ in rule_ids)
    apart = list(apart_from) or [0]
    apart_marks = ", ".join("?" for _ in apart)
    scope = ""
    params: list[object] = [patient_id, utc_iso(after), utc_iso(after), after_instance or 0, *apart]
    if questionnaires is not None:
        scope = f" AND i.questionnaire_id IN ({', '.join('?' for _ in questionnaires)})"
        params += list(questionnaires)
    params += [*rule_ids, *rule_ids]
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM instances i WHERE i.patient_id = ? AND i.status = 'completed'"
        " AND (i.completed_at > ? OR (i.completed_at = ? AND i.id > ?))"
        f" AND i.id NOT IN ({apart_marks}){scope}"
        f" AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.instance_id = i.id AND a.rule_id IN ({marks}))"
        " AND NOT EXISTS (SELECT 1 FROM suppressed_alerts s WHERE s.instance_id = i.id"
        f" AND s.rule_id IN ({marks}))) AS found",
        tuple(params),
    )
    return bool(row and row["found"])


async def folded_since(tx: Tx, since: datetime) -> list[SuppressedRow]:
    """Firings folded as the same news (`known`, `inclusion`) since `since`, oldest first: the digest lists them."""
    rows = await tx.fetchall(
        "SELECT * FROM suppressed_alerts WHERE reason IN ('known', 'inclusion') AND created_at >= ? ORDER BY id",
        (utc_iso(since),),
    )
    return [_suppressed(r) for r in rows]


async def folded_for_patient(tx: Tx, patient_id: int) -> list[SuppressedRow]:
    """This patient's firings folded as the same news, oldest first (/patient)."""
    rows = await tx.fetchall(
        "SELECT * FROM suppressed_alerts WHERE patient_id = ? AND reason IN ('known', 'inclusion') ORDER BY id",
        (patient_id,),
    )
    return [_suppressed(r) for r in rows]


async def rule_fired_since(tx: Tx, patient_id: int, rule_id: str, since: datetime) -> bool:
    """Did `rule_id` alert, or fire as the team's own order, for this patient at or after `since`? (At the same
    instant counts: in doubt, the next increase alerts.)"""
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM alerts WHERE patient_id = ? AND rule_id = ? AND created_at >= ?)"
        " OR EXISTS (SELECT 1 FROM suppressed_alerts WHERE patient_id = ? AND rule_id = ? AND reason = 'ordered'"
        " AND created_at >= ?) AS fired",
        (patient_id, rule_id, utc_iso(since), patient_id, rule_id, utc_iso(since)),
    )
    return bool(row and row["fired"])


async def record_suppressed(
    tx: Tx,
    *,
    patient_id: int,
    instance_id: int,
    rule_id: str,
    fired: dict[str, object],
    previous_alert_id: int | None,
    now: datetime,
    reason: SuppressionReason = "repeat",
) -> None:
    """Keep a firing that did not alert, and why (`reason`, see migration 0006), once per questionnaire and rule."""
    await tx.execute(
        "INSERT OR IGNORE INTO suppressed_alerts (patient_id, instance_id, rule_id, fired, previous_alert_id,"
        " created_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            patient_id,
            instance_id,
            rule_id,
            json.dumps(fired, ensure_ascii=False, sort_keys=True, default=str),
            previous_alert_id,
            utc_iso(now),
            reason,
        ),
    )


async def open_alert_of_rule(tx: Tx, patient_id: int, rule_id: str) -> AlertRow | None:
    """The newest alert of this rule for this patient that nobody has taken care of yet (one open per news)."""
    row = await tx.fetchone(
        "SELECT * FROM alerts WHERE patient_id = ? AND rule_id = ? AND acknowledged_at IS NULL ORDER BY id DESC"
        " LIMIT 1",
        (patient_id, rule_id),
    )
    return _row(row) if row else None


def last_acknowledged_of_rules_query(rule_ids: Collection[str], *, patient: str = "?") -> str:
    """`last_acknowledged_of_rules`' query: parameters the patient's (if `patient` is "?"), then the rule ids."""
    marks = ", ".join("?" for _ in rule_ids)
    return (
        f"SELECT * FROM alerts WHERE patient_id = {patient} AND rule_id IN ({marks}) AND acknowledged_at IS NOT"
        " NULL ORDER BY acknowledged_at, id"
    )


def last_acknowledged_by_rule(rows: list[aiosqlite.Row]) -> dict[str, AlertRow]:
    """The rows of `last_acknowledged_of_rules_query`, rule id → its most recently acknowledged alert."""
    return {r["rule_id"]: _row(r) for r in rows}  # the last one of each rule wins


async def last_acknowledged_of_rules(tx: Tx, patient_id: int, rule_ids: Collection[str]) -> dict[str, AlertRow]:
    """Per rule, this patient's most recently acknowledged alert (the reference of `compare_with: last_acknowledged`)."""
    if not rule_ids:
        return {}
    rows = await tx.fetchall(last_acknowledged_of_rules_query(rule_ids), (patient_id, *rule_ids))
    return last_acknowledged_by_rule(rows)


async def record_occurrence(tx: Tx, alert_id: int, *, fired: dict[str, object], now: datetime) -> None:
    """The same news again while the alert is open: count it, keep its values, and list it in the next digest."""
    await tx.execute(
        "UPDATE alerts SET occurrences = occurrences + 1, last_occurrence_at = ?, latest_fired = ?, digested_at = NULL"
        " WHERE id = ?",
        (utc_iso(now), json.dumps(fired, ensure_ascii=False, sort_keys=True, default=str), alert_id),
    )


FollowupKind = Literal["action", "outcome"]


@dataclass(frozen=True)
class Followup:
    id: int
    alert_id: int
    kind: str
    code: str
    recorded_by: int
    recorded_at: datetime


async def record_followup(tx: Tx, alert_id: int, *, kind: FollowupKind, code: str, by: int, now: datetime) -> int:
    """What was done (action) or what it was (outcome); append-only, the newest row of a kind is current."""
    return await tx.execute(
        "INSERT INTO alert_followups (alert_id, kind, code, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?)",
        (alert_id, kind, code, by, utc_iso(now)),
    )


async def current_followup_code(tx: Tx, alert_id: int, kind: FollowupKind) -> str | None:
    """The code of the newest follow-up row of `kind` for the alert (the current one), or None."""
    row = await tx.fetchone(
        "SELECT code FROM alert_followups WHERE alert_id = ? AND kind = ? ORDER BY id DESC LIMIT 1", (alert_id, kind)
    )
    return None if row is None else str(row["code"])


async def latest_current_action(tx: Tx, patient_id: int, code: str) -> Followup | None:
    """The newest action `code` still current on one of this patient's alerts (a corrected action no longer
    counts: the newest action row of an alert is its action)."""
    rows = await tx.fetchall(
        "SELECT f.* FROM alert_followups f JOIN alerts a ON a.id = f.alert_id WHERE a.patient_id = ?"
        " AND f.kind = 'action' AND f.id = (SELECT MAX(g.id) FROM alert_followups g WHERE g.alert_id = f.alert_id"
        " AND g.kind = 'action') AND f.code = ? ORDER BY f.recorded_at DESC, f.id DESC LIMIT 1",
        (patient_id, code),
    )
    return next(
        (
            Followup(
                id=r["id"],
                alert_id=r["alert_id"],
                kind=r["kind"],
                code=r["code"],
                recorded_by=r["recorded_by"],
                recorded_at=parse_utc(r["recorded_at"]),
            )
            for r in rows
        ),
        None,
    )


async def all_followups(tx: Tx) -> list[Followup]:
    """Every follow-up row, oldest first (exports, report)."""
    rows = await tx.fetchall("SELECT * FROM alert_followups ORDER BY id")
    return [
        Followup(
            id=r["id"],
            alert_id=r["alert_id"],
            kind=r["kind"],
            code=r["code"],
            recorded_by=r["recorded_by"],
            recorded_at=parse_utc(r["recorded_at"]),
        )
        for r in rows
    ]


async def outcome_reminders(tx: Tx, *, acknowledged_before: datetime) -> list[AlertRow]:
    """Acknowledged alerts older than the reminder delay that still have no outcome (the digest's reminder)."""
    rows = await tx.fetchall(
        "SELECT * FROM alerts a WHERE a.acknowledged_at IS NOT NULL AND a.acknowledged_at <= ?"
        " AND NOT EXISTS (SELECT 1 FROM alert_followups f WHERE f.alert_id = a.id AND f.kind = 'outcome')"
        " ORDER BY a.id",
        (utc_iso(acknowledged_before),),
    )
    return [_row(r) for r in rows]


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


_DUE_FOR_DELIVERY = (
    "SELECT * FROM alerts WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? AND acknowledged_at IS NULL"
    " AND (claimed_until IS NULL OR claimed_until <= ?)"
    " ORDER BY CASE severity WHEN 'urgent' THEN 0 WHEN 'same_day' THEN 1 ELSE 2 END, id LIMIT ?"
)


async def due_for_delivery(tx: Tx, now: datetime, limit: int = 20) -> list[AlertRow]:
    """Alerts whose next send attempt is due (first delivery, retry or re-alert) and that no replica is sending
    now, most severe first."""
    rows = await tx.fetchall(_DUE_FOR_DELIVERY, (utc_iso(now), utc_iso(now), limit))
    return [_row(r) for r in rows]


async def claim_due_for_delivery(
    tx: Tx, now: datetime, *, holder: str, until: datetime, limit: int = 20
) -> list[AlertRow]:
    """In a write transaction: the due alerts, claimed by `holder` until `until` (another replica skips them)."""
    due = await due_for_delivery(tx, now, limit)
    for alert in due:
        await tx.execute(
            "UPDATE alerts SET claimed_by = ?, claimed_until = ? WHERE id = ?", (holder, utc_iso(until), alert.id)
        )
    return due


async def release_claims_of(tx: Tx, holder: str) -> int:
    """At start-up: the alerts this replica's previous run was sending when it was killed are free again."""
    return await tx.execute_count(
        "UPDATE alerts SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (holder,)
    )


async def record_attempt_failed(tx: Tx, alert_id: int, next_attempt_at: datetime) -> None:
    await tx.execute(
        "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL"
        " WHERE id = ?",
        (utc_iso(next_attempt_at), alert_id),
    )


async def record_sent(
    tx: Tx, alert_id: int, *, message_id: int, now: datetime, next_attempt_at: datetime | None
) -> None:
    """Telegram accepted the message: mark delivered (first time) and plan the re-alert, if any."""
    await tx.execute(
        "UPDATE alerts SET delivered_at = COALESCE(delivered_at, ?), message_id = ?, sends = sends + 1,"
        " attempts = 0, next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (utc_iso(now), message_id, utc_iso(next_attempt_at) if next_attempt_at else None, alert_id),
    )


@dataclass(frozen=True)
class StepRow:
    id: int
    alert_id: int
    step: str
    at: datetime
    message_id: int | None
    tidied_at: datetime | None


def _step(row: aiosqlite.Row) -> StepRow:
    return StepRow(
        id=row["id"],
        alert_id=row["alert_id"],
        step=row["step"],
        at=parse_utc(row["at"]),
        message_id=row["message_id"],
        tidied_at=parse_utc(row["tidied_at"]) if row["tidied_at"] else None,
    )


async def record_step(tx: Tx, alert_id: int, step: str, *, now: datetime, message_id: int | None) -> int:
    """The alert reached `step` (`bot.domain.ladder.Step`; its group message `message_id`, kept so every copy can be updated later)."""
    return await tx.execute(
        "INSERT INTO alert_steps (alert_id, step, at, message_id) VALUES (?, ?, ?, ?)",
        (alert_id, step, utc_iso(now), message_id),
    )


async def steps_of(tx: Tx, alert_id: int | None = None) -> list[StepRow]:
    """The rungs reached, oldest first (of one alert, or of all: the telemonitoring report)."""
    rows = await tx.fetchall(
        "SELECT * FROM alert_steps WHERE CAST(? AS INTEGER) IS NULL OR alert_id = ? ORDER BY id", (alert_id, alert_id)
    )
    return [_step(r) for r in rows]


async def mark_copy_tidied(tx: Tx, alert_id: int, message_id: int, *, now: datetime) -> None:
    """This copy of the alert already says who took it (the one whose button was pressed, edited by the handler)."""
    await tx.execute(
        "UPDATE alert_steps SET tidied_at = ? WHERE alert_id = ? AND message_id = ? AND tidied_at IS NULL",
        (utc_iso(now), alert_id, message_id),
    )


async def set_acknowledged_name(tx: Tx, alert_id: int, name: str) -> None:
    await tx.execute("UPDATE alerts SET acknowledged_name = ? WHERE id = ?", (name, alert_id))


async def copies_to_tidy(tx: Tx, *, named_or_before: datetime, limit: int = 20) -> list[StepRow]:
    """Group copies of acknowledged alerts still showing the "Pris en charge" button, oldest first. An alert whose
    taker's name is not recorded yet waits until `named_or_before` (the handler records it right after)."""
    rows = await tx.fetchall(
        "SELECT s.* FROM alert_steps s JOIN alerts a ON a.id = s.alert_id WHERE s.tidied_at IS NULL"
        " AND s.message_id IS NOT NULL AND a.acknowledged_at IS NOT NULL"
        " AND (a.acknowledged_name IS NOT NULL OR a.acknowledged_at <= ?) ORDER BY s.id LIMIT ?",
        (utc_iso(named_or_before), limit),
    )
    return [_step(r) for r in rows]


async def mark_step_tidied(tx: Tx, step_id: int, now: datetime) -> None:
    await tx.execute("UPDATE alert_steps SET tidied_at = ? WHERE id = ?", (utc_iso(now), step_id))


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


async def heard_from_since(tx: Tx, patient_id: int, since: datetime, *, apart_from: int | None = None) -> bool:
    """Has the patient been in touch after `since`: an answer to another questionnaire than `apart_from`, or a
    message?

    Issue 32 item 2: the next taps of the questionnaire that raised the alert are not contact (a patient who raised a
    red flag, tapped once more and fell silent is silent); contact comes after that questionnaire."""
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM answers a JOIN instances i ON i.id = a.instance_id"
        " WHERE i.patient_id = ? AND a.received_at > ? AND (CAST(? AS INTEGER) IS NULL OR i.id != ?))"
        " OR EXISTS (SELECT 1 FROM patient_messages m WHERE m.patient_id = ? AND m.received_at > ?) AS heard",
        (patient_id, utc_iso(since), apart_from, apart_from, patient_id, utc_iso(since)),
    )
    return bool(row and row["heard"])


async def last_contact(tx: Tx, patient_id: int) -> datetime | None:
    """The patient's last answer or message ("Dernier contact" in the "call the patient back" alert)."""
    row = await tx.fetchone(
        "SELECT MAX(t) AS last FROM (SELECT MAX(a.received_at) AS t FROM answers a JOIN instances i"
        " ON i.id = a.instance_id WHERE i.patient_id = ? UNION ALL SELECT MAX(m.received_at) AS t"
        " FROM patient_messages m WHERE m.patient_id = ?) AS contacts",
        (patient_id, patient_id),
    )
    return parse_utc(row["last"]) if row and row["last"] else None


async def unanswered_since(tx: Tx, patient_id: int, since: datetime, *, open_for: timedelta, now: datetime) -> bool:
    """Did a questionnaire that opened after `since` close unanswered, or stay unanswered for `open_for`?"""
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM instances WHERE patient_id = ? AND opens_at > ? AND status != 'completed'"
        " AND (status = 'missed' OR (status IN ('open', 'sending') AND opens_at <= ?))) AS m",
        (patient_id, utc_iso(since), utc_iso(now - open_for)),
    )
    return bool(row and row["m"])


async def stop_info_notices(tx: Tx, patient_id: int) -> None:
    """Withdrawal: the information notices not yet delivered about this patient are no longer sent."""
    await tx.execute(
        "UPDATE alerts SET next_attempt_at = NULL WHERE patient_id = ? AND delivered_at IS NULL AND severity = 'info'",
        (patient_id,),
    )


async def undigested_info_ids(tx: Tx) -> list[int]:
    """Information alerts no morning digest has listed yet."""
    rows = await tx.fetchall("SELECT id FROM alerts WHERE severity = 'info' AND digested_at IS NULL ORDER BY id")
    return [int(r["id"]) for r in rows]


async def mark_digested(tx: Tx, alert_ids: Collection[int], now: datetime) -> None:
    """These information alerts went out in a digest (the first digest to list one keeps its time)."""
    for alert_id in alert_ids:
        await tx.execute(
            "UPDATE alerts SET digested_at = ? WHERE id = ? AND digested_at IS NULL", (utc_iso(now), alert_id)
        )
