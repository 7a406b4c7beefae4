"""What is due now, derived from the database and the clock: send, remind, close windows.

`tick()` is called every few seconds by PTB's JobQueue in production, and directly by tests and the sandbox after
moving the virtual clock. It never relies on in-memory state, so a restart (or `kill -9`) loses nothing.

Send order (issue #4), chosen for "never sent twice", and since issue 39 for "never open without a message":
1. commit the instance as `sending`, claimed by this replica (the intent, with its audit entry);
2. send the first question to Telegram, and record its message id as soon as Telegram answers;
3. commit it as `open`.
A replica that died between 1 and 3 leaves a `sending` row. If its message id was recorded, the question reached
Telegram: the row becomes `open`, never sent again. If not, the send never happened (or Telegram's answer was lost
with the replica, a window of milliseconds): the row goes back to `planned` and the next tick sends it, once. Any
replica does this for a claim older than SEND_CLAIM (`_recover_stale_sends`: a replica that died and stays dead);
a replica restarting opens its own claims without resending (`recover`, see why there).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import schedule
from bot.domain.rules import evaluate_event
from bot.i18n import _
from bot.messenger import Messenger, Priority, Unreachable, sending_as
from bot.scheduling import spread
from bot.services import answering, clinical_context
from bot.services.container import Services
from bot.services.prompting import send_prompt
from bot.storage import alerts, audit, due, instances, leases, notices, patients
from bot.storage.store import Tx

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    sent: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


#: The tick's lease (`leases.holding`): held for `leases.LEASE_FOR` and renewed while the tick runs, so a replica
#: killed mid-tick loses it within a minute. Two ticks at once would still send nothing twice (each patient's send
#: is its own claim), but would together exceed Telegram's ≈ 30 bulk messages/s, which is per bot: a holder that
#: lost the lease stops starting sends.
TICK_LEASE = leases.LEASE_FOR


async def recover(services: Services) -> int:
    """After a crash: what this replica's previous run had claimed is free again — its outbox rows, its leases —
    and its questionnaires caught between "claimed" and "sent recorded" become open WITHOUT sending again (issue #4,
    at most once). Not re-queued as a takeover does (`_recover_stale_sends`): a restart comes seconds after the
    kill, and the updates it replays may hold the patient's tap on that very message, sent a moment before the kill
    and not yet recorded (`tests/test_inbox_crash.py`); re-queued, that tap would be refused and the questionnaire
    sent twice. The question is shown again by the reminders, `/reprendre` or any message from the patient."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        await alerts.release_claims_of(tx, services.replica_id)
        await notices.release_claims_of(tx, services.replica_id)
        await leases.release_all_of(tx, services.replica_id, now)
        caught = await due.caught_mid_send(tx, holder=services.replica_id)
        await _settle_caught(tx, [due.CaughtSend(c.id, c.patient_id, sent=True) for c in caught], now)
        await tx.commit()
    return len(caught)


#: A claim to send a questionnaire (`sending`) older than this was cut short by a replica that died: another
#: replica settles it (issue 39; it was 5 minutes). A send takes milliseconds; the longest a live replica waits
#: before Telegram answers is its bulk pacing (a few seconds with `DISPATCH_LANES` sends queued) or a flood-control
#: retry_after (tens of seconds at worst): two minutes stays well above that and costs one tick's lateness.
SEND_CLAIM = timedelta(minutes=2)


async def _settle_caught(tx: Tx, caught: list[due.CaughtSend], now: datetime) -> None:
    """Sent (message id recorded) → `open`, no resend; not sent → back to `planned`, the next tick sends it."""
    for item in caught:
        if item.sent:
            await instances.set_status(tx, item.id, "open", now)
            action = "send_recovered"
        else:
            await due.requeue_unsent(tx, item.id)
            action = "send_requeued"
        await audit.record(
            tx, at=now, actor="system", action=action, patient_id=item.patient_id, entity="instance", entity_id=item.id
        )


async def _recover_stale_sends(services: Services, now: datetime) -> None:
    async with services.store.read() as tx:  # almost always nothing: no write transaction for that
        stale = await due.caught_mid_send(tx, intent_before=now - SEND_CLAIM)
    if not stale:
        return
    async with services.store.transaction() as tx:
        await _settle_caught(tx, await due.caught_mid_send(tx, intent_before=now - SEND_CLAIM), now)
        await tx.commit()


