"""Questionnaire instances and their answers (answers are append-only rows)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime

import aiosqlite

from bot.clock import parse_utc, utc_iso
from bot.domain.models import Instance
from bot.domain.questionnaire import Questionnaire, Value, canonical_text, content_hash
from bot.storage.store import Tx


def _opt_time(value: str | None) -> datetime | None:
    return parse_utc(value) if value else None


def instance_from(row: aiosqlite.Row) -> Instance:
    return Instance(
        id=row["id"],
        patient_id=row["patient_id"],
        questionnaire_id=row["questionnaire_id"],
        questionnaire_version=row["questionnaire_version"],
        timepoint=row["timepoint"],
        study_day=row["study_day"],
        is_primary=bool(row["is_primary"]),
        opens_at=parse_utc(row["opens_at"]),
        closes_at=parse_utc(row["closes_at"]),
        status=row["status"],
        sent_at=_opt_time(row["sent_at"]),
        completed_at=_opt_time(row["completed_at"]),
        reminders_sent=row["reminders_sent"],
        question_message_id=row["question_message_id"],
        correcting_item=row["correcting_item"],
        selection=tuple(json.loads(row["selection"])) if row["selection"] is not None else None,
        questionnaire_hash=row["questionnaire_hash"],
        held_by=row["held_by"],
    )


async def stamp_sent(tx: Tx, instance_id: int, questionnaire: Questionnaire, now: datetime) -> None:
    """Stamp the questionnaire being sent: its version and content hash on the instance (once: a resend keeps the
    first stamp), its text kept under that hash. Called where an instance starts to be shown (dispatcher, phone
    entry), not when it is planned: a file upgraded in between is what the patient sees, and is what is stamped."""
    digest = content_hash(questionnaire)
    await tx.execute(
        "INSERT OR IGNORE INTO questionnaire_texts (hash, questionnaire_id, version, body, first_sent_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (digest, questionnaire.id, questionnaire.version, canonical_text(questionnaire), utc_iso(now)),
    )
    await tx.execute(
        "UPDATE instances SET questionnaire_version = ?, questionnaire_hash = ? WHERE id = ? AND questionnaire_hash"
        " IS NULL",
        (questionnaire.version, digest, instance_id),
    )
    from bot.storage import team_regimens  # a regimen recorded by the team is confirmed in this questionnaire

    await team_regimens.link_to_instance(tx, instance_id, questionnaire)


async def questionnaire_text(tx: Tx, digest: str) -> dict[str, object] | None:
    """The questionnaire exactly as it was sent under this hash (canonical JSON, decoded)."""
    row = await tx.fetchone("SELECT body FROM questionnaire_texts WHERE hash = ?", (digest,))
    return json.loads(row["body"]) if row is not None else None


async def create_instance(
    tx: Tx,
    *,
    patient_id: int,
    questionnaire_id: str,
    questionnaire_version: str,
    timepoint: str,
    study_day: int | None,
    is_primary: bool,
    opens_at: datetime,
    closes_at: datetime,
) -> int:
    """Plan an instance; a (patient, timepoint) pair exists at most once, so planning twice is harmless."""
    await tx.execute(
        "INSERT OR IGNORE INTO instances (patient_id, questionnaire_id, questionnaire_version, timepoint, study_day,"
        " is_primary, opens_at, closes_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            patient_id,
            questionnaire_id,
            questionnaire_version,
            timepoint,
            study_day,
            int(is_primary),
            utc_iso(opens_at),
            utc_iso(closes_at),
        ),
    )
    row = await tx.fetchone("SELECT id FROM instances WHERE patient_id = ? AND timepoint = ?", (patient_id, timepoint))
    assert row is not None
    return int(row["id"])


async def get_instance(tx: Tx, instance_id: int) -> Instance | None:
    row = await tx.fetchone("SELECT * FROM instances WHERE id = ?", (instance_id,))
    return instance_from(row) if row else None


async def open_instance_for(tx: Tx, patient_id: int) -> Instance | None:
    """The patient's one active questionnaire (being sent or open), if any."""
    row = await tx.fetchone(
        "SELECT * FROM instances WHERE patient_id = ? AND status IN ('sending', 'open') ORDER BY opens_at LIMIT 1",
        (patient_id,),
    )
    return instance_from(row) if row else None


