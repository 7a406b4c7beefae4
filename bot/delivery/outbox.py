"""The one outbox loop: messages owed to someone, sent when due, retried with back-off, across restarts.

Two outboxes use it — alerts to the clinicians' group (`bot.delivery.worker`) and the advice owed to a patient after
a worrying answer (`bot.delivery.patient_notices`). Each says how to find its due rows, how to send one through the
messenger port and what to record after; the loop decides what a failure means:

- `TryLater(seconds)`: the platform's own wait — this row waits that long and the pass stops (the next rows would
  be refused too);
- `TryLater(refused=True)`: this request was rejected — retried at the longest back-off, the pass goes on;
- `TryLater()` (network, 5xx) and `Unreachable`: retried with exponential back-off, the pass goes on; the outbox
  may add what an unreachable chat means (a patient marked unreachable).

Delivery is at least once: a row is marked sent only after the platform accepted it, so a crash in between can
repeat it after a restart. For a red flag a repeat is acceptable, a loss is not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from bot.clock import Clock
from bot.messenger import TryLater, Unreachable
from bot.storage.store import Store, Tx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timings of delivery retries. Re-alerting an unacknowledged alert is the site's ladder (`escalation:` in
    sites.yaml, bot/domain/ladder.py), not a delivery concern."""

    first_backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(minutes=5)
    #: Urgent alerts and the patient's emergency advice wait at most this long between attempts (issue 21: a 5-min
    #: cap made an alert wait 50 s after Telegram recovered). Telegram's own retry_after still wins.
    urgent_max_backoff: timedelta = timedelta(seconds=15)

    def backoff(self, attempts: int, severity: str = "same_day") -> timedelta:
        """2 s, 4 s, 8 s … capped at `urgent_max_backoff` for urgent sends, at `max_backoff` otherwise."""
        cap = self.urgent_max_backoff if severity == "urgent" else self.max_backoff
        return min(self.first_backoff * (2 ** min(max(attempts, 0), 20)), cap)


#: How long a replica's claim on the rows it is sending lasts: past it (the replica died mid-send), another replica
#: takes them over. Far longer than a send, even one held by Telegram's retry_after.
CLAIM_FOR = timedelta(minutes=5)

#: A request the platform rejected is retried as if it had failed this many times (the longest back-off).
REFUSED_ATTEMPTS = 99


class OutboxRow(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def attempts(self) -> int: ...


Row = TypeVar("Row", bound=OutboxRow)


@dataclass(frozen=True)
class Outbox(Generic[Row]):
    """One kind of message owed: where its rows are, how one is sent, what is recorded after."""

    name: str
    due: Callable[[Tx, datetime], Awaitable[list[Row]]]  # read only: is anything due? (most passes find nothing)
    claim: Callable[[Tx, datetime, str, datetime], Awaitable[list[Row]]]  # (tx, now, replica, until): due, claimed
    send: Callable[[Row], Awaitable[int]]  # the message id; raises only Unreachable or TryLater
    sent: Callable[[Row, int], Awaitable[None]]
    failed: Callable[[Row, datetime], Awaitable[None]]  # record the failed attempt, next try at the given time
    severity: Callable[[Row], str]
    unreachable: Callable[[Row], Awaitable[None]] | None = None


async def drain(
    store: Store, clock: Clock, outbox: Outbox[Row], policy: DeliveryPolicy, lock: asyncio.Lock, *, replica: str
) -> int:
    """Send every due row of `outbox` (one pass at a time in this process under `lock`; rows claimed for
    `replica`, so another replica's pass skips them); return how many were accepted."""
    async with lock:
        now = clock.now()
        async with store.read() as tx:
            if not await outbox.due(tx, now):
                return 0
        async with store.transaction() as tx:
            rows = await outbox.claim(tx, now, replica, now + CLAIM_FOR)
            await tx.commit()
        accepted = 0
        for row in rows:
            try:
                message_id = await outbox.send(row)
            except Unreachable as exc:
                log.warning("%s %s: the chat cannot be reached (%s); kept for later", outbox.name, row.id, exc.reason)
                if outbox.unreachable is not None:
                    await outbox.unreachable(row)
                await outbox.failed(row, clock.now() + policy.backoff(row.attempts, outbox.severity(row)))
                continue
            except TryLater as exc:
                if exc.seconds is not None:
                    wait = timedelta(seconds=exc.seconds)
                    await outbox.failed(row, clock.now() + wait)
                    log.warning("%s %s: asked to wait %s before sending more", outbox.name, row.id, wait)
                    break
                attempts = REFUSED_ATTEMPTS if exc.refused else row.attempts
                await outbox.failed(row, clock.now() + policy.backoff(attempts, outbox.severity(row)))
                log.warning("%s %s not delivered yet (%s); will retry", outbox.name, row.id, exc.reason or exc)
                continue
            await outbox.sent(row, message_id)
            accepted += 1
        return accepted
