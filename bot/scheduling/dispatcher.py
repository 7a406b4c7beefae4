"""What is due now, derived from the database and the clock: send, remind, close windows.

`tick()` is called every few seconds by PTB's JobQueue in production, and directly by tests and the sandbox after
moving the virtual clock. It never relies on in-memory state, so a restart (or `kill -9`) loses nothing.

Send order (issue #4), chosen for "never sent twice":
1. commit the instance as `sending` (the intent, with its audit entry);
2. send the first question to Telegram;
3. commit it as `open` with the message id.
A crash between 1 and 3 leaves a `sending` row; `recover()` at start-up turns it into `open` WITHOUT sending again
(at most once). If the question did not reach the patient, nothing is lost: the reminders (+4 h, next morning)
and `/reprendre`, or any message from the patient, show the current question again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import Bot
from telegram.error import Forbidden

from bot.clock import utc_iso
from bot.domain import schedule
from bot.domain.rules import evaluate_event
from bot.i18n import _
from bot.scheduling import spread
from bot.services import answering
from bot.services.container import Services
from bot.storage import alerts, audit, instances, patients
from bot.storage.store import Tx
from bot.telegram.outgoing import send_prompt
from bot.telegram.pacing import Lane, sending_as

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    sent: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


async def recover(services: Services) -> int:
    """After a crash: instances caught between "intent recorded" and "sent recorded" become open (no resend)."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        rows = await tx.fetchall("SELECT id, patient_id FROM instances WHERE status = 'sending'")
        for row in rows:
            await instances.set_status(tx, row["id"], "open", now)
            await audit.record(tx, at=now, actor="system", action="send_recovered", patient_id=row["patient_id"],
                               entity="instance", entity_id=row["id"])
        await tx.commit()
    return len(rows)


async def tick(services: Services, bot: Bot) -> TickReport:
    """One pass: close expired windows, give the day-30 notice, send what is due, remind what waits."""
    report = TickReport()
    now = services.clock.now()
    report.missed = await _close_windows(services, now)
    report.notices = await _primary_notices(services, now)
    if schedule.is_quiet(now, services.schedule, services.settings.timezone):
        return report
    async with services.store.read() as tx:
        rows = await tx.fetchall(
            "SELECT i.patient_id, MIN(i.opens_at) AS opens_at FROM instances i JOIN patients p ON p.id = i.patient_id"
            " WHERE p.status = 'active' AND i.status = 'planned' AND i.opens_at <= ? AND i.closes_at > ?"
            " AND NOT EXISTS (SELECT 1 FROM instances o WHERE o.patient_id = i.patient_id"
            "                 AND o.status IN ('sending', 'open'))"
            " GROUP BY i.patient_id ORDER BY i.patient_id",
            (utc_iso(now), utc_iso(now)),
        )
    window = timedelta(minutes=services.settings.bot_fanout_spread_minutes)
    due = spread.due_now([(int(r["patient_id"]), instances.parse_utc(r["opens_at"])) for r in rows], now, window)
    with sending_as(Lane.BULK):  # scheduled sends: ≈ 30/s overall, behind replies and alerts (bot.telegram.pacing)
        report.sent = await _dispatch_all(services, bot, due)
        report.reminded = await _remind(services, bot, now)
    return report


# How many patients are dispatched at once. With one, the three commits between two sends leave the pacing's next
# slot unused for a few milliseconds each time (94 % of Telegram's 30/s for 10,000 due questionnaires,
# benchmarks/README.md); with a few, a send is always waiting for the next slot. Each dispatch is still one patient's
# own sequence (intent → send → open), so the crash guarantees above hold per patient.
DISPATCH_LANES = 3


async def _dispatch_all(services: Services, bot: Bot, patient_ids: list[int]) -> list[int]:
    """Dispatch the due patients, a few at a time; stop taking new ones after the first failure, then raise it.

    Stopping matters: if Telegram is down, carrying on would mark every due questionnaire as sent while none
    arrived. The next tick retries the patients not reached.
    """
    pending = iter(patient_ids)
    sent: list[int] = []
    failures: list[BaseException] = []

    async def lane() -> None:
        for patient_id in pending:  # the lanes share one iterator: each patient is taken once
            if failures:
                return
            try:
                instance_id = await dispatch_patient(services, bot, patient_id)
            except Exception as exc:  # noqa: BLE001 - re-raised below, once the other lanes are done
                failures.append(exc)
                return
            if instance_id is not None:
                sent.append(instance_id)

    await asyncio.gather(*(lane() for _ in range(min(DISPATCH_LANES, len(patient_ids)))))
    if failures:
        raise failures[0]
    return sorted(sent)


