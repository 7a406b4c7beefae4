"""The middle of the test pyramid (issue 19): services against a fake Messenger and a real database file.

No PTB, no HTTP: enrolment, the tick, the outbox and the digest run exactly as in production, but every message goes
to `FakeMessenger`, which records it (with its priority) and fails on demand with the port's two errors. Each test
here takes milliseconds of virtual time handling, so the failure paths can be walked one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fake_messenger import FakeMessenger

from bot.bootstrap import build_services
from bot.clock import VirtualClock, parse_utc
from bot.config import load_settings
from bot.delivery import digest, patient_notices, worker
from bot.delivery.outbox import REFUSED_ATTEMPTS, DeliveryPolicy
from bot.domain.enrolment import EnrolmentRequest
from bot.messenger import Priority, TryLater, Unreachable
from bot.scheduling import dispatcher
from bot.services import answering, enrolment, onboarding
from bot.services.container import Services
from bot.storage import alerts, patients

GROUP = -1001000
USER = 4242
RT = date(2027, 3, 3)
TOKEN = "123456:TEST-token-not-a-real-one_abcdefgh"


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    clock = VirtualClock(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))  # 10:00 in Paris, a Monday
    settings = load_settings(
        TELEGRAM_BOT_TOKEN=TOKEN,
        BOT_DATABASE=str(tmp_path / "bot.sqlite3"),
        CLINICIAN_CHAT_ID=GROUP,
        CLINICIAN_USER_IDS="111",
    )
    built = await build_services(settings, clock)
    try:
        yield built
    finally:
        await built.store.close()


def clock_of(services: Services) -> VirtualClock:
    assert isinstance(services.clock, VirtualClock)
    return services.clock


async def active_patient(services: Services, study_id: str = "P-001", user_id: int = USER) -> int:
    """Enrolled, invitation redeemed, information understood, time chosen: the patient's schedule is planned."""
    invitation = await enrolment.enroll(
        services.store, services.clock, EnrolmentRequest(study_id, RT), actor="clinician:111"
    )
    joined = await enrolment.redeem(
        services.store, services.clock, code=invitation.code, telegram_user_id=user_id, chat_id=user_id
    )
    assert joined.kind == "joined" and joined.patient is not None
    assert (await onboarding.confirm_information(services, user_id, 1))[0] == "ask_preference"
    step, patient = await onboarding.choose_time_and_activate(services, user_id, "matin")
    assert step == "activated" and patient is not None
    return patient.id


async def answer(
    services: Services, fake: FakeMessenger, item_id: str, value: object, user_id: int = USER
) -> answering.Submission:
    """Answer benignly up to `item_id`, then give `value` to it; the next question goes through the fake."""
    while True:
        _, prompt = await answering.current_prompt(services, user_id)
        assert prompt is not None, f"no question {item_id} in this questionnaire"
        chosen = value if prompt.item.id == item_id else benign(prompt.item)
        submission = await answering.submit(
            services,
            telegram_user_id=user_id,
            instance_id=prompt.instance.id,
            item_index=prompt.item_index,
            make_value=lambda _item: chosen,
            answered_at=None,
        )
        assert submission.status == "stored", submission.status
        if prompt.item.id == item_id:
            return submission


def benign(item: object) -> object:
    kind = item.type
    if kind == "scale":
        return 2
    if kind == "yesno":
        return "no"
    if kind in ("single", "multi"):
        code = item.choices[0].code
        return code if kind == "single" else [code]
    if kind == "number":
        return 1
    return "ok"


async def test_a_due_questionnaire_goes_out_once_as_a_bulk_send_and_its_message_is_remembered(
    services: Services,
) -> None:
    patient_id = await active_patient(services)
    fake = FakeMessenger()
    report = await dispatcher.tick(services, fake)
    assert len(report.sent) == 1
    [question] = fake.to(USER)
    assert question.method == "send_question" and question.priority is Priority.BULK
    assert question.text is not None and question.text.startswith("Nouveau questionnaire")
    assert (await dispatcher.tick(services, fake)).sent == []  # one open at a time: nothing twice
    async with services.store.read() as tx:
        from bot.storage import instances

        instance = await instances.open_instance_for(tx, patient_id)
    assert instance is not None and instance.status == "open"
    assert instance.question_message_id == question.message_id


async def test_a_patient_who_blocked_the_bot_is_marked_unreachable_and_the_team_is_told_once(
    services: Services,
) -> None:
    patient_id = await active_patient(services)
    fake = FakeMessenger()
    fake.block(USER)
    assert (await dispatcher.tick(services, fake)).sent == []
    async with services.store.read() as tx:
        patient = await patients.get_patient(tx, patient_id)
    assert patient is not None and patient.status == "unreachable"
    assert await worker.deliver_due(services, fake) == 1
    [told] = fake.to(GROUP)
    assert "P-001" in (told.text or "") and told.protect and told.acknowledge_alert is not None
    assert told.priority is Priority.URGENT
    assert await worker.deliver_due(services, fake) == 0
    assert (await dispatcher.tick(services, fake)).sent == []  # nothing more is tried for a blocked patient


