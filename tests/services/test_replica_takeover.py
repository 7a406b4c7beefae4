"""A replica killed mid-tick delays the others by one lease, and strands no questionnaire (issue 39, item 5).

Two replicas on one database (as `tests/services/test_replica_claims.py`; on PostgreSQL in the PostgreSQL pass), one virtual
clock. Replica A's tick is "killed" in the middle of a fan-out: its sends never return (the process is gone) and its
heartbeat no longer renews the tick's lease. Replica B, ticking as it does every few seconds, must take the tick
over once the lease lapses (`leases.LEASE_FOR`, a minute, no longer ten), send what A had not claimed, and once A's
claims lapse (`dispatcher.SEND_CLAIM`), send what A claimed but never sent — once — and open without resending
what A did send.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_messenger import FakeMessenger
from test_replica_claims import Replica, _enrol, _replica

from bot.clock import VirtualClock
from bot.domain.prompt import Prompt
from bot.scheduling import dispatcher
from bot.services import answering
from bot.services.container import Services
from bot.storage import due, leases

pytestmark = pytest.mark.postgres_too(
    "a replica takes over through the database's leases, which differ between the engines"
)

PATIENTS = 8
SECOND = timedelta(seconds=1)


@dataclass
class _Dying(FakeMessenger):
    """A replica that dies while sending: each question waits for `gate` (never opened: the process is gone).
    With `reached_telegram`, Telegram got the question and its message id was recorded before the death."""

    services: Services | None = None
    reached_telegram: set[int] = field(default_factory=set)  # patient chat ids
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: list[int] = field(default_factory=list)

    async def send_question(self, chat_id: int, prompt: Prompt, *, header: str | None = None) -> int:
        self.waiting.append(prompt.instance.id)
        if chat_id in self.reached_telegram:
            message_id = await super().send_question(chat_id, prompt, header=header)
            assert self.services is not None
            await answering.remember_question_message(self.services, prompt.instance.id, message_id)
        await self.gate.wait()
        return 0 if chat_id in self.reached_telegram else await super().send_question(chat_id, prompt, header=header)


@pytest.fixture
async def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Replica, Replica]]:
    # A dead process renews nothing: its heartbeat would only fire after this long, well after the test.
    monkeypatch.setattr(leases, "RENEW_EVERY", timedelta(hours=1))
    clock = VirtualClock(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    a = await _replica(tmp_path, clock, "replica-a")
    b = await _replica(tmp_path, clock, "replica-b")
    try:
        for n in range(PATIENTS):
            await _enrol(a, n)
        async with a.services.store.read() as tx:
            assert len(await due.due_patients(tx, clock.now())) == PATIENTS  # the baselines, all due now
        yield a, b
    finally:
        for replica in (a, b):
            await replica.services.store.close()


def _intros(*messengers: FakeMessenger) -> Counter[int]:
    """instance id → how many times its "new questionnaire" message reached Telegram."""
    return Counter(
        c.prompt.instance.id
        for m in messengers
        for c in m.delivered
        if c.prompt is not None and (c.text or "").startswith("Nouveau questionnaire")
    )


async def _statuses(services: Services) -> Counter[str]:
    """The statuses of the instances due at the start (the first one of each patient)."""
    async with services.store.read() as tx:
        rows = await tx.fetchall(
            "SELECT status FROM instances i WHERE id = (SELECT MIN(j.id) FROM instances j"
            " WHERE j.patient_id = i.patient_id)"
        )
    return Counter(r["status"] for r in rows)


async def _claims_of(services: Services, holder: str, count: int) -> list[int]:
    """Wait (real time, briefly) until `holder` has `count` sends in flight."""
    for _ in range(500):
        async with services.store.read() as tx:
            rows = await tx.fetchall("SELECT id FROM instances WHERE status = 'sending' AND claimed_by = ?", (holder,))
        if len(rows) == count:
            return sorted(int(r["id"]) for r in rows)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{holder} never had {count} sends in flight: the test tested nothing")


async def test_a_replica_killed_mid_tick_is_taken_over_within_a_lease_and_its_claims_are_sent_once(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    clock = a.services.clock
    assert isinstance(clock, VirtualClock)
    dying = _Dying(services=a.services, reached_telegram={5000})  # patient 0's question did reach Telegram
    killed = asyncio.create_task(dispatcher.tick(a.services, dying))
    claimed = await _claims_of(a.services, "replica-a", dispatcher.DISPATCH_LANES)  # A dies with 3 sends claimed
    sent_by_a = {i for i in claimed if i in _intros(dying)}
    assert len(sent_by_a) == 1
    start = clock.now()

    # B ticks every few seconds: nothing while A's lease runs (one minute, no longer ten) …
    clock.advance(leases.LEASE_FOR - SECOND)
    assert (await dispatcher.tick(b.services, b.messenger)).sent == []
    # … then B takes the tick over and sends everything A had not claimed.
    clock.advance(SECOND)
    report = await dispatcher.tick(b.services, b.messenger)
    takeover = clock.now() - start
    assert takeover <= timedelta(seconds=60) and len(report.sent) == PATIENTS - len(claimed)
    assert not set(report.sent) & set(claimed)  # A's claims still run: not B's to send yet

    # A's claims lapse: the one sent is opened (not sent again), the two never sent are sent, once.
    clock.advance(dispatcher.SEND_CLAIM - leases.LEASE_FOR)
    report = await dispatcher.tick(b.services, b.messenger)
    assert sorted(report.sent) == sorted(set(claimed) - sent_by_a)
    for _ in range(3):
        clock.advance(timedelta(minutes=20))
        await dispatcher.tick(b.services, b.messenger)
    intros = _intros(dying, b.messenger)
    assert len(intros) == PATIENTS and set(intros.values()) == {1}  # every baseline sent, each exactly once
    assert await _statuses(b.services) == Counter({"open": PATIENTS})

    killed.cancel()  # A's process is gone for good: what its cut-short code would still do changes nothing
    await asyncio.gather(killed, return_exceptions=True)
    assert await _statuses(b.services) == Counter({"open": PATIENTS})
    async with b.services.store.read() as tx:
        audited = Counter(
            (r["action"], int(r["entity_id"]))
            for r in await tx.fetchall(
                "SELECT action, entity_id FROM audit_log WHERE action IN ('send_recovered', 'send_requeued')"
            )
        )
    assert audited == Counter(
        {("send_recovered", i): 1 for i in sent_by_a} | {("send_requeued", i): 1 for i in set(claimed) - sent_by_a}
    )
    print(
        f"\ntakeover after the holder's death: {takeover.total_seconds():.0f} s of the bot's clock "
        f"(lease {leases.LEASE_FOR.total_seconds():.0f} s); claimed-unsent re-sent after "
        f"{dispatcher.SEND_CLAIM.total_seconds():.0f} s"
    )


async def test_a_holder_that_lost_the_tick_lease_stops_starting_sends(pair: tuple[Replica, Replica]) -> None:
    """A stalled A (alive, its renewals late) finds B holding the tick: it finishes the sends in flight, starts no
    new one — B sends the rest, within Telegram's per-bot rate rather than on top of A's."""
    a, b = pair
    clock = a.services.clock
    assert isinstance(clock, VirtualClock)
    slow = _Dying(services=a.services)
    ticking = asyncio.create_task(dispatcher.tick(a.services, slow))
    claimed = await _claims_of(a.services, "replica-a", dispatcher.DISPATCH_LANES)
    clock.advance(leases.LEASE_FOR + SECOND)
    async with b.services.store.transaction() as tx:  # B's tick starts, and takes the lapsed lease
        assert await leases.acquire(
            tx, "tick", holder="replica-b", now=clock.now(), until=clock.now() + leases.LEASE_FOR
        )
        await tx.commit()
    slow.gate.set()  # A's stalled sends go through
    report = await ticking
    assert sorted(report.sent) == claimed  # the three in flight, and nothing after them
    assert await _statuses(a.services) == Counter({"open": len(claimed), "planned": PATIENTS - len(claimed)})
    report = await dispatcher.tick(b.services, b.messenger)
    assert len(report.sent) == PATIENTS - len(claimed)
    intros = _intros(slow, b.messenger)
    assert len(intros) == PATIENTS and set(intros.values()) == {1}


async def test_a_live_holder_renews_its_lease_and_keeps_the_tick(
    pair: tuple[Replica, Replica],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heartbeat: a tick longer than the lease keeps it (no second replica sending at the same time)."""
    monkeypatch.setattr(leases, "RENEW_EVERY", timedelta(seconds=0.05))
    a, b = pair
    clock = a.services.clock
    assert isinstance(clock, VirtualClock)
    slow = _Dying(services=a.services)
    ticking = asyncio.create_task(dispatcher.tick(a.services, slow))
    await _claims_of(a.services, "replica-a", dispatcher.DISPATCH_LANES)
    for _ in range(5):  # five lease lengths pass while A's sends are slow; A renews each time
        clock.advance(leases.LEASE_FOR - SECOND)
        await asyncio.sleep(0.2)
        assert (await dispatcher.tick(b.services, b.messenger)).sent == []
    slow.gate.set()
    report = await ticking
    assert len(report.sent) == PATIENTS and b.messenger.delivered == []
