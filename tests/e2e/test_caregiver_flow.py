"""Caregivers (issue 36) end to end: the real PTB Application over HTTP against the stand-in, a real SQLite file.

Enrolment and consent; the day-30 questionnaire the patient missed, answered by the caregiver and counted in the trial
report as evaluable *from a caregiver*; two people never answer one questionnaire; a red flag from the caregiver
alerts the team with advice addressed to the caregiver; the patient ends the role and the caregiver gets nothing more.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, timedelta
from typing import Any

from harness import CLINICIAN_CHAT, Bench, answer_all, current_prompt, default_answer, give

from bot.export.csv_export import CSV_COLUMNS, csv_rows
from bot.export.dataset import load_dataset
from bot.export.fhir_export import build_bundle, responses_in, validate_bundle
from bot.services import caregivers

RT = date(2027, 3, 3)
RT_D30 = date(2027, 3, 2)  # day 27 = Monday 2027-03-29 (CEST): the day-30 window opens at 10:00 Paris


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


async def invite(bench: Bench, study_id: str) -> str:
    await bench.clinician_says(f"/aidant {study_id}")
    reply = bench.group_messages()[-1].text or ""
    assert "?start=" in reply, reply
    return reply.split("?start=")[1].split()[0]


async def join_caregiver(bench: Bench, study_id: str, user_id: int) -> int:
    code = await invite(bench, study_id)
    await bench.patient_says(user_id, f"/start {code}")
    await bench.press(user_id, "J'accepte")
    return user_id


async def caregiver_prompt(bench: Bench, user_id: int) -> Any:
    assert bench.services is not None
    caregiver = await caregivers.find_live(bench.services, user_id)
    assert caregiver is not None
    return (await caregivers.open_prompt(bench.services, caregiver))[1]


async def caregiver_gives(bench: Bench, user_id: int, value: object) -> None:
    """Answer the caregiver's current question as they would: a tap on the last question they were shown."""
    prompt = await caregiver_prompt(bench, user_id)
    assert prompt is not None
    item = prompt.item
    message = bench.last_keyboard_message(user_id)
    if item.type in ("number", "text") and not (isinstance(value, str) and value.startswith("_")):
        await bench.patient_says(user_id, str(value))
        return
    prefix = f"q:{prompt.instance.id}:{prompt.item_index}:"
    if item.type == "multi":
        for code in value:  # type: ignore[union-attr]
            bench.standin.press_button(
                user_id, user_id, message.message_id, f"m:{prompt.instance.id}:{prompt.item_index}:{code}"
            )
            await bench.settle()
        bench.standin.press_button(
            user_id, user_id, message.message_id, f"m:{prompt.instance.id}:{prompt.item_index}:_ok"
        )
    else:
        bench.standin.press_button(user_id, user_id, message.message_id, prefix + str(value))
    await bench.settle()


async def caregiver_answers_all(bench: Bench, user_id: int, answers: dict[str, object] | None = None) -> list[str]:
    asked: list[str] = []
    for _ in range(200):
        prompt = await caregiver_prompt(bench, user_id)
        if prompt is None:
            return asked
        asked.append(prompt.item.id)
        await caregiver_gives(bench, user_id, (answers or {}).get(prompt.item.id, default_answer(prompt.item)))
    raise AssertionError(f"did not end: {asked[-5:]}")


async def test_a_caregiver_is_enrolled_by_the_team_consents_and_the_patient_is_told(bench: Bench) -> None:
    patient = await bench.join(3601, "P-CG1", RT)
    code = await invite(bench, "P-CG1")
    assert code.startswith("aidant_")
    # The patient's own account cannot be their caregiver.
    await bench.patient_says(patient, f"/start {code}")
    assert rows(bench, "SELECT status FROM caregivers") == [("invited",)]
    await bench.patient_says(3651, f"/start {code}")
    information = bench.last_text(3651)
    assert "votre proche" in information and "/stop" in information and "15" in information
    assert rows(bench, "SELECT status, consented_at FROM caregivers") == [("joined", None)]
    await bench.patient_says(3651, "/repondre")  # nothing before consent: the information again
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE respondent = 'caregiver'") == [(0,)]
    await bench.press(3651, "J'accepte")
    ((status, consented_at, consent_text, number),) = rows(
        bench, "SELECT status, consented_at, consent_text, number FROM caregivers"
    )
    assert status == "active" and consented_at == "2027-03-01T09:00:00Z" and "votre proche" in consent_text
    assert number == 1
    assert any("/fin_aidant" in t and "aidant 1" in t for t in bench.texts(patient.chat_id))
    # A used link is refused to anyone else; at most two caregivers at a time.
    await bench.patient_says(3652, f"/start {code}")
    assert rows(bench, "SELECT COUNT(*) FROM caregivers WHERE telegram_user_id = 3652") == [(0,)]
    await invite(bench, "P-CG1")
    await bench.clinician_says("/aidant P-CG1")
    assert "déjà 2 aidants" in (bench.group_messages()[-1].text or "")
    actions = [a for (a,) in rows(bench, "SELECT action FROM audit_log WHERE entity = 'caregiver' ORDER BY id")]
    assert actions == ["caregiver_invite", "caregiver_join", "caregiver_consent", "caregiver_invite"]
    # No Telegram identity in the group's messages or the exports.
    assert rows(bench, "SELECT telegram_user_id FROM caregivers WHERE number = 1") == [(3651,)]
    assert all("3651" not in (m.text or "") for m in bench.group_messages())
    await bench.clinician_says("/patient P-CG1")
    caption = bench.group_messages()[-1].caption or ""
    assert "Aidants : aidant 1 (actif depuis 01/03/2027), aidant 2 (pas encore inscrit)" in caption, caption


