"""Which Telegram group is the clinicians' one: the configured id, or the id it migrated to.

Telegram gives a group a new id when it becomes a supergroup; the bot follows it (`bot.telegram.handlers.guards`)
and keeps the new id in the settings table, so a restart with the old configured id still posts to the right group.
"""

from __future__ import annotations

from bot.services.container import Services
from bot.storage import audit
from bot.storage.settings import get_setting, put_setting

__all__ = ["CLINICIAN_CHAT_SETTING", "follow_migration", "load_clinician_chat"]

CLINICIAN_CHAT_SETTING = "clinician_chat_id"


async def follow_migration(services: Services, old_id: int, new_id: int) -> None:
    """Record the group's new id (audited) and use it from now on."""
    async with services.store.transaction() as tx:
        await put_setting(tx, CLINICIAN_CHAT_SETTING, str(new_id))
        await audit.record(
            tx,
            at=services.clock.now(),
            actor="system",
            action="clinician_chat_migrated",
            old_value=old_id,
            new_value=new_id,
        )
        await tx.commit()
    services.clinician_chat_id = new_id


async def load_clinician_chat(services: Services) -> None:
    """At start-up, prefer a migrated group id recorded in the database over the configured one."""
    async with services.store.read() as tx:
        stored = await get_setting(tx, CLINICIAN_CHAT_SETTING)
    if stored is not None:
        services.clinician_chat_id = int(stored)
