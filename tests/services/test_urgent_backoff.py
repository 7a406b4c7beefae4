"""Issue 21 item 5: after Telegram fails, an urgent alert and the patient's emergency advice are tried again within
~15 s (the back-off used to grow to 5 minutes, so an alert waited 50 s after Telegram had recovered)."""

from __future__ import annotations

from datetime import date, timedelta

from harness import Bench

from bot.clock import parse_utc
from bot.delivery import patient_notices, worker
from bot.delivery.worker import DeliveryPolicy
from bot.storage import alerts, notices, patients

RT = date(2027, 3, 3)
FAILURES = 10  # 2 s · 2^9 would be 17 minutes uncapped, 5 minutes with the old cap


def test_the_policy_caps_urgent_sends_at_15_s_and_leaves_the_others_at_5_min() -> None:
    policy = DeliveryPolicy()
    assert [policy.backoff(n, "urgent").total_seconds() for n in range(5)] == [2, 4, 8, 15, 15]
    assert max(policy.backoff(n, "urgent") for n in range(200)) == timedelta(seconds=15)
    assert policy.backoff(50, "same_day") == timedelta(minutes=5)


async def _next_attempt(bench: Bench, table: str, row_id: int) -> timedelta | None:
    assert bench.services is not None
    async with bench.services.store.read() as tx:
        row = await tx.fetchone(f"SELECT next_attempt_at FROM {table} WHERE id = ?", (row_id,))
    return None if row["next_attempt_at"] is None else parse_utc(row["next_attempt_at"]) - bench.clock.now()


async def test_an_urgent_alert_and_the_emergency_advice_are_retried_within_15_s_through_a_long_outage(
    bench: Bench,
) -> None:
    await bench.join(3001, "P-U", RT)
    services, bot = bench.services, bench.messenger  # type: ignore[union-attr]
    assert services is not None
    now = bench.clock.now()
    async with services.store.transaction() as tx:
        patient = await patients.find_by_study_id(tx, "P-U")
        assert patient is not None
        alert_id = await alerts.insert_alert(
            tx,
            patient_id=patient.id,
            instance_id=None,
            rule_id="test_red_flag",
            severity="urgent",
            payload={"title": "test"},
            now=now,
            send_now=True,
        )
        notice_id = await notices.insert_notice(
            tx, patient_id=patient.id, instance_id=None, kind="urgent", now=now, expires_at=now + timedelta(hours=24)
        )
        await tx.commit()
    waits: list[float] = []
    for _ in range(FAILURES):
        bench.standin.fail_next(2, status=500, method="sendMessage")
        assert await worker.deliver_due(services, bot) == 0
        assert await patient_notices.send_notices(services, bot) == 0
        alert_wait, notice_wait = (
            await _next_attempt(bench, "alerts", alert_id),
            await _next_attempt(bench, "patient_notices", notice_id),
        )
        assert alert_wait is not None and notice_wait is not None
        waits += [alert_wait.total_seconds(), notice_wait.total_seconds()]
        bench.clock.advance(max(alert_wait, notice_wait))
    assert max(waits) <= 15, waits
    # Telegram is back: both go out at the next attempt.
    assert await worker.deliver_due(services, bot) == 1
    assert await patient_notices.send_notices(services, bot) == 1