async def test_the_patient_misses_day_30_the_caregiver_answers_and_the_report_counts_it_from_a_caregiver(
    bench: Bench, tmp_path: Any
) -> None:
    patient = await bench.join(3602, "P-CG2", RT_D30)
    await answer_all(bench, patient, {"pain_worst": 6})
    await join_caregiver(bench, "P-CG2", 3653)
    await bench.advance(timedelta(days=28, hours=-2), step=timedelta(hours=6))
    before = len(bench.texts(3653))
    await bench.advance(timedelta(hours=2), step=timedelta(minutes=30))  # day 27, 10:00: D30 sent to the patient
    ((d30, held),) = rows(bench, "SELECT id, held_by FROM instances WHERE timepoint = 'D30'")
    assert held is None
    assert len(bench.texts(3653)) == before  # not offered before the patient missed the first reminder
    await bench.advance(timedelta(hours=5), step=timedelta(minutes=30))  # the first reminder, then the offer
    offered = bench.texts(3653)[before:]
    assert len(offered) == 1 and "pas encore répondu" in offered[0], offered
    assert "votre proche" in offered[0] and "Répondez comme votre proche" in offered[0]
    asked = await caregiver_answers_all(bench, 3653, {"pain_worst": 2})
    assert asked[0] == "pain_worst"
    assert rows(bench, "SELECT status, held_by FROM instances WHERE id = ?", d30) == [
        ("completed", f"caregiver:{rows(bench, 'SELECT id FROM caregivers')[0][0]}")
    ]
    assert rows(
        bench, "SELECT DISTINCT respondent, caregiver_id IS NOT NULL FROM answers WHERE instance_id = ?", d30
    ) == [("caregiver", 1)]
    actors = {
        a
        for (a,) in rows(bench, "SELECT actor FROM audit_log WHERE action = 'answer' AND entity_id LIKE ?", f"{d30}/%")
    }
    assert actors == {"caregiver:P-CG2#1"}

    # Exports: the CSV says who answered, FHIR names a RelatedPerson as author and source and still validates,
    # and neither carries the caregiver's Telegram id.
    assert bench.services is not None
    services = bench.services
    dataset = await load_dataset(services.store)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor", services.schedule):
        writer.writerow(line)
    lines = [dict(zip(CSV_COLUMNS, row)) for row in csv.reader(io.StringIO(buffer.getvalue()))]
    d30_lines = [line for line in lines if line["timepoint"] == "D30" and line["derivation"] == ""]
    assert d30_lines and {line["respondent"] for line in d30_lines} == {"caregiver:1"}
    assert {line["respondent"] for line in lines if line["timepoint"] == "baseline" and line["derivation"] == ""} == {
        "patient"
    }
    bundle = build_bundle(dataset, services.questionnaires, services.clock.now(), services.schedule)
    validate_bundle(bundle)
    response = next(r for r in responses_in(bundle) if r["identifier"]["value"] == "P-CG2/D30")
    related = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "RelatedPerson"]
    assert len(related) == 1 and related[0]["resource"]["patient"] == response["subject"]
    assert response["author"] == response["source"] == {"reference": related[0]["fullUrl"]}
    assert related[0]["resource"]["identifier"][0]["value"] == "P-CG2#1"
    baseline = next(r for r in responses_in(bundle) if r["identifier"]["value"] == "P-CG2/baseline")
    assert "author" not in baseline
    assert "3653" not in buffer.getvalue() and "3653" not in str(bundle)

    # The trial report: day 30 evaluable, from a caregiver; with and without caregivers' answers.
    from bot.export.metrics import ReportPlan, outcomes, report_rows, summaries

    plan = ReportPlan.from_schedule(services.schedule)
    members = list(outcomes(dataset, services.questionnaires, services.opioids, plan))
    assert members[0].caregiver_timepoints == frozenset({"D30"})
    table = report_rows(summaries(members, plan), plan)
    pooled = {(r[3], r[4]): r for r in table if r[0] == "all" and r[1] == "all" and r[2] == "D30"}
    assert pooled[("answered_by_caregiver", "evaluable")][5:7] == ("1", "1")
    assert pooled[("missing", "evaluable")][5] == "0"
    assert pooled[("missing", "evaluable_patient_only")][5] == "1"  # without caregivers: day 30 is missing
    from bot.report.html import render_html

    page = render_html(summaries(members, plan), plan, "", generated=services.clock.now(), table="fr_sor")
    assert "Answers from caregivers at D30" in page


