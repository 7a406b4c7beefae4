"""Telegram misbehaving (issue #7): 500s, dropped connections, held requests and 429s on sendMessage,
editMessageText and getUpdates, and updates delivered twice.

Telegram is an unreliable network peer. What must hold whatever it does: the bot keeps running, no answer is lost
(the answer is committed before anything is sent), every alert reaches the clinicians once Telegram answers again,
and an update seen before is not processed a second time. tests/e2e/test_escalation.py already covers a few failed
alert sends around a restart; these tests cover the patient side, polling, and a long outage.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from harness import Bench, Patient, current_prompt, default_answer, give
from telegram.error import TelegramError

from bot.domain.prompt import Prompt
from bot.messenger import TryLater, Unreachable

RT = date(2027, 3, 3)  # the bench clock starts on Monday 2027-03-01, 10:00 in Paris
ERRORS_LOGGER = "bot.telegram.handlers.errors"


def rows(bench: Bench, sql: str, *params: object) -> list[tuple[Any, ...]]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def _is_telegram_error(error: BaseException | None) -> bool:
    if isinstance(error, (TryLater, Unreachable)):
        return isinstance(error.__cause__, TelegramError)
    return isinstance(error, TelegramError)


def handler_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ERRORS_LOGGER and r.levelno >= logging.ERROR]


def button_data(bench: Bench, message_id: int | None, chat_id: int) -> list[str]:
    for message in bench.standin.sent_messages(chat_id):
        if message.message_id == message_id:
            return [str(b.get("callback_data")) for row in message.buttons() for b in row]
    return []


async def show_current_question(bench: Bench, patient: Patient, *, tries: int = 8) -> Prompt | None:
    """Make sure the patient sees the current question, as the bot tells them after a failure: /reprendre.

    A reply that Telegram failed to deliver leaves the patient looking at an old keyboard (or at nothing).
    """
    for _ in range(tries):
        prompt = await current_prompt(bench, patient)
        if prompt is None:
            return None
        shown = button_data(bench, prompt.instance.question_message_id, patient.chat_id)
        typed = prompt.item.type in ("number", "text")
        exists = any(
            m.message_id == prompt.instance.question_message_id for m in bench.standin.sent_messages(patient.chat_id)
        )
        current = (
            f"q:{prompt.instance.id}:{prompt.item_index}:",
            f"m:{prompt.instance.id}:{prompt.item_index}:",
            f"b:{prompt.instance.id}:{prompt.item_index}",
        )
        if exists and (any(d.startswith(current) for d in shown) or (typed and not shown)):
            return prompt
        await bench.patient_says(patient, "/reprendre")
    raise AssertionError(f"the current question never reached patient {patient.user_id}")


async def answer_through_faults(
    bench: Bench,
    patient: Patient,
    faults: Iterator[Callable[[], None]],
    answers: dict[str, object] | None = None,
) -> list[str]:
    """Answer the open questionnaire to the end, arming the next fault before every answer; return the items."""
    asked: list[str] = []
    answers = answers or {}
    for _ in range(200):
        prompt = await show_current_question(bench, patient)
        if prompt is None:
            return asked
        next(faults)()
        asked.append(prompt.item.id)
        await give(bench, patient, answers.get(prompt.item.id, default_answer(prompt.item)))
    raise AssertionError(f"the questionnaire did not end: {asked[-5:]}")


async def test_500s_drops_held_requests_and_429s_while_answering_lose_no_answer(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger=ERRORS_LOGGER)
    patient = await bench.join(3001, "P-F1", RT)
    tg = bench.standin
    faults = itertools.cycle(
        [
            lambda: tg.fail_next(1, status=500, method="sendMessage"),
            lambda: tg.fail_next(1, status=502, method="editMessageText", description="Bad Gateway"),
            lambda: tg.drop_next(1, method="sendMessage"),
            lambda: tg.drop_next(1, method="editMessageText"),
            lambda: tg.rate_limit_next(1, retry_after=1, method="sendMessage"),
            lambda: tg.rate_limit_next(1, retry_after=1, method="editMessageText"),
            lambda: tg.timeout_next(1, method="editMessageText", seconds=0.2),
            lambda: None,
        ]
    )
    asked = await answer_through_faults(bench, patient, faults, {"rf_weakness": "yes", "pain_worst": 9})

    assert tg.stats.faults_injected >= len(asked) * 3 // 4 - 2
    assert rows(bench, "SELECT status FROM instances WHERE timepoint = 'baseline'") == [("completed",)]
    stored = rows(bench, "SELECT item_id, COUNT(*) FROM answers GROUP BY item_id")
    assert dict(stored) == {item: 1 for item in asked}  # every answer, once, and nothing else
    # Faults reach the error handler (a reply could not be sent), but only as Telegram errors — raised by a handler's
    # own call, or translated by the messenger port (its cause kept): no half-done state.
    errors = handler_errors(caplog)
    assert errors, "no fault reached a handler: the test did not test anything"
    assert all(r.exc_info and _is_telegram_error(r.exc_info[1]) for r in errors), [
        type(r.exc_info[1]).__name__ for r in errors if r.exc_info
    ]
    # The urgent alert raised during the faults goes out once Telegram answers.
    await bench.tick()
    assert rows(bench, "SELECT rule_id, delivered_at IS NOT NULL FROM alerts WHERE severity = 'urgent'") == [
        ("rf_weakness_inclusion", 1)
    ]


async def test_polling_that_fails_for_a_while_resumes_and_handles_every_waiting_update_once(bench: Bench) -> None:
    patient = await bench.join(3002, "P-F2", RT)
    prompt = await current_prompt(bench, patient)
    assert prompt is not None
    tg = bench.standin
    # PTB's polling has two failure paths: network errors (500, dropped or held connections alike) back off
    # 1 s, 1.5 s, ...; a 429 waits retry_after. A few of each keep this test short.
    tg.fail_next(1, status=500, method="getUpdates")
    tg.timeout_next(1, method="getUpdates", seconds=0.3)
    tg.rate_limit_next(1, retry_after=1, method="getUpdates")
    # The patient taps while the bot cannot fetch anything.
    await tg.wait_for(lambda: any(r.fault for r in tg.requests("getUpdates")), timeout=5)
    tg.press_button(
        patient.user_id,
        patient.user_id,
        prompt.instance.question_message_id,
        f"q:{prompt.instance.id}:{prompt.item_index}:7",
    )
    await bench.settle(timeout=20)

    faulted = [r.fault for r in tg.requests("getUpdates") if r.fault]
    assert sorted(faulted) == ["fail", "rate_limit", "timeout"]
    assert bench.app is not None and bench.app.updater is not None and bench.app.updater.running
    assert rows(bench, "SELECT item_id, value FROM answers") == [("pain_worst", "7")]
    assert (bench.last_keyboard_message(patient.user_id).text or "").startswith("Question 2\n")
    # Still polling: the next tap works as usual.
    await give(bench, patient, "none")  # the red-flag screen (baseline 2.0, issue 35)
    assert rows(bench, "SELECT COUNT(*) FROM answers")[0][0] == 2


async def test_alerts_raised_during_a_long_outage_all_reach_the_group_once_telegram_answers(bench: Bench) -> None:
    first = await bench.join(3003, "P-F3", RT)
    second = await bench.join(3004, "P-F4", RT)
    await answer_until(bench, first, "rf_weakness")
    await answer_until(bench, second, "rf_bladder_bowel")
    tg = bench.standin
    # Telegram goes down for every send; the red flags are answered (and stored) all the same.
    tg.fail_next(10_000, status=502, method="sendMessage", description="Bad Gateway")
    await give(bench, first, "yes")
    await give(bench, second, "yes")
    raised = rows(bench, "SELECT id FROM alerts WHERE severity != 'info' ORDER BY id")
    assert len(raised) >= 2
    # Half an hour of outage, with a few 429s, dropped connections and held requests on the way.
    tg.clear_faults()
    tg.fail_next(6, status=500, method="sendMessage")
    tg.drop_next(4, method="sendMessage")
    tg.timeout_next(2, method="sendMessage", seconds=0.3)
    tg.rate_limit_next(3, retry_after=60, method="sendMessage")
    tg.fail_next(10_000, status=502, method="sendMessage", description="Bad Gateway")
    await bench.advance(timedelta(minutes=30), step=timedelta(minutes=3))
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE delivered_at IS NOT NULL")[0][0] == 0
    assert all(attempts > 0 for (attempts,) in rows(bench, "SELECT attempts FROM alerts WHERE severity != 'info'"))
    # Telegram answers again: within the longest back-off (5 min), every alert is delivered, each exactly once.
    tg.clear_faults()
    await bench.advance(timedelta(minutes=6), step=timedelta(minutes=1))
    assert rows(bench, "SELECT id FROM alerts WHERE severity != 'info' AND delivered_at IS NULL") == []
    in_group = [m for m in bench.group_messages() if any(b.startswith("ack:") for b in _data(m))]
    sent_ids = sorted(int(d.split(":")[1]) for m in in_group for d in _data(m) if d.startswith("ack:"))
    assert sent_ids == sorted(i for (i,) in raised)


async def test_an_update_delivered_again_after_a_restart_is_processed_once(bench: Bench) -> None:
    patient = await bench.join(3005, "P-F5", RT)
    await answer_until(bench, patient, "bg_dose", {"bg_taking": "yes", "bg_product": "skenan"})
    update = bench.standin.send_text(patient.user_id, patient.user_id, "2")  # 2 mg... and a valid bg_per_day
    await bench.settle()
    assert (await current_prompt(bench, patient)).item.id == "bg_per_day"
    await bench.restart()  # Telegram redelivers what it thinks was not confirmed
    before = len(bench.standin.sent_messages(patient.user_id))
    bench.standin.inject_raw(update)
    await bench.settle()
    await bench.standin.wait_for(lambda: not bench.standin.pending_updates, timeout=5)
    assert rows(bench, "SELECT item_id, value FROM answers WHERE item_id IN ('bg_dose', 'bg_per_day')") == [
        ("bg_dose", "2")
    ]
    assert len(bench.standin.sent_messages(patient.user_id)) == before  # no reply either
    assert (await current_prompt(bench, patient)).item.id == "bg_per_day"
    # The same update id twice in one batch is handled once too.
    again = bench.standin.send_text(patient.user_id, patient.user_id, "3")
    bench.standin.inject_raw(again)
    await bench.settle()
    assert rows(bench, "SELECT item_id, value FROM answers WHERE item_id = 'bg_per_day'") == [("bg_per_day", "3")]


async def test_update_ids_are_forgotten_after_a_week_not_before(bench: Bench) -> None:
    """`processed_updates` only guards against redelivery (Telegram keeps an update ≤ 24 h): pruned daily, after 7 days."""
    patient = await bench.join(3006, "P-F6", RT)
    first_week = rows(bench, "SELECT COUNT(*) FROM processed_updates")[0][0]
    assert first_week > 0
    old = bench.standin.send_text(patient.user_id, patient.user_id, "/aide")
    await bench.settle()
    await bench.advance(timedelta(days=6))
    assert rows(bench, "SELECT COUNT(*) FROM processed_updates")[0][0] == first_week + 1  # still remembered
    await bench.patient_says(patient, "/aide")
    await bench.advance(timedelta(days=2))
    # the join and the first /aide are > 7 days old: forgotten; the /aide of day 6 is kept
    assert rows(bench, "SELECT update_id FROM processed_updates") == [(old["update_id"] + 1,)]
    answers_kept = rows(bench, "SELECT COUNT(*) FROM answers")[0][0]
    audit_kept = rows(bench, "SELECT COUNT(*) FROM audit_log")[0][0]
    await bench.advance(timedelta(days=1))
    assert rows(bench, "SELECT COUNT(*) FROM answers")[0][0] >= answers_kept  # the trial's record is never pruned
    assert rows(bench, "SELECT COUNT(*) FROM audit_log")[0][0] >= audit_kept


async def test_the_emergency_advice_reaches_the_patient_after_an_outage_and_a_restart(bench: Bench) -> None:
    """ "Call 15 or 112" is stored with the red-flag answer and retried until Telegram takes it, exactly once."""
    patient = await bench.join(3007, "P-F7", RT)
    await answer_until(bench, patient, "rf_weakness")
    advice = "Appelez maintenant le service de radiothérapie"  # a red flag at inclusion, before the first fraction
    bench.standin.fail_next(10_000, status=502, method="sendMessage", description="Bad Gateway")
    await give(bench, patient, "yes")
    assert not any(advice in t for t in bench.texts(patient.chat_id))
    assert rows(bench, "SELECT kind, sent_at IS NULL, attempts > 0 FROM patient_notices") == [("urgent", 1, 1)]
    await bench.restart()  # the bot goes down during the outage: the notice is in the database, not in memory
    await bench.advance(timedelta(minutes=10), step=timedelta(minutes=1))
    assert not any(advice in t for t in bench.texts(patient.chat_id))  # Telegram is still failing
    bench.standin.clear_faults()
    await bench.advance(timedelta(minutes=6), step=timedelta(minutes=1))  # within the longest back-off (5 min)
    assert sum(advice in t for t in bench.texts(patient.chat_id)) == 1
    assert rows(bench, "SELECT sent_at IS NOT NULL, next_attempt_at FROM patient_notices") == [(1, None)]
    assert rows(bench, "SELECT new_value FROM audit_log WHERE action = 'patient_notice_sent'") == [("urgent",)]
    assert rows(bench, "SELECT advice FROM patient_notices") == [("inclusion",)]
    await bench.advance(timedelta(hours=1), step=timedelta(minutes=5))
    assert sum(advice in t for t in bench.texts(patient.chat_id)) == 1  # once only


def _data(message: Any) -> list[str]:
    return [str(b.get("callback_data")) for row in message.buttons() for b in row]


async def answer_until(bench: Bench, patient: Patient, stop_at: str, answers: dict[str, object] | None = None) -> None:
    """Answer with benign values up to (not including) item `stop_at`."""
    answers = answers or {}
    for _ in range(100):
        prompt = await show_current_question(bench, patient)
        assert prompt is not None, f"the questionnaire ended before {stop_at}"
        if prompt.item.id == stop_at:
            return
        await give(bench, patient, answers.get(prompt.item.id, default_answer(prompt.item)))
    raise AssertionError(stop_at)