async def test_a_red_flag_sends_the_advice_and_the_alert_through_the_outbox_whatever_the_failure(
    services: Services,
) -> None:
    await active_patient(services)
    fake = FakeMessenger()
    await dispatcher.tick(services, fake)
    submission = await answer(services, fake, "rf_weakness", "yes")
    assert submission.notice_id is not None and any(d.severity == "urgent" for d in submission.alerts)
    clock = clock_of(services)
    policy = DeliveryPolicy()

    # Telegram's own wait: kept exactly, and the pass stops there.
    fake.fail_next(TryLater(30))
    assert await patient_notices.send_notices(services, fake, notice_id=submission.notice_id) == 0
    async with services.store.read() as tx:
        row = await tx.fetchone(
            "SELECT next_attempt_at, attempts FROM patient_notices WHERE id = ?", (submission.notice_id,)
        )
    assert parse_utc(row["next_attempt_at"]) - clock.now() == timedelta(seconds=30) and row["attempts"] == 1

    # A network failure: the back-off; a refusal: the longest back-off (15 s for urgent).
    clock.advance(timedelta(seconds=30))
    fake.fail_next(TryLater())
    assert await patient_notices.send_notices(services, fake) == 0
    async with services.store.read() as tx:
        row = await tx.fetchone("SELECT next_attempt_at FROM patient_notices WHERE id = ?", (submission.notice_id,))
    assert parse_utc(row["next_attempt_at"]) - clock.now() == policy.backoff(1, "urgent")

    [alert] = [a for a in await _open_alerts(services) if a.severity == "urgent"]
    fake.fail_next(TryLater(refused=True))
    assert await worker.deliver_due(services, fake) == 0
    async with services.store.read() as tx:
        failed = await alerts.get_alert(tx, alert.id)
    assert failed is not None and failed.next_attempt_at is not None
    assert failed.next_attempt_at - clock.now() == policy.backoff(REFUSED_ATTEMPTS, "urgent")

    # Telegram is back: each goes out once, urgent, and the alert carries its acknowledgement button.
    clock.advance(timedelta(seconds=15))
    assert await patient_notices.send_notices(services, fake) == 1
    assert await worker.deliver_due(services, fake) == 1
    advice = [c for c in fake.to(USER) if c.method == "send_text"]
    assert len(advice) == 1 and "15" in (advice[0].text or "") and advice[0].priority is Priority.URGENT
    [sent_alert] = [c for c in fake.to(GROUP) if c.acknowledge_alert == alert.id]
    assert sent_alert.priority is Priority.URGENT and sent_alert.protect
    assert await patient_notices.send_notices(services, fake) == 0 and await worker.deliver_due(services, fake) == 0


async def test_an_unreachable_group_keeps_the_alert_for_later_and_loses_nothing(services: Services) -> None:
    await active_patient(services)
    fake = FakeMessenger()
    await dispatcher.tick(services, fake)
    await answer(services, fake, "rf_weakness", "yes")
    fake.fail_next(Unreachable("removed from the group"))
    assert await worker.deliver_due(services, fake) == 0
    clock_of(services).advance(timedelta(seconds=5))
    assert await worker.deliver_due(services, fake) == 1


async def test_a_reminder_replaces_the_earlier_question_even_when_that_copy_is_gone(services: Services) -> None:
    await active_patient(services)
    fake = FakeMessenger()
    await dispatcher.tick(services, fake)
    clock_of(services).advance(timedelta(hours=4, minutes=1))
    fake.fail_next(TryLater(refused=True))  # the edit taking the old buttons off: message deleted by the patient
    report = await dispatcher.tick(services, fake)
    assert len(report.reminded) == 1
    edit, reminder = fake.calls[-2:]
    assert edit.method == "edit" and not edit.delivered
    assert reminder.method == "send_question" and reminder.delivered and reminder.priority is Priority.BULK
    assert (reminder.text or "").startswith("Rappel")


async def test_the_digest_resends_only_the_chunks_not_yet_accepted(services: Services) -> None:
    for n in range(40):  # enough open alerts with long texts for a digest of several chunks
        await active_patient(services, f"P-{n:03d}", USER + n)
    async with services.store.transaction() as tx:
        for p in await patients.list_patients(tx):
            await alerts.insert_alert(
                tx,
                patient_id=p.id,
                instance_id=None,
                rule_id="test",
                severity="same_day",
                payload={"title": "x" * 150, "fired": {"message_team": "y" * 250}},
                now=services.clock.now(),
                send_now=False,
            )
        await tx.commit()
    clock = clock_of(services)
    clock.set(datetime(2027, 3, 2, 7, 45, tzinfo=UTC))  # 08:45 in Paris
    fake = FakeMessenger()
    first = len(fake.calls)
    fake.fail_call(first + 1, TryLater())  # chunk 1 accepted, chunk 2 fails
    assert not await digest.send_digest_if_due(services, fake)
    chunks = [c for c in fake.calls[first:] if c.chat_id == GROUP]
    assert [c.delivered for c in chunks] == [True, False]
    clock.advance(timedelta(seconds=3))
    assert await digest.send_digest_if_due(services, fake)
    delivered = [c.text for c in fake.to(GROUP)]
    assert len(delivered) >= 3 and len(set(delivered)) == len(delivered)  # chunk 1 never posted twice
    assert all(c.priority is Priority.BULK for c in fake.to(GROUP))


async def _open_alerts(services: Services) -> list[alerts.AlertRow]:
    async with services.store.read() as tx:
        return await alerts.open_alerts(tx)
