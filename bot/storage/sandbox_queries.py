"""What the sandbox, the scripted demo and the simulated cohort read to drive and sum up their virtual world.

Read-only queries for tooling, not for the bot: the virtual care team looks for the alerts it still has to follow
up, the demo sums up each patient, the sandbox page lists the linked chats. Here rather than in `bot/sandbox/` so
every SQL statement stays under `bot/storage/` (issue 19).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from bot.clock import parse_utc
from bot.domain.questionnaire import Value
from bot.storage.store import Tx

__all__ = [
    "AlertSummary",
    "LinkedPatient",
    "PostedAlert",
    "alert_summaries",
    "alerts_awaiting_outcome",
    "last_worst_pain",
    "OpenInvitation",
    "latest_rt_start",
    "linked_patients",
    "open_invitations",
    "status_counts",
]


@dataclass(frozen=True)
class PostedAlert:
    """An alert posted in the clinicians' group whose outcome the team has not recorded yet."""

    id: int
    rule_id: str
    severity: str
    delivered_at: datetime
    acknowledged_at: str | None
    message_id: int


async def alerts_awaiting_outcome(tx: Tx) -> list[PostedAlert]:
    """Posted alerts (a message id) without an outcome follow-up, in id order."""
    rows = await tx.fetchall(
        "SELECT a.id, a.rule_id, a.severity, a.delivered_at, a.acknowledged_at, a.message_id FROM alerts a"
        " WHERE a.message_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM alert_followups f"
        " WHERE f.alert_id = a.id AND f.kind = 'outcome') ORDER BY a.id"
    )
    return [
        PostedAlert(
            int(r["id"]),
            str(r["rule_id"]),
            str(r["severity"]),
            parse_utc(r["delivered_at"]),
            r["acknowledged_at"],
            int(r["message_id"]),
        )
        for r in rows
    ]


async def status_counts(tx: Tx, patient_id: int) -> dict[str, int]:
    """How many questionnaires of the patient are in each status."""
    return {
        str(r["status"]): int(r["n"])
        for r in await tx.fetchall(
            "SELECT status, COUNT(*) AS n FROM instances WHERE patient_id = ? GROUP BY status", (patient_id,)
        )
    }


@dataclass(frozen=True)
class AlertSummary:
    rule_id: str
    severity: str
    acknowledged: bool


async def alert_summaries(tx: Tx, patient_id: int) -> list[AlertSummary]:
    """The patient's alerts in id order: rule, severity, taken care of or not."""
    return [
        AlertSummary(str(r["rule_id"]), str(r["severity"]), r["acknowledged_at"] is not None)
        for r in await tx.fetchall(
            "SELECT rule_id, severity, acknowledged_at FROM alerts WHERE patient_id = ? ORDER BY id", (patient_id,)
        )
    ]


async def last_worst_pain(tx: Tx, patient_id: int, which: Literal["baseline", "primary"]) -> Value | None:
    """The newest `pain_worst` answer of the patient's baseline questionnaire, or of its primary end point (day 30)."""
    where = "i.timepoint = 'baseline'" if which == "baseline" else "i.is_primary = 1"
    row = await tx.fetchone(
        "SELECT a.value FROM answers a JOIN instances i ON i.id = a.instance_id"
        f" WHERE i.patient_id = ? AND {where} AND a.item_id = 'pain_worst' ORDER BY a.id DESC LIMIT 1",
        (patient_id,),
    )
    return None if row is None else json.loads(row["value"])


@dataclass(frozen=True)
class LinkedPatient:
    """A patient who joined from a Telegram chat (the sandbox shows its chat with the study id and day)."""

    telegram_user_id: int
    study_id: str
    status: str
    rt_start: date


async def linked_patients(tx: Tx) -> list[LinkedPatient]:
    rows = await tx.fetchall(
        "SELECT l.telegram_user_id, p.study_id, p.status, p.rt_start FROM telegram_links l"
        " JOIN patients p ON p.id = l.patient_id"
    )
    return [
        LinkedPatient(
            int(r["telegram_user_id"]), str(r["study_id"]), str(r["status"]), date.fromisoformat(r["rt_start"])
        )
        for r in rows
    ]


@dataclass(frozen=True)
class LinkedCaregiver:
    """A caregiver's chat (issue 36): whose caregiver, which number, in which state."""

    telegram_user_id: int
    study_id: str
    number: int
    status: str


async def linked_caregivers(tx: Tx) -> list[LinkedCaregiver]:
    rows = await tx.fetchall(
        "SELECT c.telegram_user_id, p.study_id, c.number, c.status FROM caregivers c"
        " JOIN patients p ON p.id = c.patient_id WHERE c.telegram_user_id IS NOT NULL ORDER BY c.id"
    )
    return [
        LinkedCaregiver(int(r["telegram_user_id"]), str(r["study_id"]), int(r["number"]), str(r["status"]))
        for r in rows
    ]


async def latest_rt_start(tx: Tx) -> date | None:
    """Day 0 of the patient enrolled last, if any."""
    row = await tx.fetchone("SELECT rt_start FROM patients ORDER BY id DESC LIMIT 1")
    return None if row is None else date.fromisoformat(row["rt_start"])


@dataclass(frozen=True)
class OpenInvitation:
    """An invitation nobody has redeemed yet and that has not expired; its code is kept only as a hash."""

    study_id: str
    site_code: str
    arm: str
    fractions: int
    code_hash: str
    expires_at: datetime


async def open_invitations(tx: Tx, now: datetime) -> list[OpenInvitation]:
    """Every unredeemed, unexpired invitation, in creation order: made by the sandbox's form or by `/enroll` typed in
    the group (issue 39, item 1). The expiry is compared here, not in SQL: both engines store it as text."""
    rows = await tx.fetchall(
        "SELECT p.study_id, p.site_code, p.arm, p.fractions, i.code_hash, i.expires_at FROM invitations i"
        " JOIN patients p ON p.id = i.patient_id WHERE i.redeemed_at IS NULL ORDER BY i.id"
    )
    found = [
        OpenInvitation(
            str(r["study_id"]),
            str(r["site_code"]),
            str(r["arm"]),
            int(r["fractions"]),
            str(r["code_hash"]),
            parse_utc(r["expires_at"]),
        )
        for r in rows
    ]
    return [i for i in found if i.expires_at > now]