async def test_two_people_cannot_answer_one_questionnaire(bench: Bench) -> None:
    patient = await bench.join(3603, "P-CG3", RT)
    await answer_all(bench, patient)
    await join_caregiver(bench, "P-CG3", 3654)
    await bench.clinician_says("/send P-CG3 weekly")
    await bench.patient_says(3654, "/repondre")  # the caregiver is shown the first question...
    caregiver_question = bench.last_keyboard_message(3654)
    first = await current_prompt(bench, patient)
    await give(bench, patient, default_answer(first.item))  # ...but the patient answers first: theirs
    ((instance, held),) = rows(bench, "SELECT id, held_by FROM instances WHERE status = 'open'")
    assert held == "patient"
    data = next(b["callback_data"] for row in caregiver_question.buttons() for b in row)
    query = bench.standin.press_button(3654, 3654, caregiver_question.message_id, data)
    await bench.settle()
    assert "a déjà commencé" in bench.standin.world.callback_queries[query].answer["text"]
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE respondent = 'caregiver'") == [(0,)]
    await bench.patient_says(3654, "/repondre")
    assert "a déjà commencé" in bench.last_text(3654)
    await answer_all(bench, patient)

    # The other way round: the caregiver starts the next one, the patient's buttons no longer store anything.
    await bench.clinician_says("/send P-CG3 weekly")
    patient_question = (await current_prompt(bench, patient)).instance.question_message_id
    await bench.patient_says(3654, "/repondre")
    await caregiver_gives(bench, 3654, default_answer((await caregiver_prompt(bench, 3654)).item))
    ((second, held),) = rows(bench, "SELECT id, held_by FROM instances WHERE status = 'open'")
    assert second != instance and held.startswith("caregiver:")
    stored = rows(bench, "SELECT COUNT(*) FROM answers WHERE instance_id = ?", second)
    prompt = await current_prompt(bench, patient)
    query = bench.standin.press_button(
        3603, 3603, patient_question, f"q:{second}:{prompt.item_index}:{default_answer(prompt.item)}", strict=False
    )
    await bench.settle()
    assert "aidant" in bench.standin.world.callback_queries[query].answer["text"]
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE instance_id = ?", second) == stored
    assert rows(bench, "SELECT DISTINCT respondent FROM answers WHERE instance_id = ?", second) == [("caregiver",)]


