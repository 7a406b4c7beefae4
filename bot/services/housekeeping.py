"""Daily housekeeping: keep the tables that only guard against replays from growing forever.

`processed_updates` remembers every Telegram update id handled, so that an update redelivered after a restart is
processed once (`bot.telegram.inbox.InboxProcessor`). Telegram keeps an unconfirmed update for at most 24 hours (Bot API,
getUpdates), so a row older than that can never be needed again; we keep a week as a wide margin. Without this the
table gains a row per button press for the whole trial (3.4 million rows in the 90-day benchmark database).
Answers, audit and alerts are never pruned: they are the trial's record.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.services.container import Services
from bot.storage.inbox import forget_processed_before
from bot.storage.settings import get_setting, put_setting

log = logging.getLogger(__name__)

UPDATE_IDS_KEPT_FOR = timedelta(days=7)
_LAST_PRUNE = "last_housekeeping_date"


async def prune_if_due(services: Services) -> int:
    """Once per local day: forget processed update ids older than `UPDATE_IDS_KEPT_FOR`; return how many."""
    now = services.clock.now()
    today = now.astimezone(services.settings.timezone).date().isoformat()
    async with services.store.read() as tx:
        last = await get_setting(tx, _LAST_PRUNE)
    if last is not None and last >= today:
        return 0
    async with services.store.transaction() as tx:
        pruned = await forget_processed_before(tx, now - UPDATE_IDS_KEPT_FOR)
        await put_setting(tx, _LAST_PRUNE, today)
        await tx.commit()
    if pruned:
        log.info("housekeeping: forgot %s processed update ids older than %s", pruned, UPDATE_IDS_KEPT_FOR)
    return pruned
