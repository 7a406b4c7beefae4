"""Every enrolled patient has a baseline and a day-30 answer (issue 16), end to end through the stand-in.

Night joins (quiet hours only hold back what the bot starts), the late baseline flagged in the exports, the
coordinator call list for the day-30 questionnaire, and the research nurse's phone entry from the group.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from harness import CLINICIAN_CHAT, CLINICIANS, OUTSIDER, Bench, answer_all, current_prompt

from bot.export.csv_export import CSV_COLUMNS, csv_rows
from bot.export.dataset import load_dataset
from bot.export.fhir_export import EXT_ANSWER_SOURCE, EXT_FLAG, build_bundle, responses_in, validate_bundle

# The bench clock starts on Monday 2027-03-01 at 10:00 in Paris (09:00 UTC, CET).
NIGHT = timedelta(hours=13, minutes=30)  # → 23:30 Paris the same day


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


async def exported(bench: Bench) -> tuple[list[dict[str, str]], dict]:
    """The CSV lines (as dicts) and the FHIR bundle of the bench's database, built by the export code."""
    assert bench.services is not None
    services = bench.services
    dataset = await load_dataset(services.store)
    lines = [
        dict(zip(CSV_COLUMNS, line))
        for line in csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor", services.schedule)
    ]
    return lines, build_bundle(dataset, services.questionnaires, services.clock.now(), services.schedule)


# --- night join --------------------------------------------------------------------------------------------


async def test_a_patient_joining_at_23_30_gets_the_first_question_at_once(bench: Bench) -> None:
    bench.clock.advance(NIGHT)
    patient = await bench.join(1601, "N-001", date(2027, 3, 3))
    texts = bench.texts(1601)
    assert any("Voici votre premier questionnaire" in t for t in texts)
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and prompt.instance.timepoint == "baseline"
    question = bench.last_keyboard_message(1601)
    assert question.message_id == prompt.instance.question_message_id and question.buttons()
    assert rows(bench, "SELECT status, sent_at FROM instances WHERE timepoint = 'baseline'") == [
        ("open", "2027-03-01T22:30:00Z")
    ]
    # Finished at night: nothing else is due before the morning, and the bot does not pretend otherwise.
    await answer_all(bench, patient)
    await bench.patient_says(patient, "/reprendre")
    assert "pas de questionnaire à remplir" in bench.last_text(1601)


async def test_a_patient_joining_at_23_30_on_day_0_still_gets_a_baseline_and_the_team_is_warned(bench: Bench) -> None:
    bench.clock.advance(NIGHT)
    code = await bench.enroll("N-002", date(2027, 3, 1))
    assert "a déjà commencé" in (bench.group_messages()[-1].text or "")
    await bench.patient_says(1602, f"/start {code}")
    await bench.press(1602, "J'ai lu et compris")
    await bench.press(1602, "Le matin")
    prompt = await current_prompt(bench, 1602)
    assert prompt is not None and prompt.instance.timepoint == "baseline"
    asked = await answer_all(bench, 1602, {"pain_worst": 6})
    assert rows(bench, "SELECT status FROM instances WHERE timepoint = 'baseline'") == [("completed",)]
    # Day 0 evening: that day's diary closes in 29 minutes and could not be sent by the bot; not planned.
    assert rows(bench, "SELECT COUNT(*) FROM instances WHERE timepoint = 'DD0'") == [(0,)]

    lines, bundle = await exported(bench)
    baseline = [line for line in lines if line["timepoint"] == "baseline" and line["derivation"] == ""]
    assert len(baseline) == len(asked)
    assert all(line["flags"] == "after_rt_start;enrolled_after_rt_start" for line in baseline)
    assert all(line["source"] == "patient" for line in baseline)
    validate_bundle(bundle)
    (response,) = responses_in(bundle)
    assert {e["valueCode"] for e in response["extension"] if e["url"] == EXT_FLAG} == {
        "after_rt_start",
        "enrolled_after_rt_start",
    }


async def test_a_baseline_answered_before_the_first_fraction_is_not_flagged(bench: Bench) -> None:
    patient = await bench.join(1603, "N-003", date(2027, 3, 2))
    await bench.clinician_says("/enroll N-004 2027-03-02")
    assert "a déjà commencé" not in (bench.group_messages()[-1].text or "")
    await answer_all(bench, patient)
    lines, _bundle = await exported(bench)
    assert {line["flags"] for line in lines if line["study_id"] == "N-003"} == {""}


async def test_a_tap_at_night_brings_the_next_due_questionnaire_at_once(bench: Bench) -> None:
    bench.clock.advance(timedelta(hours=10, minutes=50))  # 20:50 Paris on day 0
    patient = await bench.join(1604, "N-005", date(2027, 3, 1))
    bench.clock.advance(timedelta(minutes=15))  # 21:05: quiet hours have begun
    report = await bench.tick()
    assert report.sent == [] and report.reminded == []
    await answer_all(bench, patient)  # answers until nothing is asked: the baseline, then the diary that followed
    assert rows(
        bench,
        "SELECT timepoint, status, sent_at >= '2027-03-01T20:05:00Z' FROM instances"
        " WHERE timepoint IN ('baseline', 'DD0') ORDER BY id",
    ) == [("baseline", "completed", 0), ("DD0", "completed", 1)]  # DD0 sent at once, at night, on the last tap


