"""The clinicians' morning digest: open alerts, missed questionnaires, messages and other information.

Sending it must neither block for good nor repeat itself, because unacknowledged urgent alerts are listed there:
- it is cut on line boundaries by Telegram's own measure (UTF-16 units, `bot.delivery.splitting`), so every chunk is
  accepted;
- the day's chunks are composed once and kept, with how many Telegram has accepted, so a retry after a failure (a
  500 on chunk 2) sends the rest and never posts chunk 1 again;
- a failed attempt waits (2 s, 4 s, … 5 min, the alert outbox's policy; Telegram's retry_after when it gives one)
  instead of being retried at every tick;
- a digest still unfinished when the next day's is due is replaced by it (the new one lists what is still open).
A crash between Telegram's acceptance of a chunk and its recording can repeat that one chunk (at least once).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from bot.clock import parse_utc, utc_iso
from bot.delivery.alert_text import timepoint_label
from bot.delivery.outbox import DeliveryPolicy
from bot.delivery.splitting import split_message
from bot.domain.followup import OUTCOME_REMINDER_DAYS
from bot.i18n import _
from bot.messenger import Messenger, Priority, TryLater, Unreachable, sending_as
from bot.services.call_list import call_list_lines
from bot.services.container import Services
from bot.storage import alerts, leases, patients
from bot.storage.settings import get_setting, put_setting
from bot.storage.store import Tx

log = logging.getLogger(__name__)

DIGEST_TIME = time(8, 30)  # issue #5: "a digest … goes to the group every morning at 08:30" (local time)
_LAST_DIGEST = "last_digest_date"
_PENDING_DIGEST = "pending_digest"
RETRY_POLICY = DeliveryPolicy()
#: How long a replica holds the digest while sending it without renewing (`leases.holding` renews it; given back
#: when done; lost within this if the replica dies, issue 39).
DIGEST_LEASE = leases.LEASE_FOR


@dataclass
class PendingDigest:
    """The day's digest being sent: its chunks, how many Telegram accepted, the info alerts it covers, and when
    to try again after a failure."""

    date: str
    chunks: list[str]
    info_ids: list[int]
    sent: int = 0
    attempts: int = 0
    next_attempt_at: str | None = None
    message_ids: list[int] = field(default_factory=list)

    def due(self, now: datetime) -> bool:
        return self.next_attempt_at is None or parse_utc(self.next_attempt_at) <= now


def _ladder_note(steps: list[alerts.StepRow], tz: tzinfo) -> str:
    """How far up its ladder an urgent alert went (issue 32): the on-call clinicians called, the patient told."""
    reached = {s.step: s.at for s in steps}
    parts = []
    if "on_call" in reached:
        parts.append(
            _("on-call team called {when}").format(when=reached["on_call"].astimezone(tz).strftime("%d/%m %H:%M"))
        )
    if "patient" in reached:
        parts.append(
            _("patient told to call {when}").format(when=reached["patient"].astimezone(tz).strftime("%d/%m %H:%M"))
        )
    return " — ⚠️ " + ", ".join(parts) if parts else ""


def _line(study_id: str, alert: alerts.AlertRow, tz: tzinfo, steps: list[alerts.StepRow] | None = None) -> str:
    when = alert.created_at.astimezone(tz).strftime("%d/%m %H:%M")
    title = str(alert.payload.get("title", ""))
    timepoint = (alert.latest_fired or {}).get("timepoint") or alert.payload.get("timepoint")  # the newest occurrence
    extra = f" ({timepoint_label(str(timepoint))})" if timepoint else ""
    raw_fired = alert.payload.get("fired")
    fired: dict[str, object] = raw_fired if isinstance(raw_fired, dict) else {}
    message = fired.get("message_team") or fired.get("patient_message")
    mark = "🔴 " if alert.severity == "urgent" else ""  # urgent until taken care of, in every digest (issue 32)
    text = f"• {mark}{study_id} — {title}{extra} — {when}"
    if alert.occurrences > 1 and alert.last_occurrence_at is not None:  # the same news again while open (issue 15)
        text += " — " + _("{count} times, last {when}").format(
            count=alert.occurrences, when=alert.last_occurrence_at.astimezone(tz).strftime("%d/%m %H:%M")
        )
    if alert.severity == "urgent" and alert.acknowledged_at is None:
        text += _ladder_note(steps or [], tz)
    if message:
        text += "\n  « " + str(message)[:300] + " »"
    return text


#: Findings folded as the same news (issue 33) are listed in the digest for this long back: the day since the last.
FOLDED_LOOK_BACK = timedelta(days=1)


def folded_lines(services: Services, folded: list[alerts.SuppressedRow], names: dict[int, str]) -> list[str]:
    """The heading and one line per patient and finding folded as the same news: how often, and when last."""
    tz = services.settings.timezone
    grouped: dict[tuple[int, str], list[alerts.SuppressedRow]] = {}
    for row in folded:
        grouped.setdefault((row.patient_id, row.rule_id), []).append(row)
    lines = [_("Already known, still reported (no new alert): {count}").format(count=len(grouped))]
    for (patient_id, rule_id), rows in grouped.items():
        title = services.rules.get(rule_id).title if rule_id in services.rules.ids else rule_id
        reason = _("known since inclusion") if rows[-1].reason == "inclusion" else _("team already alerted")
        lines.append(
            "• "
            + _("{study_id} — {title} — {count} time(s), last {when} ({reason})").format(
                study_id=names.get(patient_id, "?"),
                title=title,
                count=len(rows),
                when=rows[-1].created_at.astimezone(tz).strftime("%d/%m %H:%M"),
                reason=reason,
            )
        )
    return lines


async def _steps_by_alert(tx: Tx, rows: list[alerts.AlertRow]) -> dict[int, list[alerts.StepRow]]:
    return {a.id: await alerts.steps_of(tx, a.id) for a in rows if a.severity == "urgent"}


async def open_alert_lines(services: Services) -> list[str]:
    """Alerts that still need someone (urgent and same-day not taken care of)."""
    tz = services.settings.timezone
    async with services.store.read() as tx:
        rows = [a for a in await alerts.open_alerts(tx) if a.severity != "info"]
        names = {p.id: p.study_id for p in await patients.list_patients(tx)}
        steps = await _steps_by_alert(tx, rows)
    return [_line(names[a.patient_id], a, tz, steps.get(a.id)) for a in rows]


async def send_digest_if_due(services: Services, messenger: Messenger) -> bool:
    """Once a day from 08:30 local: send the digest (if the group is known) and mark the info alerts digested.

    True when the digest was completed by this call. A scheduled post: it waits behind alerts in the group."""
    async with services.digest_lock:
        with sending_as(Priority.BULK):
            return await _send_digest_if_due(services, messenger)


async def _load_pending(tx: Tx) -> PendingDigest | None:
    raw = await get_setting(tx, _PENDING_DIGEST)
    if not raw:
        return None
    try:
        return PendingDigest(**json.loads(raw))
    except (ValueError, TypeError):
        log.error("a pending digest could not be read; composing it again")
        return None


async def _save_pending(services: Services, pending: PendingDigest) -> None:
    async with services.store.transaction() as tx:
        await put_setting(tx, _PENDING_DIGEST, json.dumps(asdict(pending), ensure_ascii=False))
        await tx.commit()


async def _compose(services: Services, today: str, local: datetime) -> PendingDigest:
    tz = services.settings.timezone
    async with services.store.read() as tx:
        open_rows = await alerts.open_alerts(tx)
        names = {p.id: p.study_id for p in await patients.list_patients(tx)}
        info_ids = set(await alerts.undigested_info_ids(tx))
        reminders = await alerts.outcome_reminders(
            tx, acknowledged_before=services.clock.now() - timedelta(days=OUTCOME_REMINDER_DAYS)
        )
        steps = await _steps_by_alert(tx, open_rows)
        folded = await alerts.folded_since(tx, services.clock.now() - FOLDED_LOOK_BACK)
    urgent = sorted((a for a in open_rows if a.severity != "info"), key=lambda a: (a.severity != "urgent", a.id))
    information = [a for a in open_rows if a.id in info_ids]
    lines = [_("Morning digest — {date}").format(date=local.strftime("%d/%m/%Y"))]
    lines.append(_("Alerts not yet taken care of: {count}").format(count=len(urgent)))
    lines += [_line(names[a.patient_id], a, tz, steps.get(a.id)) for a in urgent]
    lines.append(_("Information since the last digest: {count}").format(count=len(information)))
    lines += [_line(names[a.patient_id], a, tz) for a in information]
    if folded:  # the same news as an earlier alert (issue 33): not raised again, but the team sees it goes on
        lines += folded_lines(services, folded, names)
    if reminders:  # the closed loop (issue 15): what did the alert turn out to be?
        lines.append(
            _("Outcome to record, under the alert message (taken care of more than {days} days ago): {count}").format(
                days=OUTCOME_REMINDER_DAYS, count=len(reminders)
            )
        )
        lines += [_line(names[a.patient_id], a, tz) for a in reminders]
    lines += await call_list_lines(services)  # the day-30 call list (issue 16)
    return PendingDigest(date=today, chunks=split_message("\n".join(lines)), info_ids=sorted(info_ids))


async def _send_digest_if_due(services: Services, messenger: Messenger) -> bool:
    chat_id = services.clinician_chat_id
    now = services.clock.now()
    local = now.astimezone(services.settings.timezone)
    if chat_id is None or local.time() < DIGEST_TIME:
        return False
    today = local.date().isoformat()
    async with services.store.read() as tx:
        last = await get_setting(tx, _LAST_DIGEST)
    if last is not None and last >= today:
        return False
    # One replica sends the day's digest (migration 0010), under a lease renewed while it sends (issue 39).
    async with leases.holding(services.store, services.clock, "digest", holder=services.replica_id) as held:
        if held is None:
            return False
        return await _send_if_still_due(services, messenger, chat_id, now, local, today, held)


async def _send_if_still_due(
    services: Services,
    messenger: Messenger,
    chat_id: int,
    now: datetime,
    local: datetime,
    today: str,
    held: leases.Held,
) -> bool:
    async with services.store.read() as tx:  # read again under the lease: another replica may have just sent it
        last = await get_setting(tx, _LAST_DIGEST)
        pending = await _load_pending(tx)
    if last is not None and last >= today:
        return False
    if pending is None or pending.date != today:
        if pending is not None:
            log.warning("the digest of %s was not completed; today's replaces it", pending.date)
        pending = await _compose(services, today, local)
        await _save_pending(services, pending)
    if not pending.due(now):
        return False
    while pending.sent < len(pending.chunks):
        if held.lost:  # another replica holds the digest now and sends the chunks left (they are recorded)
            return False
        try:
            message_id = await messenger.send_text(chat_id, pending.chunks[pending.sent], protect=True)
        except (TryLater, Unreachable) as exc:  # chunks already accepted stay recorded: the retry sends the rest only
            wait = RETRY_POLICY.backoff(pending.attempts)
            if isinstance(exc, TryLater) and exc.seconds is not None:
                wait = timedelta(seconds=exc.seconds)
            pending.attempts += 1
            pending.next_attempt_at = utc_iso(services.clock.now() + wait)
            await _save_pending(services, pending)
            log.warning(
                "digest chunk %s/%s not sent yet (%s); next try in %s",
                pending.sent + 1,
                len(pending.chunks),
                exc.reason or type(exc).__name__,
                wait,
            )
            return False
        pending.sent += 1
        pending.attempts = 0
        pending.next_attempt_at = None
        pending.message_ids.append(message_id)
        await _save_pending(services, pending)
    async with services.store.transaction() as tx:
        await alerts.mark_digested(tx, pending.info_ids, now)
        await put_setting(tx, _LAST_DIGEST, today)
        await put_setting(tx, _PENDING_DIGEST, "")
        await tx.commit()
    return True
