"""What the exports and reports read, as plain records: answer rows, OMED stamps, questionnaire texts, the alerts
and their closed loop, the audit trail.

Why here and not in `bot.export`: every SQL statement lives under `bot/storage/` (issue 19), so the exports are pure
functions over these records and the same on SQLite and PostgreSQL. Each function takes the caller's `Tx`: an
export reads everything in one read transaction, one consistent snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import parse_utc
from bot.domain.questionnaire import Value
from bot.storage.store import Tx

__all__ = [
    "AlertData",
    "AlertFact",
    "AnswerRow",
    "AuditTrail",
    "FollowupFact",
    "MessageRow",
    "OmedStamp",
    "SuppressedFact",
    "answer_rows",
    "last_messages",
    "message_rows",
    "audit_trail",
    "has_patients",
    "load_alert_data",
    "omed_stamps",
    "questionnaire_texts",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerRow:
    """One stored row of `answers` (append-only): corrections are rows too, never overwrites.

    `superseded` is True when a newer row exists for the same instance and item, i.e. this is not the current
    answer. Times are the stored UTC ISO-8601 text, passed through untouched.
    """

    id: int
    instance_id: int
    item_id: str
    value: Value | None
    answered_at: str
    received_at: str
    is_correction: bool
    superseded: bool
    source: str = "patient"
    """"patient" (their own chat) or "phone" (entered by a research nurse from the clinicians' group)."""
    caregiver: int | None = None
    """The number of the caregiver who gave it ("aidant 1", issue 36), None when the patient did: never an id that
    leads back to a Telegram account."""

    @property
    def respondent(self) -> str:
        """Who answered, as exported: "patient" or "caregiver:<number>"."""
        return "patient" if self.caregiver is None else f"caregiver:{self.caregiver}"


@dataclass(frozen=True)
class OmedStamp:
    """The OMED as derived when its questionnaire was completed (table omed_stamps, migration 0008)."""

    instance_id: int
    table: str
    catalogue_version: str
    rules_version: str
    regimen: str
    """Canonical JSON of the regimen converted (`Regimen.model_dump_json`)."""
    mg: float | None
    details: Mapping[str, object]
    derived_at: str


@dataclass(frozen=True)
class MessageRow:
    """One row of `patient_messages` (append-only, migration 0003): what the patient wrote outside an answer.

    Deliberately without `chat_id` and `message_id`: they are Telegram identities, and an export never carries one.
    Times are the stored UTC ISO-8601 text.
    """

    id: int
    patient_id: int
    instance_id: int | None
    kind: str
    """text, voice, audio, photo, video, document, sticker, other."""
    text: str | None
    """The text, or the caption of a media."""
    telegram_date: str | None
    received_at: str
    flags: tuple[str, ...]
    """The red-flag categories the screen found in the text."""
    alert_id: int | None
    caregiver: int | None = None
    """The number of the caregiver who wrote it (issue 36), None for the patient."""

    @property
    def respondent(self) -> str:
        return "patient" if self.caregiver is None else f"caregiver:{self.caregiver}"


def _flags(raw: object) -> tuple[str, ...]:
    try:
        value = json.loads(str(raw or "[]"))
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


_MESSAGE_COLUMNS = (
    "m.id, m.patient_id, m.instance_id, m.kind, m.text, m.telegram_date, m.received_at, m.flags, m.alert_id,"
    " c.number AS caregiver"
)
_MESSAGES = "patient_messages m LEFT JOIN caregivers c ON c.id = m.caregiver_id"


async def message_rows(tx: Tx) -> list[MessageRow]:
    """Every patient's own messages, in storage order (for the exports)."""
    return [_message(r) for r in await tx.fetchall(f"SELECT {_MESSAGE_COLUMNS} FROM {_MESSAGES} ORDER BY m.id")]


async def last_messages(tx: Tx, patient_id: int, count: int) -> list[MessageRow]:
    """The patient's last `count` messages, oldest first (the clinicians' /patient overview)."""
    rows = await tx.fetchall(
        f"SELECT {_MESSAGE_COLUMNS} FROM {_MESSAGES} WHERE m.patient_id = ? ORDER BY m.id DESC LIMIT ?",
        (patient_id, count),
    )
    return [_message(r) for r in reversed(rows)]


def _message(r: Any) -> MessageRow:
    return MessageRow(
        int(r["id"]),
        int(r["patient_id"]),
        None if r["instance_id"] is None else int(r["instance_id"]),
        str(r["kind"]),
        r["text"],
        r["telegram_date"],
        str(r["received_at"]),
        _flags(r["flags"]),
        None if r["alert_id"] is None else int(r["alert_id"]),
        None if r["caregiver"] is None else int(r["caregiver"]),
    )


def _decode(raw: str, answer_id: int) -> Value | None:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        # Never drop a stored row from an export: keep the text as it is, and say so in the log.
        log.warning("answer %s holds a value that is not JSON; exported as text", answer_id)
        return raw


async def answer_rows(tx: Tx) -> list[AnswerRow]:
    """Every answer row in id order, each marked superseded when a newer row exists for its instance and item."""
    rows = await tx.fetchall(
        "SELECT a.id, a.instance_id, a.item_id, a.value, a.answered_at, a.received_at, a.is_correction, a.source,"
        " c.number AS caregiver,"
        " EXISTS (SELECT 1 FROM answers b WHERE b.instance_id = a.instance_id AND b.item_id = a.item_id"
        " AND b.id > a.id) AS superseded FROM answers a LEFT JOIN caregivers c ON c.id = a.caregiver_id ORDER BY a.id"
    )
    return [
        AnswerRow(
            id=int(r["id"]),
            instance_id=int(r["instance_id"]),
            item_id=r["item_id"],
            value=_decode(r["value"], int(r["id"])),
            answered_at=r["answered_at"],
            received_at=r["received_at"],
            is_correction=bool(r["is_correction"]),
            superseded=bool(r["superseded"]),
            source=r["source"],
            caregiver=None if r["caregiver"] is None else int(r["caregiver"]),
        )
        for r in rows
    ]


async def omed_stamps(tx: Tx) -> list[OmedStamp]:
    """Every OMED stamp in id order (a later stamp of the same instance and table supersedes an earlier one)."""
    return [
        OmedStamp(
            int(r["instance_id"]),
            r["table_id"],
            r["catalogue_version"],
            r["rules_version"],
            r["regimen"],
            r["mg"],
            json.loads(r["details"]),
            r["derived_at"],
        )
        for r in await tx.fetchall(
            "SELECT instance_id, table_id, catalogue_version, rules_version, regimen, mg, details, derived_at"
            " FROM omed_stamps ORDER BY id"
        )
    ]


async def questionnaire_texts(tx: Tx) -> dict[str, str]:
    """The questionnaire texts as sent, by hash: the stored JSON text, for the caller to parse."""
    return {str(r["hash"]): str(r["body"]) for r in await tx.fetchall("SELECT hash, body FROM questionnaire_texts")}


async def has_patients(tx: Tx) -> bool:
    """True once at least one patient is enrolled (an export of an empty database is refused)."""
    return await tx.fetchone("SELECT 1 FROM patients LIMIT 1") is not None


@dataclass(frozen=True)
class AuditTrail:
    """The audit trail as stored: its column names in table order, and every row's values in that order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


async def _audit_columns(tx: Tx) -> list[str]:
    """The columns of `audit_log` in table order, for a trail without rows (else the rows name them).

    The catalogue query is engine-specific: SQLite's `PRAGMA table_info`, PostgreSQL's `information_schema`
    (chosen by the session's `dialect` attribute when its adapter sets one).
    """
    if getattr(tx, "dialect", "sqlite") == "postgresql":
        rows = await tx.fetchall(
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'audit_log'"
            " AND table_schema = current_schema() ORDER BY ordinal_position"
        )
    else:
        rows = await tx.fetchall("PRAGMA table_info(audit_log)")
    return [str(r["name"]) for r in rows]


async def audit_trail(tx: Tx) -> AuditTrail:
    """Every column and every row of `audit_log`, ordered by id: a column added by a later migration appears without
    anyone listing it (the trail is what an inspector checks)."""
    rows = await tx.fetchall("SELECT * FROM audit_log ORDER BY id")
    columns: Sequence[str] = list(rows[0].keys()) if rows else await _audit_columns(tx)
    return AuditTrail(columns=tuple(columns), rows=tuple(tuple(row[c] for c in columns) for row in rows))


# ---- alerts and their closed loop (`--format alerts`, `alerts-fhir`, the telemonitoring report) ----------------


@dataclass(frozen=True)
class AlertFact:
    id: int
    patient_id: int
    rule_id: str
    severity: str
    title: str
    questionnaire: str
    timepoint: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    occurrences: int
    last_occurrence_at: datetime | None
    fired: str
    instance_id: int | None = None


@dataclass(frozen=True)
class SuppressedFact:
    id: int
    patient_id: int
    instance_id: int
    rule_id: str
    reason: str
    previous_alert_id: int | None
    created_at: datetime
    fired: str


@dataclass(frozen=True)
class FollowupFact:
    id: int
    alert_id: int
    kind: str
    code: str
    recorded_by: int
    recorded_at: datetime


@dataclass(frozen=True)
class AlertData:
    """Everything the alert exports and the telemonitoring report read, in id order."""

    patients: dict[int, tuple[str, str, str]]  # id → (study_id, site, arm)
    alerts: list[AlertFact]
    suppressed: list[SuppressedFact]
    followups: list[FollowupFact]


def _t(value: object) -> datetime | None:
    return parse_utc(str(value)) if value else None


async def load_alert_data(tx: Tx) -> AlertData:
    """Read the alerts, suppressed firings and follow-ups (three queries and the patients)."""
    patients = {
        int(r["id"]): (str(r["study_id"]), str(r["site_code"]), str(r["arm"]))
        for r in await tx.fetchall("SELECT id, study_id, site_code, arm FROM patients")
    }
    alerts = []
    for r in await tx.fetchall(
        "SELECT id, patient_id, rule_id, severity, payload, created_at, acknowledged_at, acknowledged_by,"
        " occurrences, last_occurrence_at, instance_id FROM alerts ORDER BY id"
    ):
        payload = json.loads(r["payload"])
        alerts.append(
            AlertFact(
                id=r["id"],
                patient_id=r["patient_id"],
                rule_id=r["rule_id"],
                severity=r["severity"],
                title=str(payload.get("title", "")),
                questionnaire=str(payload.get("questionnaire") or ""),
                timepoint=str(payload.get("timepoint") or ""),
                created_at=parse_utc(r["created_at"]),
                acknowledged_at=_t(r["acknowledged_at"]),
                acknowledged_by=r["acknowledged_by"],
                occurrences=r["occurrences"],
                last_occurrence_at=_t(r["last_occurrence_at"]),
                fired=json.dumps(payload.get("fired") or {}, ensure_ascii=False, sort_keys=True),
                instance_id=r["instance_id"],
            )
        )
    suppressed = [
        SuppressedFact(
            id=r["id"],
            patient_id=r["patient_id"],
            instance_id=r["instance_id"],
            rule_id=r["rule_id"],
            reason=r["reason"],
            previous_alert_id=r["previous_alert_id"],
            created_at=parse_utc(r["created_at"]),
            fired=r["fired"],
        )
        for r in await tx.fetchall(
            "SELECT id, patient_id, instance_id, rule_id, reason, previous_alert_id, created_at, fired"
            " FROM suppressed_alerts ORDER BY id"
        )
    ]
    followups = [
        FollowupFact(
            id=r["id"],
            alert_id=r["alert_id"],
            kind=r["kind"],
            code=r["code"],
            recorded_by=r["recorded_by"],
            recorded_at=parse_utc(r["recorded_at"]),
        )
        for r in await tx.fetchall(
            "SELECT id, alert_id, kind, code, recorded_by, recorded_at FROM alert_followups ORDER BY id"
        )
    ]
    return AlertData(patients=patients, alerts=alerts, suppressed=suppressed, followups=followups)
