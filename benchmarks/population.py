"""Generating a trial's database fast: thousands of active patients, their schedule and their answered history.

Going through Telegram would take hours for 10,000 patients, so the rows are written directly — but through the
product's own repositories (`bot.storage.patients`, `instances`, `audit`), with the product's migrations, so the
data has exactly the shape the bot writes. The repositories are async and take a `Tx`; `SyncTx` gives them a
plain `sqlite3` connection instead of the aiosqlite one (no thread hop per statement, one transaction, no fsync):
about 100 times faster to load, identical rows.

Every patient of a cohort has the same protocol plan (`bot.domain.schedule.plan`): instances that opened before
`due_at` are completed (with benign answers if `history`), the chosen timepoint opens exactly at `due_at` (so it
falls due for everyone at the same minute), later ones are planned.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from benchmarks.policy import benign_answers
from bot.bootstrap import QUESTIONNAIRES_DIR
from bot.clock import SystemClock, utc_iso
from bot.domain import schedule as schedule_mod
from bot.domain.questionnaire import Questionnaire, load_questionnaires
from bot.domain.schedule import PlannedInstance, ScheduleSpec, load_schedule
from bot.storage import audit, instances, patients
from bot.storage.store import Store, Tx

#: First Telegram user id of generated patients (chat id = user id, as for private chats).
FIRST_USER_ID = 700_000_000
#: Update ids of the generated history start here, far above the stand-in's (which counts from 1): a
#: generated id must never make the bot drop a live update as a duplicate (bot/telegram/handlers/guards.py).
HISTORY_UPDATE_IDS_FROM = 1_000_000_000
#: How long a generated patient takes to answer a questionnaire (only shapes timestamps).
ANSWERING_TIME = timedelta(minutes=3)


#: The bot under measurement reads its sites here (BOT_SITES_FILE): the shipped file has no BENCH site.
SITES_FILE = Path(__file__).with_name("sites.yaml")


@dataclass(frozen=True)
class Cohort:
    """`patients` identical patients for whom `due_timepoint` opens at the send time of `due_date`."""

    patients: int
    due_timepoint: str
    due_date: date
    history: bool = True
    preferred: str = "matin"
    fractions: int = 1
    site: str = "BENCH"
    first_user_id: int = FIRST_USER_ID
    #: first letters of the study ids; two cohorts in one database need different prefixes and user ids
    prefix: str = "B"

    def user_id(self, n: int) -> int:
        return self.first_user_id + n

    def study_id(self, n: int) -> str:
        return f"{self.prefix}-{n:06d}"


@dataclass(frozen=True)
class Generated:
    """What was written, for the scenarios to drive and check."""

    due_at: datetime
    rt_start: date
    plan: list[PlannedInstance]
    user_ids: list[int]
    study_ids: list[str]
    answers: int
    instances: int


class SyncTx:
    """Duck-typed `bot.storage.store.Tx` over a plain sqlite3 connection (set-up only, never the bot's)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.writable = True
        self.committed = False

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        return int(self._conn.execute(sql, tuple(params)).lastrowid or 0)

    def defer(self, sql: str, params: Iterable[Any] = ()) -> None:
        self._conn.execute(sql, tuple(params))  # set-up: no trips to save

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, tuple(params)).fetchone()
        return row

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(self._conn.execute(sql, tuple(params)).fetchall())

    async def commit(self) -> None:
        self._conn.commit()
        self.committed = True


def plan_for(cohort: Cohort, spec: ScheduleSpec, tz: ZoneInfo) -> tuple[date, datetime, list[PlannedInstance]]:
    """Find the radiotherapy start for which `due_timepoint` opens on `due_date`; return it, enrolment, plan."""
    for offset in range(0, 400):
        rt_start = cohort.due_date - timedelta(days=offset)
        enrolled_at = datetime.combine(rt_start - timedelta(days=2), time(9, 0), tz)
        planned = schedule_mod.plan(
            spec,
            rt_start=rt_start,
            fractions=cohort.fractions,
            enrolled_at=enrolled_at,
            preferred=cohort.preferred,
            tz=tz,
        )
        for item in planned:
            if item.timepoint == cohort.due_timepoint and item.opens_at.astimezone(tz).date() == cohort.due_date:
                return rt_start, enrolled_at, planned
    raise ValueError(f"no radiotherapy start makes {cohort.due_timepoint} open on {cohort.due_date}")