def due_horizon(services: Services, now: datetime, *, present: bool) -> datetime | None:
    """Up to when an instance's opening counts as due now; None when nothing may be sent.

    `present`: the patient is in the chat right now (joining, /reprendre, a tap); quiet hours then do not apply,
    they only protect patients from messages the bot starts (issue 16).
    """
    tz = services.settings.timezone
    if present:
        return schedule.present_horizon(now, services.schedule, tz)
    if schedule.is_quiet(now, services.schedule, tz):
        return None
    return now


async def next_due(services: Services, patient_id: int, *, present: bool) -> int | None:
    """The instance `dispatch_patient` would open now (read only), so a message can announce only what follows."""
    now = services.clock.now()
    horizon = due_horizon(services, now, present=present)
    if horizon is None:
        return None
    async with services.store.read() as tx:
        if await instances.open_instance_for(tx, patient_id) is not None:
            return None
        row = await tx.fetchone(
            "SELECT id FROM instances WHERE patient_id = ? AND status = 'planned' AND opens_at <= ? AND closes_at > ?"
            " ORDER BY opens_at, id LIMIT 1",
            (patient_id, utc_iso(horizon), utc_iso(now)),
        )
    return None if row is None else int(row["id"])


async def dispatch_patient(
    services: Services, bot: Bot, patient_id: int, *, present: bool = False, preface: str | None = None
) -> int | None:
    """Open the patient's next due questionnaire if none is open (one at a time); return its id.

    `present=True` when the patient is talking to the bot now: what is due is sent at once, at any hour.
    `preface`: a few words for the patient that go at the top of the same message ("Thank you…"), one message
    rather than two (issue #18); when nothing is sent (None returned) the caller still owes them.
    """
    now = services.clock.now()
    horizon = due_horizon(services, now, present=present)
    if horizon is None:
        return None
    async with services.store.transaction() as tx:
        patient = await patients.get_patient(tx, patient_id)
        link = await patients.get_link(tx, patient_id)
        if patient is None or link is None or patient.status != "active":
            return None
        if await instances.open_instance_for(tx, patient_id) is not None:
            return None
        row = await tx.fetchone(
            "SELECT id FROM instances WHERE patient_id = ? AND status = 'planned' AND opens_at <= ? AND closes_at > ?"
            " ORDER BY opens_at, id LIMIT 1",
            (patient_id, utc_iso(horizon), utc_iso(now)),
        )
        if row is None:
            return None
        instance_id = int(row["id"])
        await instances.set_status(tx, instance_id, "sending", now)
        await tx.execute("UPDATE instances SET sent_at = ? WHERE id = ?", (utc_iso(now), instance_id))
        planned = await instances.get_instance(tx, instance_id)
        if planned is not None and planned.questionnaire_id in services.questionnaires:
            await instances.stamp_sent(tx, instance_id, services.questionnaires[planned.questionnaire_id], now)
        await audit.record(tx, at=now, actor="system", action="send_intent", patient_id=patient_id,
                           entity="instance", entity_id=instance_id)
        await tx.commit()
    async with services.store.read() as tx:
        instance = await instances.get_instance(tx, instance_id)
        assert instance is not None
        prompt = await answering.prompt_for(tx, services, instance)
    questionnaire = services.questionnaires[instance.questionnaire_id]
    try:
        header = _("New questionnaire: {title}").format(title=questionnaire.title)
        if questionnaire.intro:
            header += "\n" + questionnaire.intro
        if preface:
            header = f"{preface}\n\n{header}"
        if prompt is not None:
            await send_prompt(bot, services, link.chat_id, prompt, header=header)
        else:
            await bot.send_message(link.chat_id, header)
    except Forbidden:
        await mark_unreachable(services, patient_id)
        return None
    finally:
        async with services.store.transaction() as tx:
            current = await instances.get_instance(tx, instance_id)
            if current is not None and current.status == "sending":
                await instances.set_status(tx, instance_id, "open", services.clock.now())
                await tx.commit()
    log.info("sent instance %s (%s)", instance_id, instance.timepoint)
    return instance_id


async def mark_unreachable(services: Services, patient_id: int) -> None:
    """The patient blocked the bot: stop sending and tell the clinicians once (`bot.services.reachability`)."""
    from bot.services.reachability import mark_unreachable as mark

    await mark(services, patient_id)


async def _close_windows(services: Services, now: datetime) -> list[int]:
    """Instances whose window closed unanswered become missed (answers already given are kept)."""
    closed: list[int] = []
    async with services.store.read() as tx:  # most ticks close nothing: do not take the write lock for that
        expired = await tx.fetchone(
            "SELECT 1 FROM instances WHERE status IN ('planned', 'sending', 'open') AND closes_at <= ? LIMIT 1",
            (utc_iso(now),),
        )
    if expired is None:
        return closed
    async with services.store.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT i.id, i.patient_id, i.questionnaire_id, i.timepoint, i.study_day, p.status AS pstatus"
            " FROM instances i JOIN patients p ON p.id = i.patient_id"
            " WHERE i.status IN ('planned', 'sending', 'open') AND i.closes_at <= ?",
            (utc_iso(now),),
        )
        for row in rows:
            await instances.set_status(tx, row["id"], "missed", now)
            await audit.record(tx, at=now, actor="system", action="missed", patient_id=row["patient_id"],
                               entity="instance", entity_id=row["id"])
            if row["pstatus"] in ("active", "paused", "unreachable"):
                await _event_alert(tx, services, "missed", row, now)
            closed.append(int(row["id"]))
        await tx.commit()
    return closed


