"""Delivering the alert outbox to the clinicians' group: retries, back-off, 429, re-alerts, acknowledgement.

The loop itself is `bot.delivery.outbox.drain` (shared with the patient's advice). An alert is marked delivered only
after Telegram accepted it (at least once: a crash in between can repeat it after a restart — for a red flag a
repeat is acceptable, a loss is not). In normal running it is sent once, then re-posted when an urgent alert stays
unacknowledged, one rung of its ladder at a time (`bot.domain.ladder`: numbered reminders, then the site's
on-call clinicians named, then the patient told; the site's timings), and it stays urgent in every digest.

The group posts (`bot.storage.group_posts`: a patient's held words, red-flag follow-ups, media copies) go through the
same loop right after the alerts, with the same retries: a copyMessage that fails is tried again, not lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.clock import parse_utc
from bot.delivery.alert_text import UNACKNOWLEDGED, acknowledged_suffix, alert_text, on_call_header, patient_told_header
from bot.delivery.outbox import DeliveryPolicy, Outbox, drain
from bot.delivery.post_text import copy_refused_text, post_text
from bot.domain import ladder
from bot.domain.models import Patient
from bot.domain.rules import evaluate_event
from bot.domain.sites import Escalation
from bot.i18n import _
from bot.messenger import Mention, Messenger, Priority, TryLater, Unreachable, sending_as
from bot.services.container import Services
from bot.services.status_labels import site_label
from bot.storage import alerts, audit, group_posts, notices, patients
from bot.storage.store import Tx

__all__ = [
    "UNACKNOWLEDGED",
    "DeliveryPolicy",
    "acknowledged_copy_text",
    "deliver_due",
    "taken_here",
    "tidy_acknowledged_copies",
]

log = logging.getLogger(__name__)


async def deliver_due(services: Services, messenger: Messenger, policy: DeliveryPolicy = DeliveryPolicy()) -> int:
    """Send every alert whose attempt is due (first post, retry, rung of the ladder); return how many Telegram
    accepted. Then update the copies of alerts taken care of since (`tidy_acknowledged_copies`)."""
    chat_id = services.clinician_chat_id
    if chat_id is None:
        return 0

    async def send(alert: alerts.AlertRow) -> int:
        async with services.store.read() as tx:
            patient = await patients.get_patient(tx, alert.patient_id)
        assert patient is not None
        escalation = _escalation(services, patient.site_code)
        posts = alert.sends if alert.delivered_at is not None else 0
        step = ladder.rung(alert.severity, posts, escalation) or "reminder"
        text = _render(services, alert, patient, resend=posts if step == "reminder" else 0)
        mentions: list[Mention] = []
        if step == "on_call":
            header, mentions = on_call_header(
                _on_call_title(services, alert), escalation.on_call_clinicians, _waited_minutes(services, alert)
            )
            text = header + "\n\n" + text
        elif step == "patient":
            text = patient_told_header() + "\n\n" + text
        return await messenger.send_text(chat_id, text, protect=True, acknowledge_alert=alert.id, mentions=mentions)

    async def sent(alert: alerts.AlertRow, message_id: int) -> None:
        await _sent(services, alert, message_id)

    async def failed(alert: alerts.AlertRow, next_attempt_at: datetime) -> None:
        async with services.store.transaction() as tx:
            await alerts.record_attempt_failed(tx, alert.id, next_attempt_at)
            await tx.commit()

    async def claim(tx: Tx, now: datetime, replica: str, until: datetime) -> list[alerts.AlertRow]:
        return await alerts.claim_due_for_delivery(tx, now, holder=replica, until=until)

    outbox = Outbox[alerts.AlertRow](
        name="alert",
        due=alerts.due_for_delivery,
        claim=claim,
        send=send,
        sent=sent,
        failed=failed,
        severity=lambda alert: alert.severity,
    )
    with sending_as(Priority.URGENT):  # alerts go first in the group's queue, never behind bulk (bot.messenger)
        accepted = await drain(
            services.store, services.clock, outbox, policy, services.delivery_lock, replica=services.replica_id
        )
        # Then the patient's words and media that ride under those alerts (a copy waits for what it replies to).
        accepted += await deliver_posts(services, messenger, chat_id, policy)
    await tidy_acknowledged_copies(services, messenger)
    return accepted


def _escalation(services: Services, site_code: str) -> Escalation:
    site = services.sites.get(site_code)
    return site.escalation if site is not None else Escalation()


def _local(services: Services, moment: datetime) -> str:
    return moment.astimezone(services.settings.timezone).strftime("%d/%m/%Y %H:%M")


def _render(services: Services, alert: alerts.AlertRow, patient: Patient, *, resend: int = 0) -> str:
    """The alert's text; a "call the patient back" alert shows the patient's last contact instead of its own time."""
    raw_contact = alert.payload.get("last_contact")
    last = _local(services, parse_utc(str(raw_contact))) if raw_contact else None
    return alert_text(
        alert,
        study_id=patient.study_id,
        site=site_label(services.sites, patient.site_code),
        resend=resend,
        local_time=_local(services, alert.created_at),
        last_contact=last,
    )


def _on_call_title(services: Services, alert: alerts.AlertRow) -> str:
    """Step 1's title: the `urgent_unacknowledged` rule's (questionnaires/rules.yaml), else a built-in one."""
    drafts = evaluate_event(services.rules, "urgent_unacknowledged", details={"alert": alert.id})
    return drafts[0].title if drafts else _("Urgent alert still not taken care of: the on-call team is called")


def _waited_minutes(services: Services, alert: alerts.AlertRow) -> int:
    return max(0, int((services.clock.now() - alert.created_at) / timedelta(minutes=1)))


async def _sent(services: Services, alert: alerts.AlertRow, message_id: int) -> None:
    """Telegram took the post: record it as the rung it was, plan the next rung, and at step 2 owe the patient
    the "nobody has seen it yet" message (same transaction: a restart resumes the ladder where it was)."""
    now = services.clock.now()
    posts = alert.sends if alert.delivered_at is not None else 0
    async with services.store.read() as tx:
        patient = await patients.get_patient(tx, alert.patient_id)
    escalation = _escalation(services, patient.site_code if patient else "")
    step = ladder.rung(alert.severity, posts, escalation) or "reminder"
    wait = ladder.wait_before_next(alert.severity, posts + 1, escalation)
    next_at = now + wait if wait is not None else None
    async with services.store.transaction() as tx:
        await alerts.record_sent(tx, alert.id, message_id=message_id, now=now, next_attempt_at=next_at)
        await alerts.record_step(tx, alert.id, step, now=now, message_id=message_id)
        await audit.record(
            tx,
            at=now,
            actor="system",
            action="alert_sent",
            patient_id=alert.patient_id,
            entity="alert",
            entity_id=alert.id,
            new_value=posts + 1,
        )
        if step in ("on_call", "patient"):
            await audit.record(
                tx,
                at=now,
                actor="system",
                action=f"alert_ladder_{step}",
                patient_id=alert.patient_id,
                entity="alert",
                entity_id=alert.id,
            )
        if step == "patient":
            await notices.insert_notice(
                tx,
                patient_id=alert.patient_id,
                instance_id=alert.instance_id,
                kind="urgent",
                now=now,
                expires_at=now + notices.NOTICE_VALID_FOR,
                advice=UNACKNOWLEDGED,
            )
        await tx.commit()


# ----------------------------------------------------------------------------------------------------------------
# One story: once taken care of, every copy says who took it and loses its button (issue 32 item 7)
# ----------------------------------------------------------------------------------------------------------------

#: A copy of an alert whose taker's name is not recorded yet (the handler records it right after the
#: acknowledgement) is updated anyway after this long, naming "a member of the team".
NAME_GRACE = timedelta(minutes=1)
#: Copies edited per pass: an alert has at most 1 + reminders + 2 copies, and edits count in the group's 20 a
#: minute (`bot.telegram.pacing`).
TIDY_PER_PASS = 6


async def acknowledged_copy_text(services: Services, alert_id: int) -> str | None:
    """The text every copy of an acknowledged alert shows: the alert itself (no "REMINDER", no on-call call) and
    who took it, when. None for an alert not taken care of (or unknown)."""
    async with services.store.read() as tx:
        alert = await alerts.get_alert(tx, alert_id)
        patient = await patients.get_patient(tx, alert.patient_id) if alert else None
    if alert is None or patient is None or alert.acknowledged_at is None:
        return None
    name = alert.acknowledged_name or _("a member of the team")
    return _render(services, alert, patient) + acknowledged_suffix(name, _local(services, alert.acknowledged_at))


async def taken_here(services: Services, alert_id: int, *, message_id: int | None, name: str) -> str | None:
    """The clinician who pressed "Pris en charge" under `message_id`: keep their name for the other copies, mark
    that copy done (its handler edits it, with the follow-up buttons); the text it shows."""
    async with services.store.transaction() as tx:
        await alerts.set_acknowledged_name(tx, alert_id, name)
        if message_id is not None:
            await alerts.mark_copy_tidied(tx, alert_id, message_id, now=services.clock.now())
        await tx.commit()
    return await acknowledged_copy_text(services, alert_id)


async def tidy_acknowledged_copies(services: Services, messenger: Messenger) -> int:
    """Edit the copies of alerts taken care of that still show "not yet taken care of" and the button; how many.

    Durable: each copy is marked once Telegram took the edit; a failure leaves the rest for the next pass. A copy
    Telegram refuses to edit (deleted, or already showing that text) is marked too: nothing more can be done."""
    chat_id = services.clinician_chat_id
    if chat_id is None:
        return 0
    async with services.store.read() as tx:
        copies = await alerts.copies_to_tidy(tx, named_or_before=services.clock.now() - NAME_GRACE, limit=TIDY_PER_PASS)
    texts: dict[int, str | None] = {}
    done = 0
    with sending_as(Priority.BULK):  # after the alerts in the group's queue, never before them
        for copy in copies:
            if copy.alert_id not in texts:
                texts[copy.alert_id] = await acknowledged_copy_text(services, copy.alert_id)
            text = texts[copy.alert_id]
            if text is None or copy.message_id is None:
                continue
            try:
                await messenger.edit(chat_id, copy.message_id, text=text)
            except TryLater as exc:
                if not exc.refused:
                    log.info(
                        "alert %s: copy %s not updated yet (%s)",
                        copy.alert_id,
                        copy.message_id,
                        exc.reason or type(exc).__name__,
                    )
                    break
            except Unreachable:
                break
            async with services.store.transaction() as tx:
                await alerts.mark_step_tidied(tx, copy.id, services.clock.now())
                await tx.commit()
            done += 1
    return done


#: A copy Telegram refuses (400: the patient deleted the message) this many times is given up, and the group told.
COPY_REFUSALS = 5


async def deliver_posts(services: Services, messenger: Messenger, chat_id: int, policy: DeliveryPolicy) -> int:
    """Send the due group posts (`bot.storage.group_posts`): held words, red-flag follow-ups, media copies; with the
    alerts' retries and back-off, so that one HTTP 500 never loses a voice note."""

    async def send(post: group_posts.PostRow) -> int:
        async with services.store.read() as tx:
            patient = await patients.get_patient(tx, post.patient_id)
            carried = await group_posts.carried_messages(tx, post)
            alert = await alerts.get_alert(tx, post.alert_id) if post.alert_id is not None else None
        assert patient is not None
        if post.kind != "copy":
            text = post_text(
                post,
                carried,
                study_id=patient.study_id,
                site=site_label(services.sites, patient.site_code),
                alert=alert,
                timezone=services.settings.timezone,
            )
            return await messenger.send_text(chat_id, text, protect=True)
        if not carried:
            return 0
        media = carried[0]
        try:
            await messenger.copy(
                chat_id, from_chat_id=media.chat_id, message_id=media.message_id, reply_to=post.reply_to
            )
        except TryLater as exc:
            if not exc.refused or post.attempts + 1 < COPY_REFUSALS:
                raise
            return await messenger.send_text(chat_id, copy_refused_text(media.kind, patient.study_id), protect=True)
        return 0

    async def sent(post: group_posts.PostRow, message_id: int) -> None:
        async with services.store.transaction() as tx:
            await group_posts.record_sent(tx, post.id, message_id=message_id or None, now=services.clock.now())
            await tx.commit()

    async def failed(post: group_posts.PostRow, next_attempt_at: datetime) -> None:
        async with services.store.transaction() as tx:
            await group_posts.record_attempt_failed(tx, post.id, next_attempt_at)
            await tx.commit()

    async def claim(tx: Tx, now: datetime, replica: str, until: datetime) -> list[group_posts.PostRow]:
        return await group_posts.claim_due_posts(tx, now, holder=replica, until=until)

    outbox = Outbox[group_posts.PostRow](
        name="group post",
        due=group_posts.due_posts,
        claim=claim,
        send=send,
        sent=sent,
        failed=failed,
        severity=lambda post: post.severity,
    )
    return await drain(
        services.store, services.clock, outbox, policy, services.delivery_lock, replica=services.replica_id
    )
