"""Escalation end to end (issue #5): red flags, outbox delivery, acknowledgement, re-alerts, digest, commands."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from harness import CLINICIAN_CHAT, CLINICIANS, OUTSIDER, Bench, answer_all, current_prompt, give

RT = date(2027, 3, 3)
RED_FLAGS = ("rf_weakness", "rf_numbness", "rf_bladder_bowel", "rf_radicular_new")


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def alert_messages(bench: Bench) -> list[str]:
    return [m.text or "" for m in bench.group_messages() if "ALERTE URGENTE" in (m.text or "")]


async def test_every_red_flag_in_every_questionnaire_raises_exactly_one_urgent_alert(bench: Bench) -> None:
    patient = await bench.join(2001, "P-E1", RT)
    advised_before = 0
    for questionnaire in ("baseline", "daily", "followup", "weekly"):
        if questionnaire != "baseline":
            await bench.clinician_says(f"/send P-E1 {questionnaire}")
        prompt = await current_prompt(bench, patient)
        assert prompt is not None and prompt.questionnaire.id == questionnaire
        await answer_all(bench, patient, {flag: "yes" for flag in RED_FLAGS})
        await bench.tick()
        texts = bench.texts(2001)
        # At inclusion the patient calls the department now (a doctor must check before treating); afterwards a new
        # neurological sign is "call 15 or 112 now", unconditionally — never "if it is still there".
        wording = (
            "Appelez maintenant le service de radiothérapie"
            if questionnaire == "baseline"
            else "Appelez maintenant le 15 (SAMU) ou le 112"
        )
        advised = sum(wording in t for t in texts)
        assert advised - (advised_before if questionnaire != "daily" else 0) == 4, questionnaire
        advised_before = advised
        assert not any("Si ce symptôme est présent" in t for t in texts)
    fired = rows(
        bench,
        "SELECT i.questionnaire_id, a.rule_id FROM alerts a JOIN instances i ON i.id = a.instance_id"
        " WHERE a.severity = 'urgent' ORDER BY a.id",
    )
    assert sorted(fired) == sorted(
        (q, f if q != "baseline" else f"{f}_inclusion")
        for q in ("baseline", "daily", "followup", "weekly")
        for f in RED_FLAGS
    )
    messages = alert_messages(bench)
    assert len(messages) == 16
    assert sum("Trouvé à l'inclusion" in m for m in messages) == 4
    assert sum("Signe neurologique nouveau ou qui s'aggrave : faiblesse" in m for m in messages) == 3  # issue 32
    for message in bench.group_messages():
        assert "Jeanne" not in (message.text or "") and "jeanne2001" not in (message.text or "")
    assert all(m.protect_content for m in bench.group_messages() if "ALERTE" in (m.text or ""))
    assert all("P-E1 (Service de radiothérapie (exemple))" in m for m in messages)  # the site by its name
    # Nurses read labels: no rule id, item id, questionnaire code or file path in what they get.
    for m in messages:
        for code in (*RED_FLAGS, "[", ".md", "shared/", "docs/", "(baseline)", "DD0", "followup"):
            assert code not in m, (code, m)
    weakness = [m for m in messages if "faiblesse" in m.lower()]
    assert all("Réponses : Faiblesse, chute (nouveau) : Oui" in m for m in weakness), weakness[0]
    assert any("Questionnaire : Questionnaire d'inclusion (inclusion)" in m for m in messages)
    assert any("Questionnaire : Journal du jour (jour " in m for m in messages)


async def test_benign_answers_raise_no_alert_and_no_emergency_message(bench: Bench) -> None:
    patient = await bench.join(2002, "P-E2", RT)
    await answer_all(bench, patient)
    for questionnaire in ("daily", "followup", "weekly"):
        await bench.clinician_says(f"/send P-E2 {questionnaire}")
        await answer_all(bench, patient)
    await bench.tick()
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE severity != 'info'")[0][0] == 0
    assert not any("SAMU" in t and "appelez tout de suite" in t for t in bench.texts(2002))
    assert alert_messages(bench) == []


async def test_a_clinician_acknowledges_and_others_are_refused(bench: Bench) -> None:
    patient = await bench.join(2003, "P-E3", RT)
    await answer_all(bench, patient, {"rf_weakness": "yes"})
    await bench.tick()
    alert = next(m for m in bench.group_messages() if "ALERTE URGENTE" in (m.text or ""))
    data = alert.buttons()[0][0]["callback_data"]
    query = bench.standin.press_button(CLINICIAN_CHAT, OUTSIDER, alert.message_id, data)
    await bench.settle()
    assert "réservée" in bench.standin.callback_answer(query)["text"]
    assert rows(bench, "SELECT acknowledged_at FROM alerts WHERE rule_id LIKE 'rf_weakness%'") == [(None,)]
    bench.standin.press_button(CLINICIAN_CHAT, CLINICIANS[1], alert.message_id, data)
    await bench.settle()
    acked = rows(bench, "SELECT acknowledged_by FROM alerts WHERE rule_id LIKE 'rf_weakness%'")
    assert acked == [(CLINICIANS[1],)]
    edited = next(m for m in bench.group_messages() if m.message_id == alert.message_id)
    assert "Pris en charge par" in (edited.text or "")
    # The closed loop (issue 15): the buttons now ask what was done, no "Pris en charge" any more.
    assert [b["callback_data"] for row in edited.buttons() for b in row][0] == f"act:{data.split(':')[1]}:called"
    assert not any(b["callback_data"].startswith("ack:") for row in edited.buttons() for b in row)
    assert rows(bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'acknowledge'")[0][0] == 1
    # acknowledged: no re-alert later
    bench.clock.advance(timedelta(hours=2))
    await bench.tick()
    assert len(alert_messages(bench)) == 1


async def test_an_unacknowledged_urgent_alert_is_resent_three_times_then_climbs_its_ladder(bench: Bench) -> None:
    patient = await bench.join(2004, "P-E4", RT)
    await answer_all(bench, patient, {"rf_bladder_bowel": "yes"})
    await bench.tick()
    assert len(alert_messages(bench)) == 1
    bench.clock.advance(timedelta(minutes=14))
    await bench.tick()
    assert len(alert_messages(bench)) == 1
    for n in (1, 2, 3):
        bench.clock.advance(timedelta(minutes=15, seconds=1))
        await bench.tick()
        assert len(alert_messages(bench)) == 1 + n
        assert f"RAPPEL {n}" in alert_messages(bench)[-1]
    # Issue 32: it no longer fades into an information line; it climbs the site's ladder (sites.yaml: on call
    # 15 min after the last reminder, the patient 30 min later) and stays urgent (tests/e2e/test_alert_ladder.py).
    bench.clock.advance(timedelta(minutes=15, seconds=1))
    await bench.tick()
    assert len(alert_messages(bench)) == 5 and "Astreinte : @dr_astreinte_exemple" in alert_messages(bench)[-1]
    bench.clock.advance(timedelta(minutes=30, seconds=1))
    await bench.tick()
    assert len(alert_messages(bench)) == 6 and "TOUJOURS PAS PRIS EN CHARGE" in alert_messages(bench)[-1]
    bench.clock.advance(timedelta(hours=1))
    await bench.tick()
    assert len(alert_messages(bench)) == 6
    assert rows(bench, "SELECT rule_id FROM alerts WHERE rule_id NOT LIKE 'rf_bladder_bowel%'") == []


async def test_alerts_survive_telegram_failures_and_a_restart_and_go_out_once(bench: Bench) -> None:
    patient = await bench.join(2005, "P-E5", RT)
    bench.standin.fail_next(2, status=500, method="sendMessage")
    await answer_all(bench, patient, {"rf_numbness": "yes"})  # some replies to the patient fail too
    bench.standin.fail_next(1, status=500, method="sendMessage")
    bench.standin.rate_limit_next(1, retry_after=3, method="sendMessage")
    bench.standin.timeout_next(1, method="sendMessage", seconds=1)
    await bench.tick()
    await bench.restart()  # undelivered alerts are in the database, not in memory
    for _ in range(8):
        bench.clock.advance(timedelta(seconds=40))
        await bench.tick()
    assert len(alert_messages(bench)) == 1
    assert rows(bench, "SELECT COUNT(*) FROM alerts WHERE delivered_at IS NULL AND severity = 'urgent'")[0][0] == 0
    assert rows(bench, "SELECT COUNT(*) FROM answers WHERE item_id = 'rf_numbness'")[0][0] == 1


async def test_clinician_commands_list_show_pause_resume_and_withdraw(bench: Bench) -> None:
    patient = await bench.join(2006, "P-E6", RT)
    await give(bench, patient, 7)
    await bench.clinician_says("/patients")
    listing = bench.group_messages()[-1].text or ""
    assert "P-E6" in listing and "actif" in listing and "Jeanne" not in listing
    await bench.clinician_says("/patient P-E6")
    photo = bench.standin.requests("sendPhoto")[-1]
    assert photo.status == 200
    stored = bench.group_messages()[-1]
    assert stored.photo_file_id and bench.standin.get_file_bytes(stored.photo_file_id).startswith(b"\x89PNG")
    await bench.clinician_says("/patients", user_id=OUTSIDER)
    assert "réservée" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/pause P-E6")
    assert rows(bench, "SELECT status FROM patients")[0][0] == "paused"
    await bench.clinician_says("/reprendre P-E6")
    assert rows(bench, "SELECT status FROM patients")[0][0] == "active"
    await bench.clinician_says("/withdraw P-E6")
    assert rows(bench, "SELECT status FROM patients")[0][0] == "withdrawn"
    before = len(bench.standin.sent_messages(2006))
    await bench.patient_says(patient, "bonjour")
    await bench.advance(timedelta(days=3), step=timedelta(hours=2))
    assert len(bench.standin.sent_messages(2006)) == before  # never a message again
    assert rows(bench, "SELECT COUNT(*) FROM answers")[0][0] == 1  # data kept
    audit = [r[0] for r in rows(bench, "SELECT action FROM audit_log WHERE actor LIKE 'clinician:%'")]
    assert {"command:patients", "command:patient", "command:pause", "command:withdraw"} <= set(audit)


async def test_the_morning_digest_lists_open_alerts_and_missed_questionnaires(bench: Bench) -> None:
    patient = await bench.join(2007, "P-E7", RT)
    await answer_all(bench, patient, {"rf_weakness": "yes"})
    await bench.advance(timedelta(days=1), step=timedelta(hours=1))  # Tuesday: the baseline's second part (issue 35)
    await answer_all(bench, patient, {"message_team": "J'ai une question sur mon traitement"})
    await bench.advance(timedelta(days=2), step=timedelta(hours=1))  # DD0 (day 0) goes unanswered
    digests = [m.text or "" for m in bench.group_messages() if "Résumé du matin" in (m.text or "")]
    assert digests, "no digest sent"
    assert any("P-E7" in d and "faiblesse nouvelle" in d for d in digests)
    assert any("J'ai une question sur mon traitement" in d for d in digests)
    assert any("Questionnaire non rempli" in d and "(jour 0)" in d for d in digests[1:])
    times = [m.date for m in bench.group_messages() if "Résumé du matin" in (m.text or "")]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    for t in times[1:]:  # the first one goes out at start-up (no digest yet that day), later ones at 08:30
        local = datetime.fromtimestamp(t, ZoneInfo("Europe/Paris"))
        assert (local.hour, local.minute) >= (8, 30) and local.hour < 10
