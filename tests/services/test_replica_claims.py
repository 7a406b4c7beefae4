"""Two replicas on one database, nothing twice (issue 19), at the service level: two `Services` on one SQLite file,
each with its own replica id and fake Messenger, ticking and delivering at the same moments over 30 virtual days
while the patients answer through either of them — then the same with one replica killed in the middle of a send.

What makes it hold is in the database, not in a process: each send of a questionnaire is its own transaction
(`sending` is the claim), outbox rows are claimed by the replica sending them (migration 0010), and the tick and
the digest are leased. The process-level version, with PostgreSQL and webhooks, is `tests/e2e/test_replicas.py`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fake_messenger import FakeMessenger
from test_services_messenger import benign

from bot.bootstrap import build_services
from bot.clock import VirtualClock
from bot.config import load_settings
from bot.delivery import digest, patient_notices, worker
from bot.delivery.outbox import CLAIM_FOR
from bot.domain.enrolment import EnrolmentRequest
from bot.scheduling import dispatcher
from bot.services import answering, enrolment, onboarding
from bot.services.container import Services
from bot.services.prompting import send_prompt
from bot.storage import alerts, inbox, patients, settings

pytestmark = pytest.mark.postgres_too(
    "two replicas claim work through the database's locks and leases, which differ between the engines"
)

GROUP = -1001000
TOKEN = "123456:TEST-token-not-a-real-one_abcdefgh"
RT = date(2027, 3, 3)
PATIENTS = 6
FIRST_USER = 5000
STEP = timedelta(hours=1)


@dataclass
class Replica:
    services: Services
    messenger: FakeMessenger

    async def periodic(self) -> None:
        """What the two jobs of one replica do (`bot.bootstrap.periodic_work` without the housekeeping)."""
        await dispatcher.tick(self.services, self.messenger)
        await patient_notices.send_notices(self.services, self.messenger)
        await worker.deliver_due(self.services, self.messenger)
        await digest.send_digest_if_due(self.services, self.messenger)


async def _replica(tmp_path: Path, clock: VirtualClock, name: str) -> Replica:
    settings = load_settings(
        TELEGRAM_BOT_TOKEN=TOKEN,
        BOT_DATABASE=str(tmp_path / "bot.sqlite3"),
        CLINICIAN_CHAT_ID=GROUP,
        CLINICIAN_USER_IDS="111",
        BOT_REPLICA_ID=name,
    )
    services = await build_services(settings, clock)
    await dispatcher.recover(services)
    return Replica(services, FakeMessenger())


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica]]:
    clock = VirtualClock(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    a = await _replica(tmp_path, clock, "replica-a")
    b = await _replica(tmp_path, clock, "replica-b")
    try:
        yield a, b
    finally:
        for replica in (a, b):
            await replica.services.store.close()


async def _enrol(replica: Replica, n: int) -> None:
    services, user = replica.services, FIRST_USER + n
    invitation = await enrolment.enroll(
        services.store, services.clock, EnrolmentRequest(f"P-{n:03d}", RT), actor="clinician:111"
    )
    assert (
        await enrolment.redeem(
            services.store, services.clock, code=invitation.code, telegram_user_id=user, chat_id=user
        )
    ).kind == "joined"
    await onboarding.confirm_information(services, user, 1)
    await onboarding.choose_time_and_activate(services, user, "matin")


def _value(item: object, n: int, day: int) -> object:
    """Patient 0 reports new weakness on study days 5 and 20 (an urgent alert each time); the others are well."""
    if item.id == "rf_weakness" and n == 0 and day in (5, 20):
        return "yes"
    return benign(item)


async def _answer_all(replica: Replica, n: int, day: int) -> int:
    """Patient n answers whatever is open, one question at a time, as a handler on `replica` would reply."""
    services, user, stored = replica.services, FIRST_USER + n, 0
    while True:
        _, prompt = await answering.current_prompt(services, user)
        if prompt is None:
            return stored
        value = _value(prompt.item, n, day)
        submission = await answering.submit(
            services,
            telegram_user_id=user,
            instance_id=prompt.instance.id,
            item_index=prompt.item_index,
            make_value=lambda _i: value,
            answered_at=None,
        )
        assert submission.status == "stored"
        stored += 1
        if submission.notice_id is not None:
            await patient_notices.send_notices(services, replica.messenger, notice_id=submission.notice_id)
        if submission.prompt is not None:
            await send_prompt(replica.messenger, services, user, submission.prompt)
        elif submission.finished:
            await dispatcher.dispatch_patient(
                services,
                replica.messenger,
                submission.patient.id,  # type: ignore[union-attr]
                present=True,
            )


async def _acknowledge_delivered(services: Services) -> None:
    """The team takes each alert in charge once it reached the group (no re-alerts: one send per alert)."""
    async with services.store.transaction() as tx:
        for alert in await alerts.open_alerts(tx):
            if alert.delivered_at is not None:
                await alerts.acknowledge(tx, alert.id, by=111, now=services.clock.now())
        await tx.commit()


async def _run(replicas: list[Replica], clock: VirtualClock, until: datetime, answers: Counter[int]) -> None:
    turn = 0
    while clock.now() < until:
        clock.advance(STEP)
        await asyncio.gather(*(r.periodic() for r in replicas))  # both replicas' jobs fire at the same moment
        day = (clock.now().date() - RT).days
        for n in range(PATIENTS):
            answers[n] += await _answer_all(replicas[turn % len(replicas)], n, day)  # updates alternate
            turn += 1
        await _acknowledge_delivered(replicas[0].services)


async def _check_nothing_twice(services: Services, messengers: list[FakeMessenger], answers: Counter[int]) -> None:
    calls = [c for m in messengers for c in m.delivered]
    async with services.store.read() as tx:
        sent = await tx.fetchall("SELECT id FROM instances WHERE sent_at IS NOT NULL")
        stored = await tx.fetchall(
            "SELECT instance_id, item_id, COUNT(*) AS n FROM answers GROUP BY instance_id, item_id"
        )
        delivered = await tx.fetchall("SELECT id, sends FROM alerts WHERE delivered_at IS NOT NULL")
        notices = await tx.fetchall("SELECT id FROM patient_notices WHERE sent_at IS NOT NULL")
        pending = await tx.fetchall("SELECT id FROM alerts WHERE severity != 'info' AND delivered_at IS NULL")
    questionnaires = Counter(
        c.prompt.instance.id
        for c in calls
        if c.prompt is not None and (c.text or "").startswith("Nouveau questionnaire")
    )
    assert len(sent) > 20 and questionnaires == Counter({int(r["id"]): 1 for r in sent})  # each sent exactly once
    assert all(r["n"] == 1 for r in stored) and sum(r["n"] for r in stored) == sum(answers.values())
    by_alert = Counter(c.acknowledge_alert for c in calls if c.acknowledge_alert is not None)
    assert len(delivered) >= 2 and by_alert == Counter({int(r["id"]): 1 for r in delivered})  # each alert once
    assert all(r["sends"] == 1 for r in delivered) and pending == []
    advice = [c for c in calls if c.method == "send_text" and c.chat_id > 0]
    assert len(advice) == len(notices) >= 1  # the patient's emergency advice, once per red flag
    digests = [c for c in calls if c.chat_id == GROUP and (c.text or "").startswith("Résumé du matin")]
    assert len(digests) == len({c.text for c in digests})  # no digest chunk posted twice


async def test_two_replicas_ticking_and_answering_together_send_and_store_everything_once(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    for n in range(PATIENTS):
        await _enrol(a, n)
    clock = a.services.clock
    assert isinstance(clock, VirtualClock)
    answers: Counter[int] = Counter()
    await _run([a, b], clock, clock.now() + timedelta(days=30), answers)
    assert a.messenger.delivered and b.messenger.delivered  # both really worked
    await _check_nothing_twice(a.services, [a.messenger, b.messenger], answers)


class _Hang(FakeMessenger):
    """A replica that dies in the middle of sending: its next send never returns."""

    async def send_text(
        self, chat_id: int, text: str, *, protect: bool = False, acknowledge_alert: int | None = None
    ) -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_replica_killed_mid_send_loses_nothing_and_the_other_takes_over_once(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    for n in range(PATIENTS):
        await _enrol(a, n)
    clock = a.services.clock
    assert isinstance(clock, VirtualClock)
    answers: Counter[int] = Counter()
    await _run([a, b], clock, datetime(2027, 3, 8, 6, 0, tzinfo=UTC), answers)  # day 5: a red flag
    # A red flag typed in free text has just raised an urgent alert; B claims it and is killed while sending it.
    async with b.services.store.transaction() as tx:
        patient = await patients.find_by_study_id(tx, "P-001")
        assert patient is not None
        await alerts.insert_alert(
            tx,
            patient_id=patient.id,
            instance_id=None,
            rule_id="free_text_red_flag",
            severity="urgent",
            payload={"title": "test"},
            now=clock.now(),
            send_now=True,
        )
        await tx.commit()
    hanging = replace(b, messenger=_Hang())
    killed = asyncio.create_task(worker.deliver_due(hanging.services, hanging.messenger))
    for _ in range(200):
        await asyncio.sleep(0.01)
        async with a.services.store.read() as tx:
            claimed = await tx.fetchall("SELECT id FROM alerts WHERE claimed_by = 'replica-b'")
        if claimed:
            break
    assert claimed, "replica B never claimed the alert: the test did not test anything"
    killed.cancel()
    await asyncio.gather(killed, return_exceptions=True)
    # A alone: the claimed alert waits for B's claim to lapse (never sent twice meanwhile), then goes out once.
    await worker.deliver_due(a.services, a.messenger)
    assert not [c for c in a.messenger.delivered if c.acknowledge_alert in {int(r["id"]) for r in claimed}]
    clock.advance(CLAIM_FOR)
    await _run([a], clock, clock.now() + timedelta(days=25), answers)
    await _check_nothing_twice(a.services, [a.messenger, b.messenger], answers)


async def test_an_update_handled_by_one_replica_is_never_applied_by_the_other(pair: tuple[Replica, Replica]) -> None:
    """The update-id guard across replicas: the same update handed to both (a webhook redelivery, an inbox replay at
    start-up) — the second effect's transaction finds it handled, never commits, and rolls back with everything it
    wrote."""
    a, b = pair
    now = a.services.clock.now()
    for replica, expected in ((a, None), (b, inbox.UpdateAlreadyHandled)):
        token = inbox.CURRENT_UPDATE.set(inbox.HandlingUpdate(77))
        try:
            async with replica.services.store.transaction() as tx:
                await settings.put_setting(tx, f"effect-{replica.services.replica_id}", "written")
                if expected is None:
                    await inbox.settle_current_update(tx, now)
                    await tx.commit()
                else:
                    with pytest.raises(expected):  # raised by the commit, which the settling writes travel with
                        await inbox.settle_current_update(tx, now)
                        await tx.commit()
        finally:
            inbox.CURRENT_UPDATE.reset(token)
    async with a.services.store.read() as tx:
        assert await settings.get_setting(tx, "effect-replica-a") == "written"
        assert await settings.get_setting(tx, "effect-replica-b") is None  # rolled back: applied once
        assert await inbox.is_processed(tx, 77)
