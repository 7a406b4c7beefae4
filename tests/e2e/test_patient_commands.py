"""Patient commands (issue #4): /aide, /pause, /reprendre, /stop with its confirmation."""

from __future__ import annotations

import sqlite3
from datetime import date

from harness import CLINICIAN_CHAT, Bench, current_prompt, give

RT = date(2027, 3, 3)


def status(bench: Bench) -> str:
    return sqlite3.connect(bench.database).execute("SELECT status FROM patients").fetchone()[0]


async def test_help_gives_the_commands_and_the_emergency_numbers(bench: Bench) -> None:
    patient = await bench.join(6001, "H-1", RT)
    before = len(bench.standin.sent_messages(6001))
    await bench.patient_says(patient, "/aide")
    text = bench.standin.sent_messages(6001)[before].text or ""  # the help; the open question follows (item 5)
    assert "/reprendre" in text and "/pause" in text and "/stop" in text and "15" in text and "114" in text
    await bench.patient_says(6999, "/aide")  # a stranger
    assert "demander votre lien" in bench.last_text(6999)


async def test_help_sends_the_open_question_again_after_the_help_text(bench: Bench) -> None:
    """Issue 39, item 5: /aide in the middle of a questionnaire brings the patient back to the current question,
    as /reprendre does; the earlier copy of the question loses its buttons, so only one keyboard is live."""
    patient = await bench.join(6011, "H-11", RT)
    await give(bench, patient, 5)
    first_copy = bench.last_keyboard_message(6011)
    before = len(bench.standin.sent_messages(6011))
    await bench.patient_says(patient, "/aide")
    sent = bench.standin.sent_messages(6011)[before:]
    assert len(sent) == 2 and "/reprendre" in (sent[0].text or "")
    assert (sent[1].text or "").startswith("Question 2\n") and sent[1].buttons()
    assert bench.last_keyboard_message(6011).message_id == sent[1].message_id != first_copy.message_id
    assert not next(m for m in bench.standin.sent_messages(6011) if m.message_id == first_copy.message_id).buttons()
    prompt = await current_prompt(bench, patient)
    assert prompt.item.id == "rf_screen"  # the baseline 2.0's second question (issue 35)


async def test_help_without_an_open_question_sends_only_the_help(bench: Bench) -> None:
    patient = await bench.join(6012, "H-12", RT)
    await bench.patient_says(patient, "/pause")
    before = len(bench.standin.sent_messages(6012))
    await bench.patient_says(patient, "/aide")
    sent = bench.standin.sent_messages(6012)[before:]
    assert len(sent) == 1 and "/reprendre" in (sent[0].text or "")


async def test_pause_tells_the_clinicians_and_reprendre_resumes_at_the_current_question(bench: Bench) -> None:
    patient = await bench.join(6002, "H-2", RT)
    await give(bench, patient, 5)
    await bench.patient_says(patient, "/pause")
    assert status(bench) == "paused" and "pause" in bench.last_text(6002)
    await bench.tick()
    assert any(
        "Suivi mis en pause" in (m.text or "") and "H-2" in (m.text or "")
        for m in bench.standin.sent_messages(CLINICIAN_CHAT)
    )
    await bench.patient_says(patient, "/reprendre")
    assert status(bench) == "active"
    assert (bench.last_keyboard_message(6002).text or "").startswith("Question 2\n")
    prompt = await current_prompt(bench, patient)
    assert prompt.item.id == "rf_screen"  # the baseline 2.0's second question (issue 35)


async def test_stop_asks_for_confirmation_and_no_keeps_the_follow_up(bench: Bench) -> None:
    patient = await bench.join(6003, "H-3", RT)
    await bench.patient_says(patient, "/stop")
    assert "Voulez-vous vraiment arrêter" in bench.last_text(6003)
    await bench.press(patient, "Non, continuer")
    assert status(bench) == "active"
    await bench.patient_says(patient, "/stop")
    await bench.press(patient, "Oui, arrêter")
    assert status(bench) == "withdrawn"
    count = len(bench.standin.sent_messages(6003))
    for text in ("/aide", "/reprendre", "/pause", "7"):
        await bench.patient_says(patient, text)
    assert len(bench.standin.sent_messages(6003)) == count  # never a message again
    states = sqlite3.connect(bench.database).execute("SELECT DISTINCT status FROM instances").fetchall()
    assert states == [("cancelled",)]


async def test_a_stop_press_counts_only_on_the_bots_own_confirmation_message(bench: Bench) -> None:
    """Issue 39, item 7: `stop:yes` forged under another message (a question's keyboard), or pressed again under
    a confirmation whose keyboard is gone, withdraws nobody."""
    patient = await bench.join(6013, "H-13", RT)
    question = bench.last_keyboard_message(6013)
    assert not any(b["callback_data"].startswith("stop:") for row in question.buttons() for b in row)
    await bench.press_data(patient, "stop:yes", message_id=question.message_id)
    assert status(bench) == "active"
    await bench.patient_says(patient, "/stop")
    confirmation = bench.last_keyboard_message(6013)
    await bench.press(patient, "Non, continuer")
    await bench.press_data(patient, "stop:yes", message_id=confirmation.message_id)  # its keyboard was removed
    assert status(bench) == "active"
    await bench.patient_says(patient, "/stop")
    await bench.press(patient, "Oui, arrêter")  # the real confirmation still works
    assert status(bench) == "withdrawn"
