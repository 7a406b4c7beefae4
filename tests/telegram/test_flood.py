"""Issue 39, item 1: an *enrolled* patient who floods must not stall everyone else.

Through the real Application and the stand-in with Telegram's per-chat limits on (`bot.standin.limits`): one
enrolled patient sends hundreds of texts in a few seconds; meanwhile another patient answers a questionnaire (each
tap must bring the next question within a second) and a third writes a red flag (the urgent alert must reach the
clinicians' group within two seconds). Every flooder message is stored, and a red flag inside the flood alerts.
"""

from __future__ import annotations

import asyncio
import csv
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from harness import Bench, Patient, current_prompt, default_answer
from telegram import Update
from telegram.ext import SimpleUpdateProcessor

from bot.export.csv_export import export_messages
from bot.telegram.inbox import InboxProcessor
from bot.telegram.pacing import FloodGuard

RT = date(2027, 3, 3)
RED_FLAG = "Je ne sens plus mes jambes depuis ce matin et je n'arrive plus a uriner"
#: No digit and not "oui"/"non": never taken as an answer to the flooder's pending scale question.
FLOOD_TEXT = "encore une question pour l'équipe"
WAIT = 600.0  # generous: the figures are asserted, not the waits (a stalled bot must give a number, not a hang)


@dataclass
class FloodFigures:
    replies: list[float] = field(default_factory=list)  # press → next question, seconds
    red_flag: float = float("inf")  # red-flag text sent → urgent alert in the group, seconds
    flood_seconds: float = 0.0  # how long the flood took to send


def _rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


async def _answer_by_tap(bench: Bench, patient: Patient) -> float | None:
    """Tap the default answer of the current button question; return the seconds until the next question shows
    (None once the questionnaire reaches a question that is not answered by one tap)."""
    prompt = await current_prompt(bench, patient)
    if prompt is None or prompt.item.type not in ("scale", "yesno", "single"):
        return None
    data = f"q:{prompt.instance.id}:{prompt.item_index}:{default_answer(prompt.item)}"
    sent = len(bench.standin.sent_messages(patient.user_id))
    pressed = time.monotonic()
    bench.standin.press_button(patient.user_id, patient.user_id, prompt.instance.question_message_id, data)
    await bench.standin.wait_for(lambda: len(bench.standin.sent_messages(patient.user_id)) > sent, timeout=WAIT)
    return time.monotonic() - pressed