async def test_a_red_flag_from_the_caregiver_alerts_the_team_and_advises_the_caregiver(bench: Bench) -> None:
    patient = await bench.join(3604, "P-CG4", RT)
    await answer_all(bench, patient)
    await join_caregiver(bench, "P-CG4", 3655)
    await bench.clinician_says("/send P-CG4 followup")
    patient_texts = len(bench.texts(patient.chat_id))
    await bench.patient_says(3655, "/repondre")
    await caregiver_answers_all(bench, 3655, {"rf_screen": "some", "rf_weakness": "yes"})
    await bench.tick()
    alerts = [m.text or "" for m in bench.group_messages() if "ALERTE URGENTE" in (m.text or "")]
    assert len(alerts) == 1 and "Réponse de l'aidant (aidant 1)" in alerts[0], alerts
    advice = [t for t in bench.texts(3655) if "pour votre proche" in t and "15" in t]
    assert len(advice) == 1 and "Appelez le 15 (SAMU) ou le 112 maintenant pour votre proche" in advice[0]
    # The advice went to the caregiver, who is the one there; the patient's chat got nothing for it.
    assert not any("SAMU" in t for t in bench.texts(patient.chat_id)[patient_texts:])
    payload = rows(bench, "SELECT payload FROM alerts WHERE severity = 'urgent'")[0][0]
    assert '"respondent": "caregiver"' in payload

    # The caregiver's own words: screened, forwarded to the team as the caregiver's, advice to the caregiver.
    await bench.patient_says(3655, "Il ne sent plus ses jambes depuis ce matin")
    await bench.tick()
    words = [m.text or "" for m in bench.group_messages() if "ne sent plus ses jambes" in (m.text or "")]
    assert words and "aidant 1" in words[0]
    assert rows(bench, "SELECT COUNT(*) FROM patient_messages WHERE caregiver_id IS NOT NULL") == [(1,)]
    assert bench.services is not None
    dataset = await load_dataset(bench.services.store)
    assert [m.respondent for m in dataset.messages] == ["caregiver:1"]
    bundle = build_bundle(dataset, bench.services.questionnaires, bench.services.clock.now(), bench.services.schedule)
    validate_bundle(bundle)  # the Communication's sender is the caregiver's RelatedPerson, in the bundle
    (message,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication"]
    related = {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RelatedPerson"}
    assert message["sender"]["reference"] in related and "3655" not in str(bundle)
    assert sum("pour votre proche" in t for t in bench.texts(3655)) >= 2


async def test_the_patient_ends_the_caregiver_role_and_the_caregiver_receives_nothing_after(bench: Bench) -> None:
    patient = await bench.join(3605, "P-CG5", RT)
    await answer_all(bench, patient)
    await join_caregiver(bench, "P-CG5", 3656)
    await bench.patient_says(patient, "/fin_aidant")
    assert "ne peut plus répondre" in bench.last_text(patient.chat_id)
    assert rows(bench, "SELECT status, ended_by FROM caregivers") == [("ended", "patient")]
    assert "a mis fin" in bench.last_text(3656)
    received = len(bench.texts(3656))
    await bench.advance(timedelta(days=3), step=timedelta(hours=2))  # diaries sent, reminded, missed
    assert (
        rows(bench, "SELECT COUNT(*) FROM instances WHERE questionnaire_id = 'daily' AND sent_at IS NOT NULL")[0][0] > 0
    )
    assert len(bench.texts(3656)) == received  # nothing: no questionnaire, no offer, no reminder
    await bench.patient_says(3656, "/repondre")  # asking gets only "your role has ended"
    assert "plus aidant" in bench.last_text(3656)
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE respondent = 'caregiver'") == [(0,)]
    assert rows(bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'caregiver_end'") == [(1,)]


async def test_the_team_ends_a_role_and_the_patients_withdrawal_ends_the_others(bench: Bench) -> None:
    patient = await bench.join(3606, "P-CG6", RT)
    await join_caregiver(bench, "P-CG6", 3657)
    await join_caregiver(bench, "P-CG6", 3658)
    await bench.clinician_says("/fin_aidant P-CG6 1")
    assert rows(bench, "SELECT number, status FROM caregivers ORDER BY number") == [(1, "ended"), (2, "active")]
    assert "équipe soignante a mis fin" in bench.last_text(3657)
    await bench.clinician_says("/withdraw P-CG6")
    assert rows(bench, "SELECT number, status, ended_by FROM caregivers ORDER BY number") == [
        (1, "ended", "team"),
        (2, "ended", "withdrawal"),
    ]
    assert patient.chat_id == 3606
    assert CLINICIAN_CHAT < 0


async def test_a_diary_the_patient_has_not_started_is_offered_to_the_caregiver_after_4_hours(bench: Bench) -> None:
    patient = await bench.join(3607, "P-CG7", RT)
    await answer_all(bench, patient)
    await join_caregiver(bench, "P-CG7", 3659)
    for _ in range(60):  # to the first diary sent to the patient (caregivers.yaml: offered 4 h after)
        await bench.advance(timedelta(hours=1), step=timedelta(hours=1))
        sent = rows(bench, "SELECT id FROM instances WHERE questionnaire_id = 'daily' AND status = 'open'")
        if sent:
            break
    else:
        raise AssertionError("no diary sent")
    before = len(bench.texts(3659))
    await bench.advance(timedelta(hours=3), step=timedelta(minutes=30))
    assert len(bench.texts(3659)) == before  # not yet: the patient may still answer
    await bench.advance(timedelta(hours=1, minutes=30), step=timedelta(minutes=30))
    offered = bench.texts(3659)[before:]
    assert len(offered) == 1 and "pas encore répondu" in offered[0]
    assert rows(bench, "SELECT instance_id FROM caregiver_offers") == [(sent[0][0],)]
    await bench.advance(timedelta(hours=2), step=timedelta(minutes=30))
    assert len(bench.texts(3659)) == before + 1  # offered once