#: `instances_for`'s query (one parameter: the patient id).
INSTANCES_FOR = "SELECT * FROM instances WHERE patient_id = ? ORDER BY opens_at, id"


async def instances_for(tx: Tx, patient_id: int) -> list[Instance]:
    rows = await tx.fetchall(INSTANCES_FOR, (patient_id,))
    return [instance_from(r) for r in rows]


async def set_held_by(tx: Tx, instance_id: int, holder: str) -> None:
    """The first answer's author holds the questionnaire (issue 36); deferred like the updates below."""
    tx.defer("UPDATE instances SET held_by = ? WHERE id = ? AND held_by IS NULL", (holder, instance_id))


async def set_status(tx: Tx, instance_id: int, status: str, now: datetime) -> None:
    """Deferred (`Tx.defer`), as the other one-column updates below: sent with the transaction's next statement."""
    column = {"open": "sent_at", "completed": "completed_at"}.get(status)
    if column:
        tx.defer(
            f"UPDATE instances SET status = ?, {column} = COALESCE({column}, ?) WHERE id = ?",
            (status, utc_iso(now), instance_id),
        )
    else:
        tx.defer("UPDATE instances SET status = ? WHERE id = ?", (status, instance_id))


async def set_correcting(tx: Tx, instance_id: int, item_id: str | None) -> None:
    tx.defer("UPDATE instances SET correcting_item = ? WHERE id = ?", (item_id, instance_id))


async def set_selection(tx: Tx, instance_id: int, selection: list[str] | None) -> None:
    value = json.dumps(sorted(selection)) if selection is not None else None
    tx.defer("UPDATE instances SET selection = ? WHERE id = ?", (value, instance_id))


async def add_answer(
    tx: Tx,
    *,
    instance_id: int,
    item_id: str,
    value: object,
    answered_at: datetime,
    received_at: datetime,
    is_correction: bool,
    source: str = "patient",
    caregiver_id: int | None = None,
) -> None:
    """Append one answer row; `source` is "patient" (their own chat) or "phone" (entered by a nurse, /saisie);
    `caregiver_id`: given by that caregiver (respondent "caregiver", issue 36), else by the patient.

    Deferred (`Tx.defer`): it reaches the database with the transaction's next statement, in the same trip."""
    tx.defer(
        "INSERT INTO answers (instance_id, item_id, value, answered_at, received_at, is_correction, source,"
        " respondent, caregiver_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            instance_id,
            item_id,
            json.dumps(value, ensure_ascii=False),
            utc_iso(answered_at),
            utc_iso(received_at),
            int(is_correction),
            source,
            "patient" if caregiver_id is None else "caregiver",
            caregiver_id,
        ),
    )


async def current_answers(tx: Tx, instance_id: int) -> dict[str, Value]:
    """item id → newest value (a correction supersedes, it never overwrites)."""
    rows = await tx.fetchall(
        "SELECT item_id, value FROM answers WHERE id IN"
        " (SELECT MAX(id) FROM answers WHERE instance_id = ? GROUP BY item_id)",
        (instance_id,),
    )
    return {r["item_id"]: json.loads(r["value"]) for r in rows}


#: `answers_with_context`'s query; `{instance}`: the instance id's expression (it appears twice).
ANSWERS_WITH_CONTEXT = (
    "SELECT item_id, value FROM answers WHERE id IN"
    " (SELECT MAX(id) FROM answers WHERE instance_id = {instance} GROUP BY item_id)"
    " UNION ALL SELECT NULL, NULL WHERE EXISTS"
    " (SELECT 1 FROM clinician_regimens WHERE shown_instance_id = {instance})"
)


async def answers_with_context(tx: Tx, instance_id: int) -> dict[str, Value]:
    """`current_answers` plus the context items the bot supplies (never stored as answers): `team_regimen` "yes"
    when a regimen recorded by the team is shown in this questionnaire for confirmation (issue 17)."""
    # One query, not two (issue #18: each is a round trip inside the answer's write transaction): the answers, and
    # a row without an item id when the team's regimen is shown here.
    rows = await tx.fetchall(ANSWERS_WITH_CONTEXT.format(instance="?"), (instance_id, instance_id))
    return with_context(rows)


