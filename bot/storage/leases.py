"""Leases (migration 0010): a periodic job runs on one replica at a time, across processes sharing the database.

Taken and given back inside a write transaction, which both engines serialise (SQLite's `BEGIN IMMEDIATE`,
PostgreSQL's transaction-scoped advisory lock in `bot.storage.postgres`), so two replicas never both hold one.
Times are the bot's clock (`bot.clock`), so tests with a virtual clock see leases expire in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from bot.clock import Clock, parse_utc, utc_iso
from bot.storage.store import Store, Tx

log = logging.getLogger(__name__)


async def acquire(tx: Tx, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
    """Take (or renew) the lease `name` until `until`; False when another replica holds it now."""
    row = await tx.fetchone("SELECT holder, held_until FROM leases WHERE name = ?", (name,))
    if row is None:
        await tx.execute(
            "INSERT INTO leases (name, holder, held_until) VALUES (?, ?, ?)", (name, holder, utc_iso(until))
        )
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
    return await tx.execute_count(
        "UPDATE leases SET held_until = ? WHERE holder = ? AND held_until > ?", (utc_iso(now), holder, utc_iso(now))
    )


async def renew(tx: Tx, name: str, *, holder: str, until: datetime) -> bool:
    """Extend the lease `name` to `until` if `holder` still holds it; False when another replica took it over."""
    return (
        await tx.execute_count(
            "UPDATE leases SET held_until = ? WHERE name = ? AND holder = ?", (utc_iso(until), name, holder)
        )
        == 1
    )


#: How long a lease lasts without renewal, and how often its holder renews it while it works (issue 39). A replica
#: that dies mid-job loses the job within LEASE_FOR (another replica's next tick, every few seconds, takes it over),
#: instead of the ten minutes a lease taken once for the whole job meant. Renewing three times per lease leaves a
#: holder two missed renewals (a slow database, a busy event loop) before it loses the lease while alive.
LEASE_FOR = timedelta(seconds=60)
RENEW_EVERY = timedelta(seconds=20)


class Held:
    """A lease this replica holds while a job runs; renewed in the background (`holding`).

    `lost` turns true when a renewal finds another replica holding it, when a renewal fails, or when the bot's
    clock passed the last renewal's end: the job then stops starting new bulk sends (another replica may be
    doing them now, and Telegram's ≈ 30 messages/s is per bot)."""

    def __init__(self, store: Store, clock: Clock, name: str, holder: str, until: datetime) -> None:
        self.store, self.clock, self.name, self.holder, self.until = store, clock, name, holder, until
        self._lost = False

    @property
    def lost(self) -> bool:
        return self._lost or self.clock.now() >= self.until

    async def renew(self) -> bool:
        """Extend the lease by LEASE_FOR from now; False (and lost from then on) when it is no longer ours."""
        if self._lost:
            return False
        until = self.clock.now() + LEASE_FOR
        try:
            async with self.store.transaction() as tx:
                kept = await renew(tx, self.name, holder=self.holder, until=until)
                await tx.commit()
        except Exception:  # noqa: BLE001 - a holder that cannot renew behaves as one that lost the lease
            log.exception("could not renew the %s lease", self.name)
            kept = False
        if kept:
            self.until = until
        else:
            self._lost = True
            log.warning("lease %s lost by %s: stopping its bulk work", self.name, self.holder)
        return kept

    async def _heartbeat(self) -> None:
        while await asyncio.sleep(RENEW_EVERY.total_seconds(), result=True) and await self.renew():
            pass


@asynccontextmanager
async def holding(store: Store, clock: Clock, name: str, *, holder: str) -> AsyncIterator[Held | None]:
    """Take the lease `name` for LEASE_FOR, renew it every RENEW_EVERY while the block runs, give it back after.
    Yields None (and runs nothing) when another replica holds it."""
    now = clock.now()
    async with store.transaction() as tx:
        taken = await acquire(tx, name, holder=holder, now=now, until=now + LEASE_FOR)
        if taken:
            await tx.commit()
    if not taken:
        yield None
        return
    held = Held(store, clock, name, holder, now + LEASE_FOR)
    heartbeat = asyncio.create_task(held._heartbeat())
    try:
        yield held
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        async with store.transaction() as tx:
            await release(tx, name, holder=holder, now=clock.now())
            await tx.commit()
