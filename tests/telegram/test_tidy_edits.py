"""The answered question shows the choice, later (issue #18, `bot.telegram.tidy_edits`): the real Application, its
pacer and the stand-in enforcing Telegram's limits.

While a patient answers faster than their chat's budget (about one message a second), the edits wait as records,
with one sender for the chat — not one task each holding its update alive — and once the patient pauses, every
answered question shows its answer, in the order answered. A failed edit does not stop the ones after it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path

from harness import Bench, current_prompt, default_answer, give

from bot.telegram.tidy_edits import tidy_edits

RT = date(2027, 3, 3)


def _tidy_senders() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("tidy-")]


async def test_edits_wait_as_records_with_one_sender_per_chat_then_all_show_in_order(tmp_path: Path) -> None:
    bench = await Bench(tmp_path, telegram_limits=True).start()
    try:
        patient = await bench.join(1901, "P-T1", RT)
        await bench.standin.wait_idle(timeout=10, quiet=0.5)
        questions: list[int] = []
        most_waiting = 0
        for _ in range(3):  # each edit then waits for an untouched budget: about 3 s apart
            prompt = await current_prompt(bench, patient)
            questions.append(prompt.instance.question_message_id)
            await give(bench, patient, default_answer(prompt.item))
            most_waiting = max(most_waiting, tidy_edits(bench.app).waiting(patient.chat_id))
            assert len(_tidy_senders()) <= 1
        assert most_waiting >= 2, "answering faster than the chat's budget, the edits wait"
        since = len(bench.standin.requests())
        deadline = time.monotonic() + 20
        while tidy_edits(bench.app).waiting(patient.chat_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert tidy_edits(bench.app).waiting(patient.chat_id) == 0 and _tidy_senders() == []
        edited = [
            int(r.params["message_id"])
            for r in bench.standin.requests()
            if r.method == "editMessageText" and r.ok and r.chat_id is not None and int(r.chat_id) == patient.chat_id
        ]
        assert edited == questions, "each answered question edited once, in the order answered"
        assert any(r.method == "editMessageText" for r in bench.standin.requests()[since:]), "some waited"
        for message_id in questions:
            shown = bench.standin.world.chats[patient.chat_id].find(message_id)
            assert shown is not None and shown.buttons() == [] and "Votre réponse" in (shown.text or ""), shown
        assert bench.standin.stats.rate_limited == 0
    finally:
        await bench.stop()


async def test_a_failed_edit_is_logged_and_the_next_one_is_still_sent(bench: Bench) -> None:
    patient = await bench.join(1902, "P-T2", RT)
    questions: list[int] = []
    bench.standin.fail_next(
        1, status=400, method="editMessageText", description="Bad Request: message to edit not found"
    )
    for _ in range(2):
        prompt = await current_prompt(bench, patient)
        questions.append(prompt.instance.question_message_id)
        await give(bench, patient, default_answer(prompt.item))
    await bench.standin.wait_idle(timeout=10, quiet=0.3)
    first, second = (bench.standin.world.chats[patient.chat_id].find(m) for m in questions)
    assert first is not None and first.buttons() != [], "the refused edit left the first question as it was"
    assert second is not None and second.buttons() == [] and "Votre réponse" in (second.text or "")
    assert tidy_edits(bench.app).waiting(patient.chat_id) == 0


async def test_a_waiting_edit_of_the_same_message_is_superseded_by_the_later_one(tmp_path: Path) -> None:
    """Issue 39: only the last text of a message shows, so a waiting edit of it is replaced, not sent as well."""
    bench = await Bench(tmp_path, telegram_limits=True).start()
    try:
        patient = await bench.join(1903, "P-T3", RT)
        first = (await current_prompt(bench, patient)).instance.question_message_id
        other = bench.standin.sent_messages(patient.chat_id)[0].message_id
        edits = tidy_edits(bench.app)
        edits.show_answer(patient.chat_id, other, "Un", 1)  # being sent (waits for an untouched budget)
        edits.show_answer(patient.chat_id, first, "Deux", 2)
        edits.show_answer(patient.chat_id, first, "Trois", 3)  # supersedes "Deux"
        assert edits.waiting(patient.chat_id) == 2 and edits.superseded == 1
        deadline = time.monotonic() + 20
        while edits.waiting(patient.chat_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        sent = [
            (int(r.params["message_id"]), r.params["text"])
            for r in bench.standin.requests()
            if r.method == "editMessageText" and r.ok and r.chat_id is not None and int(r.chat_id) == patient.chat_id
        ]
        assert sent == [(other, "Un"), (first, "Trois")]
        assert bench.standin.world.chats[patient.chat_id].find(first).text == "Trois"
    finally:
        await bench.stop()
