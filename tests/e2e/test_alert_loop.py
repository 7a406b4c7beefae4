"""Issue 15: alerts a nurse can trust — no repeats for the same news, and the closed loop after "Pris en charge".

Driven through the real bot and the Bot API stand-in: the patient answers with buttons, the clinicians press the
buttons under the alert in their group.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from harness import CLINICIAN_CHAT, CLINICIANS, OUTSIDER, Bench, Patient, answer_all, current_prompt

RT = date(2027, 3, 3)
REGIMEN = {"bg_taking": "yes", "bg_product": "skenan", "bg_per_day": 2, "rescue_taking": "no"}
BASELINE = {"pain_worst": 3, **REGIMEN, "bg_dose": 30}  # Skenan 30 mg twice a day: OMED 60 mg/day
SAME = {"pain_worst": 3, "analgesic_same": "yes", "rescue_doses_24h": 0}


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def increase_alerts(bench: Bench) -> list[tuple]:
    return rows(
        bench,
        "SELECT id, occurrences, acknowledged_at IS NOT NULL FROM alerts"
        " WHERE rule_id = 'analgesic_increase' ORDER BY id",
    )


def alert_message(bench: Bench, alert_id: int):  # type: ignore[no-untyped-def]
    for message in bench.group_messages():
        for row in message.buttons():
            for button in row:
                if button["callback_data"] in (f"ack:{alert_id}",) or button["callback_data"].startswith(
                    (f"act:{alert_id}:", f"out:{alert_id}:")
                ):
                    return message
    raise AssertionError(f"no message with buttons for alert {alert_id}")


async def press(bench: Bench, alert_id: int, data: str, *, user: int = CLINICIANS[0]) -> str:
    """A clinician (or anyone) presses a button under the alert's message in the clinicians' group."""
    message = alert_message(bench, alert_id)
    query = bench.standin.press_button(CLINICIAN_CHAT, user, message.message_id, data, strict=False)
    await bench.settle()
    return query


async def diary(bench: Bench, patient: Patient, answers: dict[str, object]) -> None:
    """Push a daily diary now and answer it, then let the outbox deliver."""
    await bench.clinician_says(f"/send {patient.study_id} daily")
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and prompt.questionnaire.id == "daily"
    await answer_all(bench, patient, answers)
    await bench.tick()


def told_to_wait_for_a_call(bench: Bench, patient: Patient) -> int:
    return sum("Votre équipe soignante est prévenue. Elle vous" in t for t in bench.texts(patient.user_id))


async def test_an_analgesic_increase_alerts_once_and_a_further_rise_alerts_again(bench: Bench) -> None:
    patient = await bench.join(7001, "P-L1", RT)
    await answer_all(bench, patient, BASELINE)
    await diary(bench, patient, {"pain_worst": 3, "analgesic_same": "no", **REGIMEN, "bg_dose": 40})  # OMED 80
    [(first, _, _)] = increase_alerts(bench)
    calls = told_to_wait_for_a_call(bench, patient)
    assert calls >= 1

    # Not yet taken care of: the same dose in the next diary updates the open alert, no new message.
    await diary(bench, patient, SAME)
    assert increase_alerts(bench) == [(first, 2, 0)]
    assert told_to_wait_for_a_call(bench, patient) == calls
    assert rows(
        bench, "SELECT reason, previous_alert_id FROM suppressed_alerts WHERE rule_id = 'analgesic_increase'"
    ) == [("open", first)]

    # The team takes care of it: later diaries and a weekly check at that dose are not news any more.
    await press(bench, first, f"ack:{first}")
    for _ in range(2):
        await diary(bench, patient, SAME)
    await bench.clinician_says("/send P-L1 weekly")
    await answer_all(bench, patient, {"pain_worst": 3, "analgesic_same": "yes", "rescue_doses_24h": 0})
    await bench.tick()
    assert increase_alerts(bench) == [(first, 2, 1)]
    assert told_to_wait_for_a_call(bench, patient) == calls
    reasons = rows(
        bench,
        "SELECT reason, previous_alert_id FROM suppressed_alerts WHERE rule_id = 'analgesic_increase' ORDER BY id",
    )
    assert reasons == [("open", first)] + [("acknowledged", first)] * 3  # every firing kept, with why
    assert rows(
        bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'alert_suppressed' AND entity_id = 'analgesic_increase'"
    ) == [(4,)]

    # A further rise of 25 % over the acknowledged dose (80 → 100 mg/day) is news again.
    await diary(bench, patient, {"pain_worst": 3, "analgesic_same": "no", **REGIMEN, "bg_dose": 50})
    alerts_now = increase_alerts(bench)
    assert len(alerts_now) == 2 and alerts_now[1][1:] == (1, 0)
    assert told_to_wait_for_a_call(bench, patient) > calls


async def test_a_worse_value_alerts_again_while_the_first_alert_is_open(bench: Bench) -> None:
    patient = await bench.join(7002, "P-L2", RT)
    await answer_all(bench, patient, BASELINE)
    await diary(bench, patient, {"pain_worst": 3, "analgesic_same": "no", **REGIMEN, "bg_dose": 40})  # OMED 80
    await diary(bench, patient, {"pain_worst": 3, "analgesic_same": "no", **REGIMEN, "bg_dose": 45})  # 90: higher
    assert [n for _, n, _ in increase_alerts(bench)] == [1, 1]
    await diary(bench, patient, {"pain_worst": 3, "analgesic_same": "no", **REGIMEN, "bg_dose": 40})  # lower: same
    assert [n for _, n, _ in increase_alerts(bench)] == [1, 2]
    # Red flags are never merged: each one alerts.
    await diary(bench, patient, {**SAME, "rf_weakness": "yes"})
    await diary(bench, patient, {**SAME, "rf_weakness": "yes"})
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE rule_id = 'rf_weakness'") == [(2,)]


async def test_the_closed_loop_records_action_and_outcome_and_refuses_non_clinicians(bench: Bench) -> None:
    patient = await bench.join(7003, "P-L3", RT)
    await answer_all(bench, patient, {**BASELINE})
    await diary(bench, patient, {**SAME, "rf_weakness": "yes"})
    [(alert_id,)] = rows(bench, "SELECT id FROM alerts WHERE rule_id = 'rf_weakness'")
    # Before "Pris en charge", the follow-up buttons (forged) are refused.
    await press(bench, alert_id, f"act:{alert_id}:called")
    assert rows(bench, "SELECT COUNT(*) FROM alert_followups") == [(0,)]

    await press(bench, alert_id, f"ack:{alert_id}", user=CLINICIANS[1])
    message = alert_message(bench, alert_id)
    assert "Qu'avez-vous fait ?" in (message.text or "")
    labels = [b["text"] for row in message.buttons() for b in row]
    assert labels == [
        "Patient appelé",
        "Antalgiques modifiés",
        "Vu en consultation",
        "Imagerie demandée",
        "Adressé aux urgences",
        "Rien de nécessaire",
    ]

    query = await press(bench, alert_id, f"act:{alert_id}:imaging", user=OUTSIDER)
    assert "réservée" in bench.standin.callback_answer(query)["text"]
    assert rows(bench, "SELECT COUNT(*) FROM alert_followups") == [(0,)]

    await press(bench, alert_id, f"act:{alert_id}:imaging")
    await press(bench, alert_id, f"act:{alert_id}:imaging")  # a double tap: stored once (issue 39, item 7)
    message = alert_message(bench, alert_id)
    assert "Fait : Imagerie demandée" in (message.text or "")
    assert [b["text"] for row in message.buttons() for b in row][0] == "Compression médullaire confirmée"

    # The outcome is asked again in the digest after 7 days, and can be corrected later.
    bench.clock.advance(timedelta(days=8))
    await bench.tick()
    digests = [m.text or "" for m in bench.group_messages() if "Résumé du matin" in (m.text or "")]
    assert any("Issue à renseigner" in d and "P-L3" in d.split("Issue à renseigner")[1] for d in digests), digests[-1]

    query = await press(bench, alert_id, f"out:{alert_id}:fracture", user=OUTSIDER)
    assert "réservée" in bench.standin.callback_answer(query)["text"]
    await press(bench, alert_id, f"out:{alert_id}:none")
    await press(bench, alert_id, f"out:{alert_id}:cord_compression", user=CLINICIANS[1])
    await press(bench, alert_id, f"out:{alert_id}:cord_compression", user=CLINICIANS[1])  # repeated: no new row
    assert rows(bench, "SELECT kind, code, recorded_by FROM alert_followups ORDER BY id") == [
        ("action", "imaging", CLINICIANS[0]),
        ("outcome", "none", CLINICIANS[0]),
        ("outcome", "cord_compression", CLINICIANS[1]),
    ]
    assert "Issue : Compression médullaire confirmée" in (alert_message(bench, alert_id).text or "")
    assert rows(
        bench,
        "SELECT actor, action, new_value FROM audit_log WHERE action IN ('alert_action', 'alert_outcome') ORDER BY id",
    ) == [
        (f"clinician:{CLINICIANS[0]}", "alert_action", "imaging"),
        (f"clinician:{CLINICIANS[0]}", "alert_outcome", "none"),
        (f"clinician:{CLINICIANS[1]}", "alert_outcome", "cord_compression"),
    ]
    bench.clock.advance(timedelta(days=1))
    await bench.tick()
    last = [m.text or "" for m in bench.group_messages() if "Résumé du matin" in (m.text or "")][-1]
    assert "Issue à renseigner" not in last


async def test_suppressed_firings_and_the_loop_are_exported_and_reported(bench: Bench, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import csv
    import json

    from bot.export import export
    from bot.report.telemonitoring import build_telemonitoring

    patient = await bench.join(7004, "P-L4", RT)
    await answer_all(bench, patient, BASELINE)
    await diary(bench, patient, {"pain_worst": 3, "analgesic_same": "no", **REGIMEN, "bg_dose": 40})
    [(first, _, _)] = increase_alerts(bench)
    await press(bench, first, f"ack:{first}")
    await press(bench, first, f"act:{first}:analgesics")
    await diary(bench, patient, SAME)
    services = bench.services
    assert services is not None
    count = await export("alerts", services.store, tmp_path / "alerts.csv", services.questionnaires, services.opioids)
    records = list(csv.DictReader((tmp_path / "alerts.csv").open(encoding="utf-8")))
    assert count == len(records)
    kinds = [
        (r["record"], r["rule_id"], r["reason"] or r["code"]) for r in records if r["rule_id"] == "analgesic_increase"
    ]
    assert kinds == [
        ("alert", "analgesic_increase", ""),
        ("suppressed", "analgesic_increase", "acknowledged"),
        ("action", "analgesic_increase", "analgesics"),
    ]
    assert all(str(CLINICIANS[0]) not in ",".join(r.values()) for r in records)
    await export("alerts-fhir", services.store, tmp_path / "alerts.json", services.questionnaires, services.opioids)
    bundle = json.loads((tmp_path / "alerts.json").read_text(encoding="utf-8"))
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Flag", "Communication"}
    path = await build_telemonitoring(services.store, tmp_path)
    report = {(r["scope"], r["metric"]): r["value"] for r in csv.DictReader(path.open(encoding="utf-8"))}
    assert report[("rule:analgesic_increase", "alerts")] == "1"
    assert report[("rule:analgesic_increase", "suppressed")] == "1"
    assert report[("rule:analgesic_increase", "actions")] == "1"
    assert report[("all", "questionnaires")] == "3"