async def test_quiet_hours_still_hold_back_what_the_bot_starts(bench: Bench) -> None:
    bench.clock.advance(NIGHT)
    other = await bench.join(1607, "N-007", date(2027, 3, 3))
    await answer_all(bench, other)
    before = len(bench.standin.sent_messages(1607))
    await bench.clinician_says("/send N-007 weekly")  # the clinician pushes one at night: it waits for 08:00
    assert "attendra 8 h" in (bench.group_messages()[-1].text or "")
    await bench.advance(timedelta(hours=8))  # until 07:30: ticks send nothing to anyone
    assert len(bench.standin.sent_messages(1607)) == before
    await bench.advance(timedelta(hours=1))
    assert len(bench.standin.sent_messages(1607)) == before + 1


# --- the day-30 reminders and the coordinators' call list -------------------------------------------------

RT_D30 = date(2027, 3, 2)  # day 27 = Monday 2027-03-29 (CEST), the D30 window runs to day 37 = 2027-04-08


def d30_state(bench: Bench, study_id: str) -> tuple[str, int]:
    ((status, reminders),) = rows(
        bench,
        "SELECT i.status, i.reminders_sent FROM instances i JOIN patients p ON p.id = i.patient_id"
        " WHERE p.study_id = ? AND i.timepoint = 'D30'",
        study_id,
    )
    return status, reminders


async def test_day_30_reminders_stop_after_completion_pause_or_withdrawal_then_the_call_list(bench: Bench) -> None:
    ids = {"C-001": 1611, "C-002": 1612, "C-003": 1613, "C-004": 1614}
    for study_id, user_id in ids.items():
        await answer_all(bench, await bench.join(user_id, study_id, RT_D30))  # baseline done; then silent
    # To day 27, 09:00 (Paris, CEST): ticks in coarse steps (diaries and weeklies go unanswered).
    await bench.advance(timedelta(days=28, hours=-2), step=timedelta(hours=6))
    await bench.advance(timedelta(hours=2), step=timedelta(minutes=30))  # 10:00: the D30 questionnaires go out
    assert all(d30_state(bench, s) == ("open", 0) for s in ids)
    await answer_all(bench, ids["C-002"], {"pain_worst": 2})  # completes at once
    await bench.patient_says(ids["C-003"], "/pause")
    await bench.clinician_says("/withdraw C-004")
    sent_before = {s: len(bench.standin.sent_messages(u)) for s, u in ids.items()}
    await bench.advance(timedelta(days=8), step=timedelta(hours=1))  # to day 35, 10:00
    reminders = {
        s: sum("Rappel" in (m.text or "") for m in bench.standin.sent_messages(u)[sent_before[s] :])
        for s, u in ids.items()
    }
    # One reminder on the day (+4 h), one the next day at the preferred time; none after completion, pause or
    # withdrawal.
    assert reminders == {"C-001": 2, "C-002": 0, "C-003": 0, "C-004": 0}
    assert d30_state(bench, "C-001") == ("open", 2)
    assert d30_state(bench, "C-002") == ("completed", 0) and d30_state(bench, "C-003") == ("open", 0)
    assert d30_state(bench, "C-004") == ("cancelled", 0)
    assert len(bench.standin.sent_messages(ids["C-003"])) == sent_before["C-003"]  # nothing at all while paused
    assert len(bench.standin.sent_messages(ids["C-004"])) == sent_before["C-004"]  # nothing ever after /stop

    await bench.clinician_says("/appels")
    listing = bench.group_messages()[-1].text or ""
    assert "Liste d'appels" in listing and ": 2" in listing.splitlines()[0]
    assert "C-001" in listing and "C-003" in listing and "/saisie C-001" in listing
    assert "C-002" not in listing and "C-004" not in listing  # completed; withdrawn
    assert "en pause" in listing

    # The next morning's digest carries the list too.
    seen = len(bench.group_messages())
    await bench.advance(timedelta(hours=23), step=timedelta(hours=1))
    digest = "\n".join(m.text or "" for m in bench.group_messages()[seen:])
    assert "Résumé du matin" in digest and "Liste d'appels" in digest and "/saisie C-001" in digest

    await bench.clinician_says("/appels", user_id=OUTSIDER)
    assert "réservée" in (bench.group_messages()[-1].text or "")


# --- the research nurse's phone entry (/saisie) -----------------------------------------------------------


def phone_buttons(bench: Bench) -> tuple[int, dict[str, str]]:
    """The latest phone-entry question in the group: its message id and its buttons (label → callback data)."""
    for message in reversed(bench.group_messages()):
        buttons = {b["text"]: b["callback_data"] for row in message.buttons() for b in row}
        if any(data.startswith(("pq:", "pm:")) for data in buttons.values()):
            return message.message_id, buttons
    raise AssertionError("no phone-entry question in the group")


