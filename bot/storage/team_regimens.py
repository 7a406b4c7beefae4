"""Clinician-recorded regimens (migration 0008, table clinician_regimens) and the context they give a
questionnaire: `team_regimen` = "yes" in the questionnaire where the patient is asked to confirm one.

Append-only: a new entry replaces the previous one for what comes next; the old ones stay for the audit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import parse_utc, utc_iso
from bot.domain.omed import TEAM_CONFIRM_ITEM, Regimen
from bot.domain.questionnaire import Questionnaire, Value
from bot.domain.team_regimen import TEAM_CONTEXT_ITEM
from bot.storage.store import Tx

__all__ = [
    "TeamRegimen",
    "record",
    "FOR_PATIENT",
    "for_patient",
    "regimens_from",
    "for_patients",
    "link_to_instance",
    "context_for",
    "latest_shown_in",
    "insert_omed_stamp",
]


@dataclass(frozen=True)
class TeamRegimen:
    id: int
    patient_id: int
    regimen: Regimen
    reason: str
    recorded_by: str
    recorded_at: datetime
    shown_instance_id: int | None


def _row(r: Any) -> TeamRegimen:  # a driver row (aiosqlite.Row or asyncpg.Record)
    return TeamRegimen(
        id=int(r["id"]),
        patient_id=int(r["patient_id"]),
        regimen=Regimen.model_validate(json.loads(r["regimen"])),
        reason=r["reason"],
        recorded_by=r["recorded_by"],
        recorded_at=parse_utc(r["recorded_at"]),
        shown_instance_id=r["shown_instance_id"],
    )


async def record(tx: Tx, *, patient_id: int, regimen: Regimen, reason: str, actor: str, now: datetime) -> int:
    return await tx.execute(
        "INSERT INTO clinician_regimens (patient_id, regimen, reason, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?)",
        (patient_id, regimen.model_dump_json(), reason, actor, utc_iso(now)),
    )


#: `for_patient`'s query (one parameter: the patient id).
FOR_PATIENT = "SELECT * FROM clinician_regimens WHERE patient_id = ? ORDER BY id"


async def for_patient(tx: Tx, patient_id: int) -> list[TeamRegimen]:
    """The patient's entries, oldest first."""
    return regimens_from(await tx.fetchall(FOR_PATIENT, (patient_id,)))


def regimens_from(rows: Sequence[object]) -> list[TeamRegimen]:
    """The rows of `FOR_PATIENT` as entries."""
    return [_row(r) for r in rows]


async def for_patients(tx: Tx) -> dict[int, list[TeamRegimen]]:
    """Every entry by patient, oldest first (exports)."""
    result: dict[int, list[TeamRegimen]] = {}
    for r in await tx.fetchall("SELECT * FROM clinician_regimens ORDER BY id"):
        entry = _row(r)
        result.setdefault(entry.patient_id, []).append(entry)
    return result


async def link_to_instance(tx: Tx, instance_id: int, questionnaire: Questionnaire) -> None:
    """When a questionnaire that can ask the confirmation is sent: the patient's newest entry is shown in it, unless
    it was already answered in another one (an entry shown in a questionnaire left unanswered is shown again)."""
    if TEAM_CONTEXT_ITEM not in questionnaire.item_ids:
        return
    row = await tx.fetchone(
        "SELECT c.id, c.shown_instance_id FROM clinician_regimens c JOIN instances i ON i.patient_id = c.patient_id"
        " WHERE i.id = ? ORDER BY c.id DESC LIMIT 1",
        (instance_id,),
    )
    if row is None or row["shown_instance_id"] == instance_id:
        return
    if row["shown_instance_id"] is not None:
        answered = await tx.fetchone(
            "SELECT 1 FROM answers WHERE instance_id = ? AND item_id = ?", (row["shown_instance_id"], TEAM_CONFIRM_ITEM)
        )
        if answered is not None:
            return
    await tx.execute("UPDATE clinician_regimens SET shown_instance_id = ? WHERE id = ?", (instance_id, row["id"]))


async def latest_shown_in(tx: Tx, instance_id: int) -> TeamRegimen | None:
    row = await tx.fetchone(
        "SELECT * FROM clinician_regimens WHERE shown_instance_id = ? ORDER BY id DESC LIMIT 1", (instance_id,)
    )
    return _row(row) if row is not None else None


def context_for(instance_id: int, entries: list[TeamRegimen]) -> dict[str, Value]:
    """The context answers of an instance: `team_regimen` "yes" when an entry is shown in it."""
    return {TEAM_CONTEXT_ITEM: "yes"} if any(e.shown_instance_id == instance_id for e in entries) else {}


async def insert_omed_stamp(
    tx: Tx,
    *,
    instance_id: int,
    table_id: str,
    catalogue_version: str,
    rules_version: str,
    regimen: Regimen,
    mg: float | None,
    details: dict[str, object],
    now: datetime,
) -> None:
    """One row of `omed_stamps` (the same migration, 0008): the OMED of a completed questionnaire for one table."""
    await tx.execute(
        "INSERT INTO omed_stamps (instance_id, table_id, catalogue_version, rules_version, regimen, mg, details,"
        " derived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            instance_id,
            table_id,
            catalogue_version,
            rules_version,
            regimen.model_dump_json(),
            mg,
            json.dumps(details, ensure_ascii=False, sort_keys=True),
            utc_iso(now),
        ),
    )
