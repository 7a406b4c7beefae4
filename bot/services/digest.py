"""The clinicians' morning digest: open alerts, missed questionnaires, messages and other information."""

from __future__ import annotations

from datetime import time

import logging

from telegram import Bot
from telegram.error import TelegramError

from bot.clock import utc_iso
from bot.delivery.alert_text import timepoint_label
from bot.i18n import _
from bot.services.container import Services
from bot.storage import alerts, patients
from bot.storage.settings import get_setting, put_setting

log = logging.getLogger(__name__)

DIGEST_TIME = time(8, 30)  # issue #5: "a digest … goes to the group every morning at 08:30" (local time)
_LAST_DIGEST = "last_digest_date"


def _line(study_id: str, alert: alerts.AlertRow, tz: object) -> str:
    when = alert.created_at.astimezone(tz).strftime("%d/%m %H:%M")  # type: ignore[arg-type]
    title = str(alert.payload.get("title", ""))
    timepoint = alert.payload.get("timepoint")
    extra = f" ({timepoint_label(str(timepoint))})" if timepoint else ""
    fired = alert.payload.get("fired") if isinstance(alert.payload.get("fired"), dict) else {}
    message = fired.get("message_team") or fired.get("patient_message")  # type: ignore[union-attr]
    text = f"• {study_id} — {title}{extra} — {when}"
    if message:
        text += "\n  « " + str(message)[:300] + " »"
    return text


async def open_alert_lines(services: Services) -> list[str]:
    """Alerts that still need someone (urgent and same-day not taken care of)."""
    tz = services.settings.timezone
    async with services.store.read() as tx:
        rows = [a for a in await alerts.open_alerts(tx) if a.severity != "info"]
        names = {p.id: p.study_id for p in await patients.list_patients(tx)}
    return [_line(names[a.patient_id], a, tz) for a in rows]


async def send_digest_if_due(services: Services, bot: Bot) -> bool:
    """Once a day from 08:30 local: send the digest (if the group is known) and mark the info alerts digested."""
    async with services.digest_lock:
        return await _send_digest_if_due(services, bot)


async def _send_digest_if_due(services: Services, bot: Bot) -> bool:
    chat_id = services.clinician_chat_id
    now = services.clock.now()
    tz = services.settings.timezone
    local = now.astimezone(tz)
    if chat_id is None or local.time() < DIGEST_TIME:
        return False
    today = local.date().isoformat()
    async with services.store.read() as tx:
        last = await get_setting(tx, _LAST_DIGEST)
        if last is not None and last >= today:
            return False
        open_rows = await alerts.open_alerts(tx)
        names = {p.id: p.study_id for p in await patients.list_patients(tx)}
        info = await tx.fetchall("SELECT id FROM alerts WHERE severity = 'info' AND digested_at IS NULL")
    info_ids = {r["id"] for r in info}
    urgent = [a for a in open_rows if a.severity != "info"]
    information = [a for a in open_rows if a.id in info_ids]
    lines = [_("Morning digest — {date}").format(date=local.strftime("%d/%m/%Y"))]
    lines.append(_("Alerts not yet taken care of: {count}").format(count=len(urgent)))
    lines += [_line(names[a.patient_id], a, tz) for a in urgent]
    lines.append(_("Information since the last digest: {count}").format(count=len(information)))
    lines += [_line(names[a.patient_id], a, tz) for a in information]
    from bot.services.call_list import call_list_lines  # the day-30 call list (issue 16)

    lines += await call_list_lines(services)
    text = "\n".join(lines)
    try:
        for start in range(0, len(text), 4000):
            await bot.send_message(chat_id, text[start:start + 4000], protect_content=True)
    except TelegramError as exc:  # not recorded as sent: the next tick tries again
        log.warning("digest not sent yet: %s", type(exc).__name__)
        return False
    async with services.store.transaction() as tx:
        for alert_id in info_ids:
            await tx.execute("UPDATE alerts SET digested_at = ? WHERE id = ?", (utc_iso(now), alert_id))
        await put_setting(tx, _LAST_DIGEST, today)
        await tx.commit()
    return True


