"""Bot API calls per answer (issue #18): what each tap costs, counted on the stand-in's request log.

Every call a patient's gesture costs is one the bot makes under Telegram's limits (sends and edits share the chat's
budget of about one a second) and CPU it spends. The floor, kept here so it cannot creep up again:
- a tap on an answer: answerCallbackQuery (the client's spinner, free), one editMessageText (the answered question
  shows the choice and loses its buttons: text and keyboard in one call), one sendMessage (the next question, or
  the summary after the last one);
- a typed answer: the same without the callback answer;
- a tick on a multiple choice: the callback answer and one editMessageReplyMarkup (the text does not change, so it
  is not sent again);
- words typed in the middle of a questionnaire: "passed on" and the question asked again in one message, and the
  earlier copy of the question loses its buttons;
- choosing a time at enrolment: the thanks and the first question in one message.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from harness import Bench, current_prompt, default_answer, give

from bot.standin.state import Request

RT = date(2027, 3, 3)


def calls(bench: Bench, since: int, chat_id: int) -> Counter[str]:
    """Calls made after the `since`-th request, in `chat_id` or with no chat (callback answers); polls left out."""
    counted: Counter[str] = Counter()
    for request in bench.standin.requests()[since:]:
        if request.method == "getUpdates" or not _in_chat(request, chat_id):
            continue
        counted[request.method] += 1
    return counted


def _in_chat(request: Request, chat_id: int) -> bool:
    return request.chat_id is None or int(request.chat_id) == chat_id


async def test_a_whole_questionnaire_costs_three_calls_per_tap_and_two_per_typed_answer(bench: Bench) -> None:
    patient = await bench.join(1801, "P-C1", RT)
    since = len(bench.standin.requests())
    asked: list[str] = []
    taps = typed = ticks = 0
    # a basal opioid: its dose and doses a day are typed
    chosen: dict[str, object] = {"bg_taking": "yes", "bg_product": "skenan", "bg_dose": 30, "bg_per_day": 2}
    while (prompt := await current_prompt(bench, patient)) is not None:
        value = chosen.get(prompt.item.id, default_answer(prompt.item))
        if prompt.item.type == "multi":
            value = [prompt.item.choices[0].code, prompt.item.choices[1].code]  # two ticks, then "Confirm"
            ticks += len(value)
        if prompt.item.type in ("number", "text") and value not in ("_skip", "_unknown"):
            typed += 1
        else:
            taps += 1
        asked.append(prompt.item.id)
        await give(bench, patient, value)
        assert len(asked) < 100
    await bench.standin.wait_idle()
    assert ticks and typed and taps  # the baseline has all three kinds of gesture
    answers = len(asked)
    assert calls(bench, since, patient.chat_id) == {
        "answerCallbackQuery": taps + ticks,
        "editMessageText": answers,  # each answered question shows its answer, once
        "editMessageReplyMarkup": ticks,  # a tick redraws the buttons only
        "sendMessage": answers,  # the next question each time, the summary after the last answer
    }
    assert sum(calls(bench, since, patient.chat_id).values()) == 3 * taps + 2 * typed + 2 * ticks
    assert "terminé" in bench.last_text(patient.chat_id)


async def test_a_tick_edits_only_the_buttons_and_the_title_of_the_first_question_stays(bench: Bench) -> None:
    patient = await bench.join(1802, "P-C2", RT)
    while (prompt := await current_prompt(bench, patient)).item.type != "multi":
        await give(bench, patient, default_answer(prompt.item))
    message_id = prompt.instance.question_message_id
    before = bench.standin.world.chats[patient.chat_id].find(message_id)
    assert before is not None
    text = before.text
    since = len(bench.standin.requests())
    code = prompt.item.choices[0].code
    bench.standin.press_button(
        patient.user_id, patient.chat_id, message_id, f"m:{prompt.instance.id}:{prompt.item_index}:{code}"
    )
    await bench.settle()
    assert calls(bench, since, patient.chat_id) == {"answerCallbackQuery": 1, "editMessageReplyMarkup": 1}
    after = bench.standin.world.chats[patient.chat_id].find(message_id)
    assert after is not None and after.text == text
    assert any(label.startswith("☑️") for label in after.button_texts())


async def test_words_typed_mid_questionnaire_cost_one_message_and_one_edit(bench: Bench) -> None:
    patient = await bench.join(1803, "P-C3", RT)
    await give(bench, patient, 3)
    old_question = (await current_prompt(bench, patient)).instance.question_message_id
    since = len(bench.standin.requests())
    await bench.patient_says(patient, "j'ai une question sur mon rendez-vous de jeudi")
    await bench.standin.wait_idle()
    assert calls(bench, since, patient.chat_id) == {"sendMessage": 1, "editMessageReplyMarkup": 1}
    reply = bench.last_keyboard_message(patient.chat_id)
    assert "transmis à votre équipe" in (reply.text or "") and "Question 2\n" in (reply.text or "")
    old = bench.standin.world.chats[patient.chat_id].find(old_question)
    assert old is not None and old.buttons() == []  # only one live keyboard for the question
    assert (await current_prompt(bench, patient)).instance.question_message_id == reply.message_id


async def test_choosing_a_time_brings_the_thanks_and_the_first_question_in_one_message(bench: Bench) -> None:
    code = await bench.enroll("P-C4", RT)
    await bench.patient_says(1804, f"/start {code}")
    await bench.press(1804, "J'ai lu et compris")
    since = len(bench.standin.requests())
    await bench.press(1804, "Le matin")
    assert calls(bench, since, 1804) == {"answerCallbackQuery": 1, "editMessageReplyMarkup": 1, "sendMessage": 1}
    first = bench.last_keyboard_message(1804)
    assert "Voici votre premier questionnaire" in (first.text or "") and "Question 1\n" in (first.text or "")
    assert (await current_prompt(bench, 1804)).instance.question_message_id == first.message_id


async def test_the_next_question_does_not_wait_for_the_callback_answer_nor_depend_on_it(bench: Bench) -> None:
    """The spinner's answer goes beside the next question, not before it; Telegram refusing it (a query it finds
    too old after a long wait) costs the patient nothing: the answer is stored and the next question comes."""
    patient = await bench.join(1805, "P-C5", RT)
    await give(bench, patient, 3)
    bench.standin.fail_next(
        1,
        status=400,
        method="answerCallbackQuery",
        description="Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    since = len(bench.standin.requests())
    await give(bench, patient, "some")  # the red-flag screen, second question of the baseline 2.0 (issue 35)
    await bench.standin.wait_idle()
    assert (await current_prompt(bench, patient)).position == 3
    assert bench.last_keyboard_message(patient.chat_id).text.startswith("Question 3\n")  # type: ignore[union-attr]
    made = [r.method for r in bench.standin.requests()[since:] if r.method != "getUpdates"]
    assert sorted(made) == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    # both left at once: the next question was not sent only after the callback answer had come back
    ack = next(r for r in bench.standin.requests()[since:] if r.method == "answerCallbackQuery")
    send = next(r for r in bench.standin.requests()[since:] if r.method == "sendMessage")
    assert abs(send.time - ack.time) < 0.5