async def run_flood(bench: Bench, *, messages: int, seconds: float, taps: int = 8) -> FloodFigures:
    """Three enrolled patients; one floods while another answers and a third writes a red flag."""
    answering = await bench.join(97_001, "FL-ANS", RT)
    warning = await bench.join(97_002, "FL-RED", RT)
    flooder = await bench.join(97_003, "FL-FLO", RT)
    await asyncio.sleep(3.5)  # every chat's budget, spent by joining, refills
    figures = FloodFigures()
    batches = max(1, messages // 10)

    async def flood() -> None:
        started = time.monotonic()
        for n in range(messages):
            bench.standin.send_text(flooder.user_id, flooder.user_id, RED_FLAG if n == messages // 2 else FLOOD_TEXT)
            if n % 10 == 9:
                await asyncio.sleep(seconds / batches)
        figures.flood_seconds = time.monotonic() - started

    async def answer() -> None:
        await asyncio.sleep(0.3)
        for _ in range(taps):
            latency = await _answer_by_tap(bench, answering)
            if latency is None:
                break
            figures.replies.append(latency)
            await asyncio.sleep(1.2)  # a brisk human pace, inside the patient's own one-a-second budget

    async def warn() -> None:
        await asyncio.sleep(seconds * 0.6)
        before = len(bench.group_messages())
        sent = time.monotonic()
        bench.standin.send_text(warning.user_id, warning.user_id, RED_FLAG)
        await bench.standin.wait_for(
            lambda: any("FL-RED" in (m.text or "") for m in bench.group_messages()[before:]), timeout=WAIT
        )
        figures.red_flag = time.monotonic() - sent

    await asyncio.gather(flood(), answer(), warn())
    await bench.settle(timeout=WAIT)
    return figures


async def _check_flood(tmp_path: Path, *, messages: int, seconds: float) -> FloodFigures:
    bench = Bench(tmp_path, telegram_limits=True)
    await bench.start()
    try:
        figures = await run_flood(bench, messages=messages, seconds=seconds)
        print(
            f"\n{messages} in {seconds:.0f} s (sent in {figures.flood_seconds:.1f} s): worst reply "
            f"{max(figures.replies):.3f} s of {len(figures.replies)}, red flag {figures.red_flag:.3f} s"
        )
        assert len(figures.replies) >= 5, figures
        assert max(figures.replies) <= 1.0, figures.replies
        assert figures.red_flag <= 2.0, figures.red_flag
        # every flooder message is stored, the red flag inside the flood included, and it alerted
        stored = _rows(
            bench,
            "SELECT COUNT(*) FROM patient_messages m JOIN patients p ON p.id = m.patient_id "
            "WHERE p.study_id = 'FL-FLO'",
        )[0][0]
        assert stored == messages
        # ... and in the statisticians' export of the patients' own messages (`export --format messages`)
        assert bench.services is not None
        exported = await export_messages(bench.services.store, tmp_path / "messages.csv")
        with open(tmp_path / "messages.csv", encoding="utf-8", newline="") as handle:
            flooder_rows = [row for row in csv.DictReader(handle) if "FL-FLO" in row.values()]
        assert exported >= messages and len(flooder_rows) == messages
        await bench.tick()  # deliveries still owed (none expected: the alert goes out at once)
        await bench.standin.wait_for(
            lambda: any(
                "FL-FLO" in (m.text or "") and "ALERTE URGENTE" in (m.text or "") for m in bench.group_messages()
            ),
            timeout=10,
        )
        assert (
            _rows(
                bench,
                "SELECT COUNT(*) FROM alerts a JOIN patients p ON p.id = a.patient_id "
                "WHERE p.study_id = 'FL-FLO' AND a.severity = 'urgent'",
            )[0][0]
            == 1
        )
        # the flooder still got its urgent advice (never muted), and Telegram never had to refuse anything
        assert any("15" in t for t in bench.texts(97_003))
        assert bench.standin.stats.flood_limited == 0
        return figures
    finally:
        await bench.stop()


@pytest.mark.slow
async def test_an_enrolled_patient_sending_500_texts_in_5_s_does_not_stall_the_others(tmp_path: Path) -> None:
    await _check_flood(tmp_path, messages=500, seconds=5.0)


@pytest.mark.slow
async def test_an_enrolled_patient_sending_40_texts_in_8_s_does_not_stall_the_others(tmp_path: Path) -> None:
    await _check_flood(tmp_path, messages=40, seconds=8.0)


def test_the_guard_counts_arrivals_and_mutes_the_backlog_until_its_last_message() -> None:
    """Counted as they arrive, not as handlers get to them; once a sender floods, the messages still waiting are
    not answered (one a minute is), and the last of the backlog is, once the sender slowed down."""
    now = [0.0]
    guard = FloodGuard(messages=10, window=10.0, reply_every=60.0, clock=lambda: now[0])
    for update_id in range(1, 12):  # 11 in a second: arrived before any handler ran
        guard.arrived(7, update_id)
        now[0] += 0.1
    assert guard.flooding(7)
    assert not guard.may_reply(7, 1), "arrived before the flood was noticed, handled after: not answered"
    assert guard.may_reply(7, 11), "the minute's one reply"
    assert guard.may_reply(8, 99), "another sender is not affected"
    for update_id in range(1, 11):
        guard.finished(7, update_id)
    now[0] += 1.0
    guard.arrived(7, 12)  # the 12th message, within the minute: not answered while the others are counted
    assert not guard.may_reply(7, 12)
    guard.finished(7, 11)
    now[0] += 11.0  # slowed down: the arrivals left the window, and message 12 is the last one waiting
    assert guard.may_reply(7, 12) and not guard.flooding(7)


async def test_one_sender_holds_one_slot_at_most_and_the_others_are_not_queued_behind_it() -> None:
    """`InboxProcessor`: a sender's updates wait for their turn before they take a handler slot."""
    running: dict[int, int] = {}
    most: dict[int, int] = {}
    order: list[int] = []

    class Inbox:  # the inbox's bookkeeping only: nothing stored, nothing handled before
        def claim(self, update_id: int) -> bool:
            return True

        async def handled_before(self, update_id: int) -> bool:
            return False

        async def done(self, update_id: int) -> None:
            return None

        def release(self, update_id: int) -> None:
            return None

    processor = InboxProcessor(SimpleUpdateProcessor(4), Inbox())  # type: ignore[arg-type]

    async def handler(user: int, update_id: int, seconds: float) -> None:
        running[user] = running.get(user, 0) + 1
        most[user] = max(most.get(user, 0), running[user])
        await asyncio.sleep(seconds)
        order.append(update_id)
        running[user] -= 1

    def update(update_id: int, user: int) -> Update:
        return Update.de_json(
            {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": 0,
                    "chat": {"id": user, "type": "private"},
                    "from": {"id": user, "is_bot": False, "first_name": "X"},
                    "text": "x",
                },
            },
            None,
        )  # type: ignore[arg-type]

    flood = [asyncio.create_task(processor.process_update(update(n, 1), handler(1, n, 0.05))) for n in range(1, 41)]
    await asyncio.sleep(0)
    started = time.monotonic()
    await processor.process_update(update(100, 2), handler(2, 100, 0.0))
    other = time.monotonic() - started
    await asyncio.gather(*flood)
    assert most[1] == 1, "the flooder held one slot at most"
    assert other < 0.2, other  # not behind the flooder's 40 × 50 ms
    assert [n for n in order if n != 100] == list(range(1, 41)), "a sender's updates in the order they arrived"
