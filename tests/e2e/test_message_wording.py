"""A patient's own words are acknowledged as a message, never as "this answer" (issue 39, item 6).

Through the real Application and the stand-in: a plain sentence and a flagged one (whose advice goes through the
patient-notice outbox) say "message"; a worrying tapped answer still says "answer". The wording for every hour of a
site's week is checked on `advice_text` itself.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from harness import Bench, Patient, answer_all

from bot.bootstrap import QUESTIONNAIRES_DIR
from bot.delivery.advice_text import advice_text
from bot.domain.sites import load_sites

RT = date(2027, 3, 3)
PARIS = ZoneInfo("Europe/Paris")
ANSWER_WORDS = ("cette réponse", "Votre réponse a été transmise")


async def says(bench: Bench, patient: Patient, text: str) -> str:
    before = len(bench.texts(patient.chat_id))
    await bench.patient_says(patient, text)
    await bench.tick()  # a flagged message's advice may be sent by the outbox
    return "\n".join(bench.texts(patient.chat_id)[before:])


async def test_a_plain_message_is_acknowledged_as_a_message(bench: Bench) -> None:
    patient = await bench.join(7101, "P-W1", RT)
    await answer_all(bench, patient)
    reply = await says(bench, patient, "je voulais vous dire que tout va bien")
    assert "Votre message est transmis à votre équipe soignante." in reply
    assert not any(words in reply for words in ANSWER_WORDS), reply


async def test_a_flagged_message_gets_advice_that_speaks_of_the_message(bench: Bench) -> None:
    patient = await bench.join(7102, "P-W2", RT)
    await answer_all(bench, patient)
    reply = await says(bench, patient, "je ne sens plus mes jambes depuis ce matin")
    assert "15 (SAMU)" in reply and ("ce message" in reply or "Votre message a été transmis" in reply), reply
    assert not any(words in reply for words in ANSWER_WORDS), reply


@pytest.mark.parametrize("advice", ["neuro", "toxicity", "fever", "urgent", "same_day", "same_day_now"])
@pytest.mark.parametrize("hour", [3, 10, 16, 21])
def test_every_advice_about_a_message_says_message_at_every_hour(advice: str, hour: int) -> None:
    sites = load_sites(QUESTIONNAIRES_DIR / "sites.yaml")
    for code in sites.codes:
        for day in (5, 6, 8):  # Friday, Saturday, Monday
            moment = datetime(2027, 3, day, hour, 0, tzinfo=PARIS)
            about_message = advice_text(advice, sites.get(code), moment, "message")
            assert not any(words in about_message for words in ANSWER_WORDS), about_message
            assert "réponse" not in about_message.split("\n")[0], about_message
            about_answer = advice_text(advice, sites.get(code), moment)
            assert "message" not in about_answer.split("\n")[0], about_answer
    assert "Votre message a été transmis" in advice_text(
        advice, None, datetime(2027, 3, 5, hour, tzinfo=PARIS), "message"
    ) or advice.startswith("same_day")
