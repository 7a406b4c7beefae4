"""Clinical safety, round two (issue 14), end to end through the stand-in: every journey the clinical review found
silent now alerts, advises what is true at that hour, and loses nothing the patient said."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from harness import Bench, Patient, answer_all, current_prompt, give

RT = date(2027, 3, 3)
THE_REVIEW_PHRASE = "Je ne sens plus mes jambes depuis ce matin et je n'arrive plus a uriner"


async def both_baseline_parts(bench: Bench, patient: Patient, answers: dict[str, object]) -> None:
    """Issue 35: the baseline is in two parts; the side effects, same-day signs and the message item are in the
    second (sent the next day). The clinician pushes it now (/send), so the advice is read at the same hour."""
    await answer_all(bench, patient)
    await bench.clinician_says(f"/send {patient.study_id} baseline_more")
    await answer_all(bench, patient, answers)


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def group_texts(bench: Bench) -> list[str]:
    return [m.text or "" for m in bench.group_messages()]


def urgent_alerts(bench: Bench) -> list[str]:
    return [t for t in group_texts(bench) if "ALERTE URGENTE" in t]


@asynccontextmanager
async def bench_at(tmp_path: Path, start: datetime) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path, start=start)
    await bench.start()
    try:
        yield bench
    finally:
        await bench.stop()


async def diary(bench: Bench, patient: Patient, answers: dict[str, object] | None = None) -> list[str]:
    await bench.clinician_says(f"/send {patient.study_id} daily")
    return await answer_all(bench, patient, answers)


# ------------------------------------------------------------------------------------ 1. the patient's own words


async def test_the_reviews_free_text_alerts_urgently_with_the_words_and_tells_the_patient_to_call_15(
    bench: Bench,
) -> None:
    patient = await bench.join(5001, "P-S1", RT)
    await answer_all(bench, patient)  # baseline done: nothing is open
    await bench.patient_says(patient, THE_REVIEW_PHRASE)
    await bench.tick()
    assert rows(bench, "SELECT kind, text FROM patient_messages") == [("text", THE_REVIEW_PHRASE)]
    (alert,) = urgent_alerts(bench)
    assert "P-S1" in alert and THE_REVIEW_PHRASE in alert and "signe d'alerte" in alert
    advice, reading = bench.texts(5001)[-2:]  # the advice first, then when the team will truly read it
    assert "Appelez maintenant le 15 (SAMU) ou le 112" in advice and "même s'il a diminué" in advice
    assert "L'équipe le lira aujourd'hui" in reading and "114" in reading
    assert rows(bench, "SELECT action FROM audit_log WHERE action = 'message'") == [("message",)]


async def test_words_typed_beside_a_button_question_are_kept_passed_on_and_the_question_shown_again(
    bench: Bench,
) -> None:
    patient = await bench.join(5002, "P-S2", RT)
    prompt = await current_prompt(bench, patient)
    assert prompt.item.type == "scale"
    await bench.patient_says(patient, "Je voudrais savoir quand est mon prochain rendez-vous")
    await bench.tick()
    assert rows(bench, "SELECT text, instance_id IS NOT NULL FROM patient_messages") == [
        ("Je voudrais savoir quand est mon prochain rendez-vous", 1)
    ]
    forwarded = [t for t in group_texts(bench) if "prochain rendez-vous" in t and not t.startswith("Résumé")]
    assert len(forwarded) == 1 and "Information" in forwarded[0] and "P-S2" in forwarded[0]
    texts = bench.texts(5002)
    # "passed on" and the same question asked again, in one message (issue #18: one call fewer)
    assert "transmis à votre équipe" in texts[-1] and "L'équipe le lira aujourd'hui" in texts[-1]
    assert texts[-1].split("\n\n")[-2] == "Question 1"
    assert bench.last_keyboard_message(5002).text == texts[-1]
    assert (await current_prompt(bench, patient)).item.id == prompt.item.id
    assert urgent_alerts(bench) == []


async def test_a_stray_word_is_kept_and_reaches_the_team_and_a_number_is_an_answer_attempt(bench: Bench) -> None:
    # Issue 39: nothing typed is dropped. A number out of range ("15" on a 0-10 scale) is an attempt to answer: kept,
    # not forwarded. A stray word is kept and posted to the team (grouped). Both get the hint with the safety line.
    patient = await bench.join(5003, "P-S3", RT)
    await bench.patient_says(patient, "15")  # a 0-10 scale
    number_reply = bench.texts(5003)[-1]
    await bench.patient_says(patient, "euh")
    word_reply = bench.texts(5003)[-1]
    assert rows(bench, "SELECT text, alert_id, post_id IS NOT NULL FROM patient_messages ORDER BY id") == [
        ("15", None, 0),
        ("euh", None, 1),
    ]
    for reply in (number_reply, word_reply):
        assert "0 à 10" in reply or "0 et 10" in reply
        assert "15 (SAMU)" in reply and "112" in reply and "114" in reply and "01 99 00 20 20" in reply
    assert "gardé pour votre équipe" in word_reply and "L'équipe le lira aujourd'hui" in word_reply
    await bench.advance(timedelta(minutes=2), step=timedelta(seconds=20))
    posted = [t for t in group_texts(bench) if "P-S3" in t and "« euh »" in t]
    assert len(posted) == 1 and not any("« 15 »" in t for t in group_texts(bench))
    assert urgent_alerts(bench) == [] and (await current_prompt(bench, patient)).item.type == "scale"


async def test_voice_notes_photos_and_documents_are_kept_and_copied_to_the_team(bench: Bench) -> None:
    await bench.join(5004, "P-S4", RT)
    bench.standin.send_voice(5004, 5004, duration=12)
    await bench.settle()
    bench.standin.send_photo(5004, 5004, caption="ma cicatrice est rouge")
    await bench.settle()
    bench.standin.send_document(5004, 5004)
    await bench.settle()
    await bench.tick()
    assert rows(bench, "SELECT kind, text FROM patient_messages ORDER BY id") == [
        ("voice", None),
        ("photo", "ma cicatrice est rouge"),
        ("document", None),
    ]
    texts = group_texts(bench)
    assert any("un message vocal" in t and "P-S4" in t for t in texts)
    assert any("une photo" in t and "ma cicatrice est rouge" in t for t in texts)
    copies = [
        m for m in bench.group_messages() if m.extra.get("voice") or m.extra.get("photo") or m.extra.get("document")
    ]
    assert len(copies) == 3 and all(m.protect_content for m in copies)
    assert all("Jeanne" not in (m.text or "") + (m.caption or "") for m in bench.group_messages())


async def test_the_message_to_the_team_inside_a_questionnaire_is_screened_too(bench: Bench) -> None:
    patient = await bench.join(5005, "P-S5", RT)
    await both_baseline_parts(bench, patient, {"message_team": "depuis hier je ne sens plus mes jambes"})
    await bench.tick()
    (alert,) = urgent_alerts(bench)
    assert "je ne sens plus mes jambes" in alert
    assert rows(bench, "SELECT rule_id FROM alerts WHERE severity = 'urgent'") == [("free_text_red_flag",)]


async def test_a_withdrawn_patients_message_is_kept_and_passed_on_but_never_answered(bench: Bench) -> None:
    patient = await bench.join(5006, "P-S6", RT)
    await bench.clinician_says("/withdraw P-S6")
    before = len(bench.texts(5006))
    await bench.patient_says(patient, THE_REVIEW_PHRASE)
    await bench.tick()
    assert len(bench.texts(5006)) == before
    assert len(urgent_alerts(bench)) == 1
    assert rows(bench, "SELECT COUNT(*) FROM patient_notices")[0][0] == 0


# ------------------------------------------------------------------------------------ 2. severe pain


async def test_ten_out_of_ten_from_a_baseline_of_nine_alerts_once_and_again_only_when_worse(bench: Bench) -> None:
    patient = await bench.join(5010, "P-S10", RT)
    await answer_all(bench, patient, {"pain_worst": 9})
    await diary(bench, patient, {"pain_worst": 10})
    await diary(bench, patient, {"pain_worst": 10})  # the same stable pain: not the same alert again
    await bench.tick()
    assert rows(bench, "SELECT rule_id FROM alerts WHERE severity = 'same_day'") == [("pain_severe",)]
    assert rows(bench, "SELECT entity_id FROM audit_log WHERE action = 'alert_suppressed'") == [("pain_severe",)]
    assert sum(t.startswith("🟠") and "Douleur la plus forte à 9 ou 10 sur 10" in t for t in group_texts(bench)) == 1
    assert rows(bench, "SELECT rule_id, previous_alert_id IS NOT NULL FROM suppressed_alerts") == [("pain_severe", 1)]


async def test_severe_pain_at_nine_then_ten_alerts_twice(bench: Bench) -> None:
    patient = await bench.join(5011, "P-S11", RT)
    await answer_all(bench, patient, {"pain_worst": 8})
    await diary(bench, patient, {"pain_worst": 9})
    await diary(bench, patient, {"pain_worst": 10})
    assert rows(bench, "SELECT rule_id FROM alerts WHERE severity = 'same_day'") == [("pain_severe",)] * 2


async def test_uncontrolled_pain_despite_rescue_doses_is_asked_and_alerts(bench: Bench) -> None:
    patient = await bench.join(5012, "P-S12", RT)
    await answer_all(bench, patient)
    asked = await diary(bench, patient, {"analgesic_same": "yes", "rescue_doses_24h": 2, "pain_uncontrolled": "yes"})
    assert "pain_uncontrolled" in asked
    assert rows(bench, "SELECT rule_id FROM alerts WHERE severity = 'same_day'") == [("pain_uncontrolled",)]


# ------------------------------------------------------------------------------------ 3-5. what is asked


async def test_the_diary_and_the_weekly_check_ask_the_nice_24_hour_items_and_new_symptoms_in_one_tap(
    bench: Bench,
) -> None:
    patient = await bench.join(5020, "P-S20", RT)
    await answer_all(bench, patient)
    for questionnaire in ("daily", "weekly"):
        await bench.clinician_says(f"/send P-S20 {questionnaire}")
        asked = await answer_all(bench, patient)
        assert {"sp_night_pain", "sp_straining", "new_problem_any"} <= set(asked), questionnaire
        assert not {"confusion_thirst", "drowsy_breathing", "no_stool_3d", "new_pain_elsewhere"} & set(asked)


async def test_night_pain_and_pain_on_straining_in_the_diary_alert_the_same_day(bench: Bench) -> None:
    patient = await bench.join(5021, "P-S21", RT)
    await answer_all(bench, patient)
    await diary(bench, patient, {"sp_night_pain": "yes", "sp_straining": "yes"})
    assert sorted(rows(bench, "SELECT rule_id FROM alerts WHERE severity = 'same_day'")) == [
        ("spinal_pain_night",),
        ("spinal_pain_straining",),
    ]


@pytest.mark.parametrize(
    ("baseline_chemo", "diary_answers"),
    [
        ("yes", {"fever": "yes", "fever_chemo": "no"}),  # on chemotherapy at baseline
        ("no", {"fever": "yes", "fever_chemo": "yes"}),  # chemotherapy started after baseline
        ("no", {"fever": "yes", "fever_chemo": "_unknown"}),  # the patient does not know
        ("_unknown", {"fever": "yes", "fever_chemo": "no"}),  # unknown at baseline
    ],
)
async def test_fever_with_chemotherapy_or_unknown_status_is_urgent_and_says_call_now(
    bench: Bench, baseline_chemo: str, diary_answers: dict[str, object]
) -> None:
    patient = await bench.join(5022, "P-S22", RT)
    await answer_all(bench, patient, {"on_chemo": baseline_chemo})
    await diary(bench, patient, diary_answers)
    await bench.tick()
    fired = rows(bench, "SELECT rule_id, severity FROM alerts WHERE rule_id LIKE 'fever%'")
    if baseline_chemo == "_unknown" and diary_answers["fever_chemo"] == "no":
        assert fired == [("fever_no_chemo", "same_day")]  # the patient now says no chemotherapy
        return
    if diary_answers["fever_chemo"] == "_unknown":  # issue 32: urgent, without saying "with chemotherapy"
        assert fired == [("fever_chemo_unknown", "urgent")]
        advice = [t for t in bench.texts(5022) if "peut-être reçu une chimiothérapie" in t]
        assert len(advice) == 1 and "Appelez maintenant" in advice[0] and "01 99 00 20 20" in advice[0]
        assert "avec une chimiothérapie" not in advice[0]
        return
    assert fired == [("fever_on_chemo", "urgent")]
    advice = [t for t in bench.texts(5022) if "fièvre avec une chimiothérapie" in t]
    assert len(advice) == 1 and "Appelez maintenant" in advice[0] and "01 99 00 20 20" in advice[0]
    assert "aujourd'hui" not in advice[0]


async def test_drowsiness_or_slow_breathing_is_urgent_opioid_toxicity(bench: Bench) -> None:
    patient = await bench.join(5023, "P-S23", RT)
    await answer_all(bench, patient)
    asked = await diary(bench, patient, {"new_problem_any": "yes", "drowsy_breathing": "yes"})
    assert {"confusion_thirst", "drowsy_breathing", "no_stool_3d", "new_pain_elsewhere"} <= set(asked)
    assert rows(bench, "SELECT rule_id, severity FROM alerts WHERE severity != 'info'") == [
        ("opioid_toxicity", "urgent")
    ]
    assert any("Ne prenez pas d'autre dose" in t for t in bench.texts(5023))


async def test_hypercalcaemia_constipation_and_fracture_signs_alert_the_same_day(bench: Bench) -> None:
    patient = await bench.join(5024, "P-S24", RT)
    await answer_all(bench, patient)
    await diary(
        bench,
        patient,
        {"new_problem_any": "yes", "confusion_thirst": "yes", "no_stool_3d": "yes", "new_pain_elsewhere": "yes"},
    )
    assert sorted(rows(bench, "SELECT rule_id FROM alerts WHERE severity = 'same_day'")) == [
        ("constipation",),
        ("hypercalcaemia_symptoms",),
        ("possible_fracture",),
    ]


# ------------------------------------------------------------------------------------ 6. advice true at that hour


async def test_same_day_advice_on_friday_evening_promises_monday_not_today(tmp_path: Path) -> None:
    # Friday 5 March 2027, 19:30 in Paris. Issue 32: night pain may wait for Monday (vomiting everything may not:
    # tests/e2e/test_issue32_rules.py), and nobody "is informed" before Monday: the advice says when it will be read.
    async with bench_at(tmp_path, datetime(2027, 3, 5, 18, 30, tzinfo=UTC)) as bench:
        patient = await bench.join(5030, "P-S30", date(2027, 3, 10))  # only the baseline is due
        # Issue 33: night pain at the baseline is what the team knew at inclusion (folded, not alerted): a fever
        # without chemotherapy is the same-day sign of this baseline that may wait for Monday.
        await answer_all(bench, patient, {"on_chemo": "no", "fever": "yes"})
        advice = [t for t in bench.texts(5030) if "Votre réponse a été transmise à votre équipe soignante" in t]
        assert len(advice) == 1
        assert "lundi 8 mars, à partir de 9 h" in advice[0] and "aujourd'hui" not in advice[0]
        assert "Si cela s'aggrave d'ici là" in advice[0] and "01 99 00 20 20" in advice[0]


async def test_same_day_advice_on_a_public_holiday_names_the_next_working_day(tmp_path: Path) -> None:
    # Ascension Thursday 6 May 2027, 11:00 in Paris: the next working day is Friday 7 May. Issue 32: cannot
    # swallow does not wait for it: the on-call number, now.
    async with bench_at(tmp_path, datetime(2027, 5, 6, 9, 0, tzinfo=UTC)) as bench:
        patient = await bench.join(5031, "P-S31", date(2027, 5, 10))
        await both_baseline_parts(bench, patient, {"cannot_swallow": "yes"})
        advice = [t for t in bench.texts(5031) if "Votre réponse a été transmise à votre équipe soignante" in t]
        assert len(advice) == 1 and "vendredi 7 mai" in advice[0]
        assert "appelez maintenant le numéro de garde : 01 99 00 20 20" in advice[0]


async def test_same_day_advice_in_working_hours_says_today(bench: Bench) -> None:
    patient = await bench.join(5032, "P-S32", RT)  # Monday 10:00 in Paris
    await both_baseline_parts(bench, patient, {"cannot_swallow": "yes"})
    advice = [t for t in bench.texts(5032) if "Votre équipe soignante est prévenue" in t]
    assert len(advice) == 1 and "Elle vous appellera aujourd'hui." in advice[0]


async def test_help_gives_the_sites_numbers(bench: Bench) -> None:
    patient = await bench.join(5033, "P-S33", RT, "site=LYON")
    await bench.patient_says(patient, "/aide")
    text = bench.texts(5033)[-2]  # the help; the open question is sent again after it (issue 39, item 5)
    assert "04 65 71 10 10" in text and "04 65 71 20 20" in text and "15 (SAMU)" in text and "114" in text


async def test_enrolling_at_a_site_without_numbers_is_refused(bench: Bench) -> None:
    await bench.clinician_says("/enroll P-S34 2027-03-03 site=NOWHERE")
    reply = group_texts(bench)[-1]
    assert "Site inconnu NOWHERE" in reply and "LYON" in reply
    assert rows(bench, "SELECT COUNT(*) FROM patients WHERE study_id = 'P-S34'")[0][0] == 0


# ------------------------------------------------------------------------------------ 7. silence after an alert


async def test_silence_after_a_red_flag_asks_the_team_to_call_once(bench: Bench) -> None:
    patient = await bench.join(5040, "P-S40", RT)
    await answer_all(bench, patient)
    await bench.clinician_says("/send P-S40 daily")
    await give(bench, patient, 3)
    await give(bench, patient, "some")  # issue 35: the red-flag screen, "Oui, au moins un de ces signes"
    await give(bench, patient, "yes")  # new leg weakness, then nothing more
    await bench.advance(timedelta(days=20), step=timedelta(hours=2))
    silence = [
        t for t in group_texts(bench) if t.startswith("🟠") and "Aucune nouvelle du patient depuis une alerte" in t
    ]
    assert len(silence) == 1 and "P-S40" in silence[0] and "faiblesse" in silence[0]
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE rule_id = 'silent_after_alert'")[0][0] == 1


async def test_a_patient_who_goes_on_answering_after_an_alert_is_not_flagged_silent(bench: Bench) -> None:
    patient = await bench.join(5041, "P-S41", RT)
    await answer_all(bench, patient, {"vomit_no_fluids": "yes"})
    for _ in range(3):
        await bench.advance(timedelta(hours=20), step=timedelta(hours=2))
        if await current_prompt(bench, patient) is not None:
            await answer_all(bench, patient)
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE rule_id = 'silent_after_alert'")[0][0] == 0


# ------------------------------------------------------------------------------------ benign journeys


async def test_benign_journeys_with_everyday_messages_raise_no_urgent_alert(bench: Bench) -> None:
    patient = await bench.join(5050, "P-S50", RT)
    await answer_all(bench, patient, {"message_team": "Merci, tout va bien"})
    for text in (
        "Bonjour, merci pour le suivi",
        "Je n'ai plus de douleur dans les jambes, ça va mieux",
        "Pas de fièvre aujourd'hui",
    ):
        await bench.patient_says(patient, text)
    await diary(bench, patient)
    await bench.clinician_says("/send P-S50 weekly")
    await answer_all(bench, patient)
    await bench.tick()
    assert urgent_alerts(bench) == []
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE severity = 'urgent'")[0][0] == 0
    assert rows(bench, "SELECT COUNT(*) FROM patient_messages")[0][0] == 3


async def test_a_message_about_constipation_alone_is_same_day_not_urgent(bench: Bench) -> None:
    patient = await bench.join(5051, "P-S51", RT)
    await answer_all(bench, patient)
    await bench.patient_says(patient, "je suis constipé depuis 4 jours")
    await bench.tick()
    assert rows(bench, "SELECT rule_id, severity FROM alerts WHERE severity != 'info'") == [
        ("free_text_red_flag", "same_day")
    ]
    assert "Votre équipe soignante est prévenue. Elle vous appellera aujourd'hui." in bench.texts(5051)[-2]
    assert "L'équipe le lira aujourd'hui" in bench.texts(5051)[-1]


async def test_a_patient_writing_fast_is_kept_in_full_but_does_not_flood_the_group(bench: Bench) -> None:
    patient = await bench.join(5052, "P-S52", RT)
    await answer_all(bench, patient)
    for n in range(12):
        await bench.patient_says(patient, f"message numéro {n} pour l'équipe")
    for _ in range(3):
        await bench.patient_says(patient, THE_REVIEW_PHRASE)
    await bench.tick()
    assert rows(bench, "SELECT COUNT(*), COUNT(alert_id) FROM patient_messages") == [(15, 15)]  # all kept, all linked
    assert rows(bench, "SELECT severity, COUNT(*) FROM alerts GROUP BY severity ORDER BY severity") == [
        ("info", 3),
        ("urgent", 1),
    ]
    assert sum("Appelez maintenant le 15" in t for t in bench.texts(5052)) == 1  # the advice once, not three times
    bench.clock.advance(timedelta(minutes=11))
    await bench.patient_says(patient, "encore une question pour l'équipe")
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE severity = 'info'")[0][0] == 4


async def test_words_added_by_editing_a_message_are_kept_and_screened(bench: Bench) -> None:
    patient = await bench.join(5053, "P-S53", RT)
    await answer_all(bench, patient)
    await bench.patient_says(patient, "bonjour")
    mine = [m for m in bench.standin.messages(5053) if not m.from_bot][-1]
    bench.standin.edit_text(5053, 5053, mine.message_id, "bonjour, depuis ce matin je ne sens plus mes jambes")
    await bench.settle()
    await bench.tick()
    assert rows(bench, "SELECT text FROM patient_messages ORDER BY id") == [
        ("bonjour",),
        ("bonjour, depuis ce matin je ne sens plus mes jambes",),
    ]
    assert len(urgent_alerts(bench)) == 1
    assert any("Appelez maintenant le 15" in t for t in bench.texts(5053))


async def test_a_patient_writing_at_night_gets_what_is_due_at_once(tmp_path: Path) -> None:
    # 22:30 in Paris: a questionnaire the team sends now is held back by quiet hours (the bot does not start a
    # conversation at night) — but a patient who writes is in the chat now, and gets it at once.
    async with bench_at(tmp_path, datetime(2027, 3, 1, 21, 30, tzinfo=UTC)) as bench:
        patient = await bench.join(5054, "P-S54", RT)
        await answer_all(bench, patient)
        await bench.clinician_says("/send P-S54 daily")
        await bench.tick()
        assert await current_prompt(bench, patient) is None
        await bench.patient_says(patient, "Bonjour, je ne dors pas, je peux répondre")
        prompt = await current_prompt(bench, patient)
        assert prompt is not None and prompt.questionnaire.id == "daily"
        assert rows(bench, "SELECT COUNT(*) FROM patient_messages")[0][0] == 1