async def _primary_notices(services: Services, now: datetime) -> list[int]:
    """The day-30 questionnaire still unanswered one day before its window closes: tell the clinicians."""
    noticed: list[int] = []
    tz = services.settings.timezone
    async with services.store.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT i.*, p.status AS pstatus FROM instances i JOIN patients p ON p.id = i.patient_id"
            " WHERE i.is_primary = 1 AND i.status IN ('planned', 'sending', 'open') AND i.primary_notice_at IS NULL"
            " AND p.status IN ('active', 'paused', 'unreachable')"
        )
        for row in rows:
            planned = schedule.PlannedInstance(
                row["questionnaire_id"], row["timepoint"], row["study_day"],
                instances.parse_utc(row["opens_at"]), instances.parse_utc(row["closes_at"]), True,
            )
            at = schedule.primary_notice_time(services.schedule, planned, tz)
            if at is None or now < at:
                continue
            await tx.execute("UPDATE instances SET primary_notice_at = ? WHERE id = ?", (utc_iso(now), row["id"]))
            await _event_alert(tx, services, "missed_primary_soon", row, now)
            noticed.append(int(row["id"]))
        await tx.commit()
    return noticed


async def _event_alert(tx: Tx, services: Services, event: str, row: object, now: datetime) -> None:
    details = {"questionnaire": row["questionnaire_id"], "timepoint": row["timepoint"]}  # type: ignore[index]
    for draft in evaluate_event(services.rules, event, details=details):
        if event == "missed" and not services.legacy_alerting:  # one open alert per rule and patient (issue 15)
            patient_id: int = row["patient_id"]  # type: ignore[index]
            open_alert = await alerts.open_alert_of_rule(tx, patient_id, draft.rule_id)
            if open_alert is not None:  # the digest lists it again: "N times, last …"
                await alerts.record_occurrence(tx, open_alert.id, fired=draft.fired, now=now)
                await alerts.record_suppressed(tx, patient_id=patient_id, instance_id=row["id"],  # type: ignore[index]
                                               rule_id=draft.rule_id, fired=draft.fired,
                                               previous_alert_id=open_alert.id, now=now, reason="open")
                continue
        await alerts.insert_alert(
            tx, patient_id=row["patient_id"], instance_id=row["id"], rule_id=draft.rule_id,  # type: ignore[index]
            severity=draft.severity,
            payload={"title": draft.title, "source": draft.source, "fired": draft.fired, "trend": [], **details},
            now=now, send_now=draft.severity != "info",
        )


async def _remind(services: Services, bot: Bot, now: datetime) -> list[int]:
    """Remind open questionnaires at +4 h and the next mornings while their window is open."""
    reminded: list[int] = []
    tz = services.settings.timezone
    async with services.store.read() as tx:
        rows = await tx.fetchall(
            "SELECT i.id, i.patient_id, i.sent_at, i.closes_at, i.reminders_sent, p.preferred_time, l.chat_id"
            " FROM instances i JOIN patients p ON p.id = i.patient_id JOIN telegram_links l ON l.patient_id = p.id"
            " WHERE i.status = 'open' AND p.status = 'active' AND i.sent_at IS NOT NULL"
        )
    for row in rows:
        times = schedule.reminder_times(
            services.schedule, sent_at=instances.parse_utc(row["sent_at"]),
            closes_at=instances.parse_utc(row["closes_at"]), preferred=row["preferred_time"], tz=tz,
        )
        due = [t for t in times if t <= now]
        if len(due) <= row["reminders_sent"]:
            continue
        async with services.store.transaction() as tx:
            current = await instances.get_instance(tx, row["id"])
            if current is None or current.status != "open" or current.reminders_sent >= len(due):
                continue
            await tx.execute(
                "UPDATE instances SET reminders_sent = ?, last_reminder_at = ? WHERE id = ?",
                (len(due), utc_iso(now), row["id"]),
            )
            await audit.record(tx, at=now, actor="system", action="reminder", patient_id=row["patient_id"],
                               entity="instance", entity_id=row["id"], new_value=len(due))
            prompt = await answering.prompt_for(tx, services, current)
            await tx.commit()
        try:
            if prompt is not None:
                await send_prompt(bot, services, row["chat_id"], prompt, replaces_previous=True,
                                  header=_("Reminder: a questionnaire is waiting for your answers."))
        except Forbidden:
            await mark_unreachable(services, row["patient_id"])
            continue
        reminded.append(int(row["id"]))
    return reminded
