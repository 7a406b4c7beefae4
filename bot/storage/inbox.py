"""The inbox (migration 0004) and `processed_updates`: updates fetched but not handled yet, and ids handled.

An update is in exactly one of three states: unknown; in `inbox` (stored, not handled: handled again after a
crash); in `processed_updates` (handled: a redelivery is dropped). Moving from the inbox to processed is one
transaction, preferably the one that writes the update's effect (`settle_current_update`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.clock import utc_iso
from bot.storage.store import Tx


@dataclass
class HandlingUpdate:
    """The update being handled in this task, and whether its effect's transaction already marked it handled."""

    update_id: int
    settled: bool = False


#: Set by `bot.telegram.inbox.InboxProcessor` while an update is handled, so that the transaction writing its
#: effect can also mark it handled.
CURRENT_UPDATE: contextvars.ContextVar[HandlingUpdate | None] = contextvars.ContextVar("current_update", default=None)


def current_update_id() -> int | None:
    handling = CURRENT_UPDATE.get()
    return None if handling is None else handling.update_id


async def keep_updates(tx: Tx, updates: Sequence[tuple[int, str]], now: datetime) -> None:
    """Keep a batch of fetched updates (id, JSON) in ONE statement, leaving out those handled before (a
    redelivery) and those kept already: in a `single_statement` it is durable when it returns, one trip to the
    database for the whole batch instead of two per update plus BEGIN and COMMIT under the write lock (issue 18)."""
    if not updates:
        return
    rows = ", ".join(["(?, ?, ?)"] * len(updates))
    at = utc_iso(now)
    await tx.execute(
        "INSERT OR IGNORE INTO inbox (update_id, payload, received_at) "
        "SELECT CAST(v.column1 AS BIGINT), v.column2, v.column3 FROM (VALUES " + rows + ") AS v "
        "WHERE NOT EXISTS (SELECT 1 FROM processed_updates p WHERE p.update_id = CAST(v.column1 AS BIGINT))",
        [value for update_id, payload in updates for value in (update_id, payload, at)],
    )


async def processed_among(tx: Tx, update_ids: Sequence[int]) -> set[int]:
    """Which of these updates are marked handled."""
    if not update_ids:
        return set()
    marks = ", ".join(["?"] * len(update_ids))
    rows = await tx.fetchall(f"SELECT update_id FROM processed_updates WHERE update_id IN ({marks})", list(update_ids))
    return {int(r["update_id"]) for r in rows}


class UpdateAlreadyHandled(Exception):
    """Another replica (or an earlier run) already wrote this update's effect: the transaction must not commit."""


async def mark_processed(tx: Tx, update_id: int, now: datetime) -> bool:
    """The update is handled: out of the inbox, into `processed_updates` (both in the caller's transaction).
    False when it was marked handled already."""
    inserted = await tx.execute_count(_MARK_PROCESSED, (update_id, utc_iso(now)))
    tx.defer(_FORGET_KEPT, (update_id,))  # sent with the commit (or the next statement)
    return inserted > 0


_MARK_PROCESSED = "INSERT OR IGNORE INTO processed_updates (update_id, processed_at) VALUES (?, ?)"
_FORGET_KEPT = "DELETE FROM inbox WHERE update_id = ?"


async def settle_current_update(tx: Tx, now: datetime) -> None:
    """Inside the transaction that writes the effect of the update being handled (an answer, a join): mark the
    update handled in that same transaction, so that after a crash it is neither lost nor applied twice.

    The commit raises `UpdateAlreadyHandled` when the update was handled meanwhile — by another replica that got
    the same update (a webhook redelivery, or its inbox replay at start-up): the transaction then rolls back, and
    the effect stays written once. This is the update-id guard across replicas; the writes are serialised by the
    store, so of two replicas settling the same update exactly one commits. Both writes are deferred (`Tx.defer`):
    they reach the database with the commit, in its round trip, and the guard stops the batch before the COMMIT."""
    handling = CURRENT_UPDATE.get()
    if handling is not None:
        tx.defer(
            _MARK_PROCESSED, (handling.update_id, utc_iso(now)), unless_changed=UpdateAlreadyHandled(handling.update_id)
        )
        tx.defer(_FORGET_KEPT, (handling.update_id,))
        handling.settled = True  # (if the caller then rolls back, the update stays in the inbox: handled at next start)


async def is_processed(tx: Tx, update_id: int) -> bool:
    return await tx.fetchone("SELECT 1 FROM processed_updates WHERE update_id = ?", (update_id,)) is not None


async def pending(tx: Tx) -> list[tuple[int, str]]:
    """Stored and not handled, oldest first."""
    rows = await tx.fetchall("SELECT update_id, payload FROM inbox ORDER BY update_id")
    return [(int(r["update_id"]), str(r["payload"])) for r in rows]


async def forget_processed_before(tx: Tx, before: datetime) -> int:
    """Housekeeping: drop handled update ids older than `before` (never redelivered by then); how many."""
    return await tx.execute_count("DELETE FROM processed_updates WHERE processed_at < ?", (utc_iso(before),))
