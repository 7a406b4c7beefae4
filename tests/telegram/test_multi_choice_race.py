"""Two concurrent taps on a multiple-choice question (issue #20, "Multiple-choice race").

The application handles updates concurrently (`concurrent_updates(16)`). "Valider" used to read the ticked options
in one transaction and submit in another: a tick handled in between was stored, acknowledged to the patient as
ticked, then cleared by the submit and missing from the answer. Now the value is built inside the submitting
transaction: a tick either makes it into the answer or is refused as stale — never acknowledged and lost.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from harness import Bench, current_prompt, default_answer, give

from bot.telegram.handlers.patient import stale_text

RT = date(2027, 3, 3)


async def test_a_tick_and_valider_tapped_together_never_lose_an_acknowledged_tick(bench: Bench) -> None:
    patient = await bench.join(1201, "P-RACE", RT)
    for _ in range(100):
        prompt = await current_prompt(bench, patient)
        assert prompt is not None, "the baseline has no multiple-choice question"
        if prompt.item.type == "multi":
            break
        await give(bench, patient, default_answer(prompt.item))
    item, instance_id, index = prompt.item, prompt.instance.id, prompt.item_index
    first, second = [choice.code for choice in item.choices if not choice.code.startswith("_")][:2]
    message_id = prompt.instance.question_message_id
    toggle = f"m:{instance_id}:{index}:"
    bench.standin.press_button(patient.user_id, patient.user_id, message_id, toggle + first)
    await bench.settle()

    # "Valider" and a second tick in the same getUpdates batch, Valider first: handled concurrently.
    bench.standin.press_button(patient.user_id, patient.user_id, message_id, toggle + "_ok", strict=False)
    late_tick = bench.standin.press_button(patient.user_id, patient.user_id, message_id, toggle + second, strict=False)
    await bench.settle()

    with sqlite3.connect(bench.database) as conn:
        stored = [
            json.loads(v)
            for (v,) in conn.execute(
                "SELECT value FROM answers WHERE instance_id = ? AND item_id = ?", (instance_id, item.id)
            )
        ]
    assert len(stored) == 1, stored
    answer = set(stored[0])
    told = (bench.standin.callback_answer(late_tick) or {}).get("text") or ""
    if second in answer:
        assert answer == {first, second}
    else:
        # The tick came after the submit: the patient must be told it did not count, not shown it as ticked.
        assert answer == {first}
        assert told == stale_text(), f"the late tick was acknowledged ({told!r}) but is missing from {answer}"
