"""Which storage adapter a `BOT_DATABASE` value means: a file path is SQLite (`store.Store`), a `postgresql://` URL
is PostgreSQL (`postgres.PgStore`). Both offer the same unit of work, so the rest of the bot never asks which.

Kept apart from both adapters so that neither imports the other at run time (PgStore builds on Store's interface;
Store knows nothing of PostgreSQL), and a SQLite bot never imports asyncpg.
"""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock
from bot.storage.db import is_postgres_url
from bot.storage.store import Store


async def open_store(location: Path | str, clock: Clock) -> Store:
    """Open the database named by `location` (migrations applied) with the adapter it calls for."""
    if is_postgres_url(location):
        from bot.storage.postgres import PgStore

        return await PgStore.open(location, clock)
    return await Store.open(location, clock)