def with_context(rows: list[aiosqlite.Row]) -> dict[str, Value]:
    """The rows of `ANSWERS_WITH_CONTEXT` as item id → value."""
    from bot.domain.team_regimen import TEAM_CONTEXT_ITEM

    answers = {r["item_id"]: json.loads(r["value"]) for r in rows if r["item_id"] is not None}
    return {TEAM_CONTEXT_ITEM: "yes", **answers} if len(answers) < len(rows) else answers


#: `current_answers_for_patient`'s query (one parameter: the patient id).
CURRENT_ANSWERS_FOR_PATIENT = (
    "SELECT a.instance_id, a.item_id, a.value FROM answers a WHERE a.id IN"
    " (SELECT MAX(b.id) FROM answers b JOIN instances i ON i.id = b.instance_id WHERE i.patient_id = ?"
    "  GROUP BY b.instance_id, b.item_id)"
)


async def current_answers_for_patient(tx: Tx, patient_id: int) -> dict[int, dict[str, Value]]:
    """instance id → (item id → newest value), for every instance of the patient, in one query."""
    return answers_by_instance(await tx.fetchall(CURRENT_ANSWERS_FOR_PATIENT, (patient_id,)))


def answers_by_instance(rows: list[aiosqlite.Row]) -> dict[int, dict[str, Value]]:
    """The rows of `CURRENT_ANSWERS_FOR_PATIENT` as instance id → (item id → newest value)."""
    result: dict[int, dict[str, Value]] = {}
    for r in rows:
        result.setdefault(r["instance_id"], {})[r["item_id"]] = json.loads(r["value"])
    return result


async def completed_item_answers(tx: Tx, patient_id: int, item_id: str) -> list[tuple[int, datetime, object]]:
    """(instance id, completed at, current value) of `item_id` in each of the patient's completed questionnaires."""
    rows = await tx.fetchall(
        "SELECT i.id, i.completed_at, a.value FROM instances i JOIN answers a ON a.instance_id = i.id"
        " WHERE i.patient_id = ? AND i.status = 'completed' AND i.completed_at IS NOT NULL AND a.item_id = ?"
        " AND a.id = (SELECT MAX(b.id) FROM answers b WHERE b.instance_id = i.id AND b.item_id = a.item_id)"
        " ORDER BY i.id",
        (patient_id, item_id),
    )
    return [(int(r["id"]), parse_utc(r["completed_at"]), json.loads(r["value"])) for r in rows]


async def answer_order(tx: Tx, instance_id: int) -> list[str]:
    """Item ids in the order they were first answered (to find "the previous answer")."""
    rows = await tx.fetchall(
        "SELECT item_id, MIN(id) AS first FROM answers WHERE instance_id = ? GROUP BY item_id ORDER BY first",
        (instance_id,),
    )
    return [r["item_id"] for r in rows]


#: `history_version`'s query: `{patient}` (used twice) and `{instance}` the ids' SQL, a parameter or a subquery.
HISTORY_VERSION = (
    "SELECT COUNT(*) AS n, COALESCE(MAX(a.id), 0) AS newest, (SELECT COALESCE(MAX(c.id), 0) FROM"
    " clinician_regimens c WHERE c.patient_id = {patient}) AS team FROM answers a JOIN instances i"
    " ON i.id = a.instance_id WHERE i.patient_id = {patient} AND i.id != {instance}"
)


async def history_version(tx: Tx, patient_id: int, excluding_instance_id: int) -> tuple[int, int, int]:
    """What proves a patient's answered history other than one instance unchanged: the count and newest id of
    those answers, and the newest regimen the team recorded (`bot.services.prior_history`)."""
    row = await tx.fetchone(
        HISTORY_VERSION.format(patient="?", instance="?"), (patient_id, patient_id, excluding_instance_id)
    )
    return version_from(row)


def version_from(row: aiosqlite.Row | None) -> tuple[int, int, int]:
    """The row of `HISTORY_VERSION` as (answers, newest answer id, newest team regimen id)."""
    return (int(row["n"]), int(row["newest"]), int(row["team"])) if row is not None else (0, 0, 0)