async def nurse_press(bench: Bench, data: str, *, user_id: int = CLINICIANS[1]) -> str | None:
    message_id, _buttons = phone_buttons(bench)
    query_id = bench.standin.press_button(CLINICIAN_CHAT, user_id, message_id, data)
    await bench.settle()
    return bench.standin.world.callback_queries[query_id].answer["text"]


async def nurse_answers_everything(bench: Bench, instance_id: int) -> list[str]:
    """The nurse reads each question and presses (or types) a benign answer, to the end."""
    from bot.services import phone_entry

    assert bench.services is not None
    asked: list[str] = []
    for _ in range(100):
        prompt = await phone_entry.current_prompt(bench.services, instance_id)
        if prompt is None:
            return asked
        item = prompt.item
        asked.append(item.id)
        prefix = f"pq:{instance_id}:{prompt.item_index}:"
        if item.type == "scale":
            await nurse_press(bench, prefix + "2")
        elif item.type == "yesno":
            await nurse_press(bench, prefix + ("yes" if item.id == "analgesic_same" else "no"))
        elif item.type == "single":
            await nurse_press(bench, prefix + item.choices[0].code)
        elif item.type == "multi":
            toggle = f"pm:{instance_id}:{prompt.item_index}:"
            await nurse_press(bench, toggle + item.choices[0].code)
            await nurse_press(bench, toggle + "_ok")
        elif item.optional:
            await nurse_press(bench, prefix + "_skip")
        else:
            await bench.clinician_says(
                str(int(item.min)) if item.type == "number" and item.min else "1", user_id=CLINICIANS[1]
            )
    raise AssertionError(f"phone entry did not end: {asked[-5:]}")


async def test_a_nurse_enters_the_day_30_answers_by_phone_and_nobody_else_can(bench: Bench) -> None:
    patient = await bench.join(1621, "S-001", RT_D30)
    await answer_all(bench, patient)
    await bench.advance(timedelta(days=28, hours=-2), step=timedelta(hours=6))
    await bench.advance(timedelta(hours=2), step=timedelta(minutes=30))  # day 27, 10:00: D30 sent, unanswered
    ((d30,),) = rows(bench, "SELECT id FROM instances WHERE timepoint = 'D30'")
    patient_question = (await current_prompt(bench, patient)).instance.question_message_id

    await bench.clinician_says("/saisie S-001", user_id=OUTSIDER)  # not an allowed clinician
    assert "réservée" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/saisie S-001", user_id=CLINICIANS[1])
    assert "Saisie par téléphone" in (bench.group_messages()[-1].text or "")
    _message_id, buttons = phone_buttons(bench)
    first = next(data for data in buttons.values() if data.startswith("pq:"))
    refused = await nurse_press(bench, first, user_id=OUTSIDER)
    assert "réservée" in (refused or "")
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE instance_id = ?", d30) == [(0,)]

    asked = await nurse_answers_everything(bench, d30)
    assert rows(bench, "SELECT status FROM instances WHERE id = ?", d30) == [("completed",)]
    assert rows(bench, "SELECT DISTINCT source FROM answers WHERE instance_id = ?", d30) == [("phone",)]
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE instance_id = ?", d30) == [(len(asked),)]
    audited = rows(
        bench, "SELECT actor, details FROM audit_log WHERE action = 'answer' AND entity_id LIKE ?", f"{d30}/%"
    )
    assert len(audited) == len(asked)
    assert {actor for actor, _ in audited} == {f"clinician:{CLINICIANS[1]}"}
    assert all('"source": "phone"' in (details or "") for _, details in audited)
    assert "source « phone »" in (bench.group_messages()[-1].text or "") or "phone" in (
        bench.group_messages()[-1].text or ""
    )
    assert rows(bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'phone_entry_start'") == [(1,)]

    lines, bundle = await exported(bench)
    d30_lines = [line for line in lines if line["timepoint"] == "D30" and line["derivation"] == ""]
    assert len(d30_lines) == len(asked) and {line["source"] for line in d30_lines} == {"phone"}
    assert {line["source"] for line in lines if line["timepoint"] == "baseline" and line["derivation"] == ""} == {
        "patient"
    }
    validate_bundle(bundle)  # the answer-source extension is valid FHIR
    response = next(r for r in responses_in(bundle) if r["identifier"]["value"] == "S-001/D30")
    sources = {
        e["valueCode"] for item in response["item"] for e in item.get("extension", ()) if e["url"] == EXT_ANSWER_SOURCE
    }
    assert sources == {"phone"}

    # The patient's own copy of the question is stale now; the day-30 call list no longer names them.
    stale = bench.standin.press_button(1621, 1621, patient_question, f"q:{d30}:0:3", strict=False)
    await bench.settle()
    assert bench.standin.world.callback_queries[stale].answer["text"]
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE instance_id = ?", d30) == [(len(asked),)]
    await bench.clinician_says("/saisie S-001")
    assert "déjà terminé" in (bench.group_messages()[-1].text or "")