async def populate(database: Path, cohort: Cohort, *, questionnaires_dir: Path = QUESTIONNAIRES_DIR) -> Generated:
    """Create (or extend) `database` with the cohort; return what was written."""
    store = await Store.open(database, SystemClock())  # applies the product's migrations
    await store.close()
    spec = load_schedule(questionnaires_dir / "schedule.yaml")
    questionnaires = load_questionnaires(questionnaires_dir)
    tz = ZoneInfo(spec.timezone.name)
    rt_start, enrolled_at, planned = plan_for(cohort, spec, tz)
    due_at = next(p.opens_at for p in planned if p.timepoint == cohort.due_timepoint)
    templates = {qid: benign_answers(q) for qid, q in questionnaires.items()}

    conn = sqlite3.connect(database, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("BEGIN")
    tx = cast(Tx, SyncTx(conn))  # the repositories only call execute/fetchone/fetchall
    update_id = max(
        HISTORY_UPDATE_IDS_FROM,
        int(conn.execute("SELECT COALESCE(MAX(update_id), 0) FROM processed_updates").fetchone()[0]),
    )
    written_answers = 0
    written_instances = 0
    try:
        for n in range(cohort.patients):
            patient_id = await _patient(tx, cohort, n, rt_start, enrolled_at)
            for item in planned:
                written_instances += 1
                q = questionnaires[item.questionnaire_id]
                instance_id = await instances.create_instance(
                    tx,
                    patient_id=patient_id,
                    questionnaire_id=item.questionnaire_id,
                    questionnaire_version=q.version,
                    timepoint=item.timepoint,
                    study_day=item.day,
                    is_primary=item.primary,
                    opens_at=item.opens_at,
                    closes_at=item.closes_at,
                )
                if item.opens_at >= due_at:
                    continue
                written_answers += await _answered(
                    tx,
                    q,
                    templates[q.id] if cohort.history else {},
                    instance_id,
                    patient_id,
                    cohort.study_id(n),
                    item.opens_at,
                    update_id + written_answers,
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return Generated(
        due_at=due_at,
        rt_start=rt_start,
        plan=planned,
        user_ids=[cohort.user_id(n) for n in range(cohort.patients)],
        study_ids=[cohort.study_id(n) for n in range(cohort.patients)],
        answers=written_answers,
        instances=written_instances,
    )


async def _patient(tx: Tx, cohort: Cohort, n: int, rt_start: date, enrolled_at: datetime) -> int:
    """Enrolled, joined by Telegram, information confirmed, time chosen: active (as bot.services.onboarding)."""
    patient_id = await patients.create_patient(
        tx,
        study_id=cohort.study_id(n),
        site_code=cohort.site,
        arm="standard",
        rt_start=rt_start,
        fractions=cohort.fractions,
        now=enrolled_at,
    )
    invitation = await patients.create_invitation(
        tx,
        patient_id=patient_id,
        code=f"bench-{cohort.prefix}-{n}",
        now=enrolled_at,
        expires_at=enrolled_at + timedelta(days=14),
    )
    joined = enrolled_at + timedelta(minutes=30)
    await patients.redeem_invitation(tx, invitation, joined)
    await patients.link_telegram(
        tx,
        patient_id=patient_id,
        telegram_user_id=cohort.user_id(n),
        chat_id=cohort.user_id(n),
        now=joined,
    )
    await patients.set_status(tx, patient_id, "joined", joined)
    await patients.set_preferred_time(tx, patient_id, cohort.preferred)
    await patients.set_status(tx, patient_id, "active", joined)
    return patient_id


async def _answered(
    tx: Tx,
    q: Questionnaire,
    answers: dict[str, object],
    instance_id: int,
    patient_id: int,
    study_id: str,
    sent_at: datetime,
    first_update_id: int,
) -> int:
    """Mark an instance sent, answered item by item (answer + audit + processed update), completed."""
    actor = f"patient:{study_id}"
    await instances.set_status(tx, instance_id, "open", sent_at)
    await audit.record(
        tx,
        at=sent_at,
        actor="system",
        action="send_intent",
        patient_id=patient_id,
        entity="instance",
        entity_id=instance_id,
    )
    step = ANSWERING_TIME / max(len(answers), 1)
    for k, (item_id, value) in enumerate(answers.items()):
        at = sent_at + step * (k + 1)
        await instances.add_answer(
            tx,
            instance_id=instance_id,
            item_id=item_id,
            value=value,
            answered_at=at,
            received_at=at,
            is_correction=False,
        )
        await audit.record(
            tx,
            at=at,
            actor=actor,
            action="answer",
            patient_id=patient_id,
            entity="answer",
            entity_id=f"{instance_id}/{item_id}",
            new_value=value,
            telegram_date=at,
        )
        # bot.telegram.inbox keeps one row per handled update (bot.storage.inbox.mark_processed)
        await tx.execute(
            "INSERT INTO processed_updates (update_id, processed_at) VALUES (?, ?)",
            (first_update_id + k + 1, utc_iso(at)),
        )
    done = sent_at + ANSWERING_TIME
    await instances.set_status(tx, instance_id, "completed", done)
    await audit.record(
        tx, at=done, actor=actor, action="complete", patient_id=patient_id, entity="instance", entity_id=instance_id
    )
    return len(answers)


def populate_sync(database: Path, cohort: Cohort) -> Generated:
    """`populate` for callers without an event loop (it never awaits anything real)."""
    return asyncio.run(populate(database, cohort))