async def primary_instance_of(tx: Tx, patient_id: int) -> Instance | None:
    """The patient's primary end-point questionnaire (day 30), if planned."""
    row = await tx.fetchone(
        "SELECT * FROM instances WHERE patient_id = ? AND is_primary = 1 ORDER BY id LIMIT 1", (patient_id,)
    )
    return instance_from(row) if row else None


async def primary_still_open(tx: Tx, now: datetime, patient_statuses: Collection[str]) -> list[Instance]:
    """Primary questionnaires not completed whose window has not closed, of patients in `patient_statuses`,
    the window closing soonest first (the call list)."""
    statuses = list(patient_statuses)
    rows = await tx.fetchall(
        "SELECT i.* FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE i.is_primary = 1 AND i.status IN ('planned', 'sending', 'open') AND i.closes_at > ?"
        f" AND p.status IN ({', '.join('?' for _ in statuses)}) ORDER BY i.closes_at, p.study_id",
        (utc_iso(now), *statuses),
    )
    return [instance_from(r) for r in rows]


async def baseline_instance_of(tx: Tx, patient_id: int) -> Instance | None:
    """The patient's baseline questionnaire, if planned (issue 33: the call list recovers a missing one)."""
    row = await tx.fetchone(
        "SELECT * FROM instances WHERE patient_id = ? AND timepoint = 'baseline' ORDER BY id LIMIT 1", (patient_id,)
    )
    return instance_from(row) if row else None


async def baseline_still_open(tx: Tx, now: datetime, patient_statuses: Collection[str]) -> list[Instance]:
    """Baseline questionnaires not completed whose window has not closed, of patients in `patient_statuses`,
    the window closing soonest first (the call list, issue 33)."""
    statuses = list(patient_statuses)
    rows = await tx.fetchall(
        "SELECT i.* FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE i.timepoint = 'baseline' AND i.status IN ('planned', 'sending', 'open') AND i.closes_at > ?"
        f" AND p.status IN ({', '.join('?' for _ in statuses)}) ORDER BY i.closes_at, p.study_id",
        (utc_iso(now), *statuses),
    )
    return [instance_from(r) for r in rows]


async def cancel_unsent(tx: Tx, patient_id: int) -> None:
    """Withdrawal: every questionnaire not yet finished is cancelled (the answers stay)."""
    await tx.execute(
        "UPDATE instances SET status = 'cancelled' WHERE patient_id = ? AND status IN ('planned', 'sending', 'open')",
        (patient_id,),
    )


async def delete_replannable(tx: Tx, patient_id: int) -> None:
    """Day 0 corrected: forget the planned questionnaires nothing refers to (no answer, no alert), to plan again."""
    await tx.execute(
        "DELETE FROM instances WHERE patient_id = ? AND status = 'planned'"
        " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.instance_id = instances.id)"
        " AND NOT EXISTS (SELECT 1 FROM alerts l WHERE l.instance_id = instances.id)",
        (patient_id,),
    )


async def count_extra(tx: Tx, patient_id: int) -> int:
    """How many questionnaires a clinician pushed outside the schedule (timepoints X1, X2, …)."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n FROM instances WHERE patient_id = ? AND timepoint LIKE 'X%'", (patient_id,)
    )
    return int(row["n"]) if row is not None else 0


async def set_opens_at(tx: Tx, instance_id: int, opens_at: datetime) -> None:
    await tx.execute("UPDATE instances SET opens_at = ? WHERE id = ?", (utc_iso(opens_at), instance_id))


async def set_question_messages(tx: Tx, message_ids: Mapping[int, int]) -> None:
    """Several instances' question message ids (instance id → message id) in ONE statement (issue #18: the
    questions sent while the writer is busy are remembered together, one wait for the write lock, not one each)."""
    if not message_ids:
        return
    rows = ", ".join(["(?, ?)"] * len(message_ids))
    await tx.execute(
        "UPDATE instances SET question_message_id = CAST(v.column2 AS BIGINT) FROM (VALUES " + rows + ") AS v "
        "WHERE instances.id = CAST(v.column1 AS BIGINT)",
        [value for instance_id, message_id in message_ids.items() for value in (instance_id, message_id)],
    )