async def tick(services: Services, messenger: Messenger) -> TickReport:
    """One pass: close expired windows, give the day-30 notice, send what is due, remind what waits."""
    report = TickReport()
    async with leases.holding(services.store, services.clock, "tick", holder=services.replica_id) as held:
        if held is None:
            return report  # another replica is ticking
        return await _tick(services, messenger, report, services.clock.now(), held)


async def _tick(
    services: Services, messenger: Messenger, report: TickReport, now: datetime, held: leases.Held
) -> TickReport:
    await _recover_stale_sends(services, now)
    report.missed = await _close_windows(services, now)
    report.notices = await _primary_notices(services, now)
    if schedule.is_quiet(now, services.schedule, services.settings.timezone):
        return report
    async with services.store.read() as tx:
        candidates = await due.due_patients(tx, now)
    window = timedelta(minutes=services.settings.bot_fanout_spread_minutes)
    ready = spread.due_now(candidates, now, window)
    with sending_as(Priority.BULK):  # scheduled sends: ≈ 30/s overall, behind replies and alerts (bot.messenger)
        report.sent = await _dispatch_all(services, messenger, ready, held)
        report.reminded = await _remind(services, messenger, now, held)
    return report


# How many patients are dispatched at once. With one, the three commits between two sends leave the pacing's next
# slot unused for a few milliseconds each time (94 % of Telegram's 30/s for 10,000 due questionnaires,
# benchmarks/README.md); with a few, a send is always waiting for the next slot. Each dispatch is still one patient's
# own sequence (intent → send → open), so the crash guarantees above hold per patient.
DISPATCH_LANES = 3


async def _dispatch_all(
    services: Services, messenger: Messenger, patient_ids: list[int], held: leases.Held
) -> list[int]:
    """Dispatch the due patients, a few at a time; stop taking new ones after the first failure, then raise it,
    or once the tick's lease is lost (the replica that took it over sends the rest).

    Stopping matters: if Telegram is down, carrying on would mark every due questionnaire as sent while none
    arrived. The next tick retries the patients not reached.
    """
    pending = iter(patient_ids)
    sent: list[int] = []
    failures: list[BaseException] = []

    async def lane() -> None:
        for patient_id in pending:  # the lanes share one iterator: each patient is taken once
            if failures or held.lost:
                return
            try:
                instance_id = await dispatch_patient(services, messenger, patient_id)
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
        return await due.next_planned(tx, patient_id, horizon=horizon, now=now)


