"""Leases (migration 0010): a periodic job runs on one replica at a time, across processes sharing the database.

Taken and given back inside a write transaction, which both engines serialise (SQLite's `BEGIN IMMEDIATE`,
PostgreSQL's transaction-scoped advisory lock in `bot.storage.postgres`), so two replicas never both hold one.
Times are the bot's clock (`bot.clock`), so tests with a virtual clock see leases expire in virtual time.
"""

from __future__ import annotations

from datetime import datetime

from bot.clock import parse_utc, utc_iso
from bot.storage.store import Tx


async def acquire(tx: Tx, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
    """Take (or renew) the lease `name` until `until`; False when another replica holds it now."""
    row = await tx.fetchone("SELECT holder, held_until FROM leases WHERE name = ?", (name,))
    if row is None:
        await tx.execute("INSERT INTO leases (name, holder, held_until) VALUES (?, ?, ?)",
                         (name, holder, utc_iso(until)))
        return True
    if row["holder"] != holder and parse_utc(row["held_until"]) > now:
        return False
    await tx.execute("UPDATE leases SET holder = ?, held_until = ? WHERE name = ?", (holder, utc_iso(until), name))
    return True


async def release(tx: Tx, name: str, *, holder: str, now: datetime) -> None:
    """Give the lease back now (if still ours), so another replica may take it at once."""
    await tx.execute("UPDATE leases SET held_until = ? WHERE name = ? AND holder = ?", (utc_iso(now), name, holder))


async def release_all_of(tx: Tx, holder: str, now: datetime) -> int:
    """At start-up: whatever this replica's previous run held (it was killed) is free again."""
    return await tx.execute_count("UPDATE leases SET held_until = ? WHERE holder = ? AND held_until > ?",
                                  (utc_iso(now), holder, utc_iso(now)))
