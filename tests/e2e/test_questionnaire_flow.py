"""Answering the instruments through Telegram (issue #3): one tap per answer, branching, corrections, bad input."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from harness import Bench, answer_all, current_prompt, give

RT = date(2027, 3, 3)  # the bench clock starts on Monday 2027-03-01, 10:00 in Paris


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def current_answers(bench: Bench, timepoint: str = "baseline") -> dict[str, object]:
    result = rows(
        bench,
        "SELECT a.item_id, a.value FROM answers a JOIN instances i ON i.id = a.instance_id WHERE i.timepoint = ?"
        " AND a.id IN (SELECT MAX(id) FROM answers GROUP BY instance_id, item_id)",
        timepoint,
    )
    return {item: json.loads(value) for item, value in result}


async def test_the_baseline_is_answered_completely_with_branching_both_ways(bench: Bench) -> None:
    patient = await bench.join(1001, "P-Q1", RT)
    asked = await answer_all(
        bench,
        patient,
        {
            "pain_worst": 8,
            "axial_spont_present": "yes",
            "axial_spont_score": 7,
            "bg_taking": "yes",
            "bg_product": "skenan",
            "bg_dose": "30",
            "bg_per_day": "2",
            "rescue_taking": "no",
            "other_analgesics": ["paracetamol", "ains"],
        },
    )
    # Issue 35: the RELIEVE pain types are in the baseline's second part, the next day (tests/test_baseline_split.py).
    assert "rf_screen" in asked and "rf_weakness" in asked  # branch shown ("Oui, au moins un de ces signes")
    assert "bg_dose" in asked and "bg_patch" not in asked and "rescue_product" not in asked
    assert asked.count("pain_worst") == 1 and len(asked) == len(set(asked))
    answers = current_answers(bench)
    assert (
        answers["pain_worst"] == 8
        and answers["bg_dose"] == 30
        and answers["other_analgesics"] == ["ains", "paracetamol"]
    )
    assert rows(bench, "SELECT status FROM instances WHERE timepoint = 'baseline'") == [("completed",)]
    assert "terminé" in bench.last_text(1001) or "Merci" in "".join(bench.texts(1001)[-3:])
    # one answer row per asked item, no more
    assert rows(bench, "SELECT COUNT(*) FROM answers")[0][0] == len(asked)


async def test_an_answered_question_is_edited_to_show_the_choice_and_lose_its_keyboard(bench: Bench) -> None:
    patient = await bench.join(1002, "P-Q2", RT)
    prompt = await current_prompt(bench, patient)
    await give(bench, patient, 6)
    edited = next(m for m in bench.standin.sent_messages(1002) if m.message_id == prompt.instance.question_message_id)
    assert edited.buttons() == [] and "Votre réponse : 6" in (edited.text or "")
    nxt = bench.last_keyboard_message(1002)
    assert (nxt.text or "").startswith("Question 2\n")


async def test_a_double_tap_and_a_stale_button_change_nothing_and_are_answered(bench: Bench) -> None:
    patient = await bench.join(1003, "P-Q3", RT)
    prompt = await current_prompt(bench, patient)
    data = f"q:{prompt.instance.id}:{prompt.item_index}:4"
    await bench.press_data(patient, data, message_id=prompt.instance.question_message_id)
    query = await bench.press_data(patient, data.replace(":4", ":9"), message_id=prompt.instance.question_message_id)
    assert "plus active" in (bench.standin.callback_answer(query) or {}).get("text", "")
    forged = await bench.press_data(patient, "q:99999:0:3")
    assert bench.standin.callback_answer(forged) is not None
    garbage = await bench.press_data(patient, "hello")
    assert bench.standin.callback_answer(garbage) is not None
    assert current_answers(bench) == {"pain_worst": 4}
    unanswered = [r for r in bench.standin.requests("answerCallbackQuery") if r.status != 200]
    assert unanswered == []


async def test_a_correction_is_a_new_row_with_an_audit_entry_never_an_overwrite(bench: Bench) -> None:
    patient = await bench.join(1004, "P-Q4", RT)
    await give(bench, patient, 8)
    await bench.press(patient, "↩️ Modifier ma réponse précédente")
    prompt = await current_prompt(bench, patient)
    assert prompt.item.id == "pain_worst" and prompt.correcting
    await give(bench, patient, 5)
    prompt = await current_prompt(bench, patient)
    assert prompt.item.id == "rf_screen"  # the baseline 2.0's second question (issue 35)
    assert rows(bench, "SELECT value, is_correction FROM answers WHERE item_id = 'pain_worst' ORDER BY id") == [
        ("8", 0),
        ("5", 1),
    ]
    audit = rows(bench, "SELECT old_value, new_value FROM audit_log WHERE action = 'correct'")
    assert audit == [("8", "5")]
    assert current_answers(bench)["pain_worst"] == 5


async def test_typed_numbers_are_accepted_in_every_usual_form_and_bad_ones_re_prompted(bench: Bench) -> None:
    patient = await bench.join(1005, "P-Q5", RT)
    await answer_all_until(bench, patient, "bg_dose", {"bg_taking": "yes", "bg_product": "skenan"})
    for bad in ("-1", "abc", "1e3", "7/10", "", "100000"):
        if bad:
            await bench.patient_says(patient, bad)
            assert "Merci d'écrire un nombre" in bench.last_text(1005), bad
    assert (await current_prompt(bench, patient)).item.id == "bg_dose"
    await bench.patient_says(patient, " 7,5 ")
    prompt = await current_prompt(bench, patient)
    assert prompt.item.id == "bg_per_day"
    await bench.patient_says(patient, "2")
    answers = current_answers(bench)
    assert answers["bg_dose"] == 7.5 and answers["bg_per_day"] == 2


async def answer_all_until(bench: Bench, patient: object, stop_at: str, answers: dict[str, object]) -> None:
    from harness import default_answer

    for _ in range(100):
        prompt = await current_prompt(bench, patient)
        if prompt.item.id == stop_at:
            return
        await give(bench, patient, answers.get(prompt.item.id, default_answer(prompt.item)))
    raise AssertionError(stop_at)


async def test_stickers_photos_voice_and_unknown_commands_bring_the_patient_back(bench: Bench) -> None:
    patient = await bench.join(1006, "P-Q6", RT)
    await give(bench, patient, 3)
    for inject in (
        lambda: bench.standin.send_sticker(1006, 1006),
        lambda: bench.standin.send_photo(1006, 1006),
        lambda: bench.standin.send_voice(1006, 1006),
        lambda: bench.standin.send_location(1006, 1006),
        lambda: bench.standin.send_text(1006, 1006, "/inconnue"),
        lambda: bench.standin.send_text(1006, 1006, "bonjour, j'ai mal"),
    ):
        before = len(bench.standin.sent_messages(1006))
        inject()
        await bench.settle()
        assert len(bench.standin.sent_messages(1006)) > before
        # the question again (under "passed on" when the patient's message is kept for the team: one message)
        assert "Question 2\n" in (bench.last_keyboard_message(1006).text or "")
    assert current_answers(bench) == {"pain_worst": 3}


async def test_a_forwarded_or_edited_message_is_never_taken_as_an_answer(bench: Bench) -> None:
    patient = await bench.join(1007, "P-Q7", RT)
    await answer_all_until(bench, patient, "bg_dose", {"bg_taking": "yes", "bg_product": "skenan"})
    bench.standin.send_text(1007, 1007, "30", forward=True)
    await bench.settle()
    assert "transférés" in " ".join(bench.texts(1007)[-3:])
    # Not an answer, but not lost either: kept as the patient's message and passed on to the team.
    assert rows(bench, "SELECT kind, text FROM patient_messages") == [("text", "30")]
    await bench.patient_says(patient, "30")
    last_user = [m for m in bench.standin.messages(1007) if not m.from_bot][-1]
    bench.standin.edit_text(1007, 1007, last_user.message_id, "60")
    await bench.settle()
    assert current_answers(bench)["bg_dose"] == 30
    assert "modifiés" in " ".join(bench.texts(1007)[-2:])


async def test_after_a_restart_the_patient_continues_at_the_current_question(bench: Bench) -> None:
    patient = await bench.join(1008, "P-Q8", RT)
    await give(bench, patient, 5)
    await give(bench, patient, "some")  # the red-flag screen of the baseline 2.0 (issue 35)
    await bench.restart()
    await bench.patient_says(patient, "/reprendre")
    assert (bench.last_keyboard_message(1008).text or "").startswith("Question 3\n")
    asked = await answer_all(bench, patient)
    assert "pain_worst" not in asked and "rf_screen" not in asked and asked[0] == "rf_weakness"
    assert rows(bench, "SELECT status FROM instances WHERE timepoint = 'baseline'") == [("completed",)]
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE item_id = 'pain_worst'")[0][0] == 1


async def test_a_red_flag_tells_the_patient_to_call_15_before_the_questionnaire_continues(bench: Bench) -> None:
    patient = await bench.join(1009, "P-Q9", RT)
    await answer_all_until(bench, patient, "rf_weakness", {})
    await give(bench, patient, "yes")
    texts = bench.texts(1009)
    emergency = max(i for i, t in enumerate(texts) if "15 (SAMU)" in t and "112" in t and "114" in t)
    assert texts[emergency + 1].startswith("Question")
    assert "Appelez maintenant" in texts[emergency]
    assert rows(bench, "SELECT rule_id, severity FROM alerts") == [("rf_weakness_inclusion", "urgent")]