async def dispatch_patient(
    services: Services, messenger: Messenger, patient_id: int, *, present: bool = False, preface: str | None = None
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
        next_id = await due.next_planned(tx, patient_id, horizon=horizon, now=now)
        if next_id is None:
            return None
        instance_id = next_id
        await due.record_send_intent(tx, instance_id, now, holder=services.replica_id)
        planned = await instances.get_instance(tx, instance_id)
        if planned is not None and planned.questionnaire_id in services.questionnaires:
            await instances.stamp_sent(tx, instance_id, services.questionnaires[planned.questionnaire_id], now)
        await audit.record(
            tx,
            at=now,
            actor="system",
            action="send_intent",
            patient_id=patient_id,
            entity="instance",
            entity_id=instance_id,
        )
        await tx.commit()
    async with services.store.read() as tx:
        instance = await instances.get_instance(tx, instance_id)
        assert instance is not None
        prompt = await answering.prompt_for(tx, services, instance)
        # Read the patient's history now, into the cache, rather than in their first answer's write transaction
        # (issue #18: all the first answers of a fan-out come together, each holding the write lock meanwhile).
        await clinical_context.prior_history(tx, services, instance)
    questionnaire = services.questionnaires[instance.questionnaire_id]
    try:
        header = _("New questionnaire: {title}").format(title=questionnaire.title)
        if questionnaire.intro:
            header += "\n" + questionnaire.intro
        if preface:
            header = f"{preface}\n\n{header}"
        if prompt is not None:
            await send_prompt(messenger, services, link.chat_id, prompt, header=header)
        else:
            await messenger.send_text(link.chat_id, header)
    except Unreachable:
        await mark_unreachable(services, patient_id)
        return None
    finally:
        async with services.store.transaction() as tx:  # step 3, whatever happened; another replica's claim is
            current = await instances.get_instance(tx, instance_id)  # not ours to settle (ours had lapsed)
            if (
                current is not None
                and current.status == "sending"
                and await due.claimed_by(tx, instance_id) == services.replica_id
            ):
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
        if not await due.any_expired(tx, now):
            return closed
    async with services.store.transaction() as tx:
        for item in await due.expired(tx, now):
            await instances.set_status(tx, item.id, "missed", now)
            await audit.record(
                tx,
                at=now,
                actor="system",
                action="missed",
                patient_id=item.patient_id,
                entity="instance",
                entity_id=item.id,
            )
            if item.patient_status in ("active", "paused", "unreachable"):
                await _event_alert(
                    tx, services, "missed", item.id, item.patient_id, item.questionnaire_id, item.timepoint, now
                )
            closed.append(item.id)
        await tx.commit()
    return closed


async def _primary_notices(services: Services, now: datetime) -> list[int]:
    """The day-30 questionnaire still unanswered one day before its window closes: tell the clinicians."""
    noticed: list[int] = []
    tz = services.settings.timezone
    async with services.store.transaction() as tx:
        for instance in await due.primary_without_notice(tx):
            planned = schedule.PlannedInstance(
                instance.questionnaire_id,
                instance.timepoint,
                instance.study_day,
                instance.opens_at,
                instance.closes_at,
                True,
            )
            at = schedule.primary_notice_time(services.schedule, planned, tz)
            if at is None or now < at:
                continue
            await due.record_primary_notice(tx, instance.id, now)
            await _event_alert(
                tx,
                services,
                "missed_primary_soon",
                instance.id,
                instance.patient_id,
                instance.questionnaire_id,
                instance.timepoint,
                now,
            )
            noticed.append(instance.id)
        await tx.commit()
    return noticed


async def _event_alert(
    tx: Tx,
    services: Services,
    event: str,
    instance_id: int,
    patient_id: int,
    questionnaire_id: str,
    timepoint: str,
    now: datetime,
) -> None:
    details = {"questionnaire": questionnaire_id, "timepoint": timepoint}
    for draft in evaluate_event(services.rules, event, details=details):
        if event == "missed" and not services.legacy_alerting:  # one open alert per rule and patient (issue 15)
            open_alert = await alerts.open_alert_of_rule(tx, patient_id, draft.rule_id)
            if open_alert is not None:  # the digest lists it again: "N times, last …"
                await alerts.record_occurrence(tx, open_alert.id, fired=draft.fired, now=now)
                await alerts.record_suppressed(
                    tx,
                    patient_id=patient_id,
                    instance_id=instance_id,
                    rule_id=draft.rule_id,
                    fired=draft.fired,
                    previous_alert_id=open_alert.id,
                    now=now,
                    reason="open",
                )
                continue
        await alerts.insert_alert(
            tx,
            patient_id=patient_id,
            instance_id=instance_id,
            rule_id=draft.rule_id,
            severity=draft.severity,
            payload={"title": draft.title, "source": draft.source, "fired": draft.fired, "trend": [], **details},
            now=now,
            send_now=draft.severity != "info",
        )


async def _remind(services: Services, messenger: Messenger, now: datetime, held: leases.Held) -> list[int]:
    """Remind open questionnaires at +4 h and the next mornings while their window is open (while the tick's lease
    is held: once lost, the replica holding it now reminds the rest)."""
    reminded: list[int] = []
    tz = services.settings.timezone
    async with services.store.read() as tx:
        candidates = await due.reminder_candidates(tx)
    for row in candidates:
        if held.lost:
            break
        times = schedule.reminder_times(
            services.schedule,
            sent_at=row.sent_at,
            closes_at=row.closes_at,
            preferred=row.preferred_time,
            tz=tz,
        )
        owed = sum(1 for t in times if t <= now)
        if owed <= row.reminders_sent:
            continue
        async with services.store.transaction() as tx:
            current = await instances.get_instance(tx, row.id)
            if current is None or current.status != "open" or current.reminders_sent >= owed:
                continue
            await due.record_reminders(tx, row.id, owed, now)
            await audit.record(
                tx,
                at=now,
                actor="system",
                action="reminder",
                patient_id=row.patient_id,
                entity="instance",
                entity_id=row.id,
                new_value=owed,
            )
            prompt = await answering.prompt_for(tx, services, current)
            await tx.commit()
        try:
            if prompt is not None:
                await send_prompt(
                    messenger,
                    services,
                    row.chat_id,
                    prompt,
                    replaces_previous=True,
                    header=_("Reminder: a questionnaire is waiting for your answers."),
                )
        except Unreachable:
            await mark_unreachable(services, row.patient_id)
            continue
        reminded.append(row.id)
    return reminded
