"""Enrolment from the clinicians' group and joining from the invitation link (issue #2), end to end."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from harness import CLINICIANS, OUTSIDER, Bench

RT = date(2027, 3, 3)


def _db(bench: Bench) -> sqlite3.Connection:
    return sqlite3.connect(bench.database)


async def test_an_allowed_clinician_enrols_a_patient_and_gets_a_one_time_link(bench: Bench) -> None:
    code = await bench.enroll("P-001", RT, "arm=experimental", "site=LYON", "fractions=5")
    reply = bench.group_messages()[-1]
    assert reply.text is not None and "https://t.me/spinal_pro_test_bot?start=" in reply.text
    assert reply.protect_content
    row = _db(bench).execute("SELECT study_id, site_code, arm, fractions, rt_start, status FROM patients").fetchone()
    assert row == ("P-001", "LYON", "experimental", 5, "2027-03-03", "invited")
    stored = _db(bench).execute("SELECT code_hash FROM invitations").fetchone()[0]
    assert code not in stored and len(stored) == 64  # only the hash is stored


async def test_enrolment_by_anyone_else_or_anywhere_else_is_refused_and_creates_nothing(bench: Bench) -> None:
    await bench.clinician_says(f"/enroll P-002 {RT.isoformat()}", user_id=OUTSIDER)
    assert "réservée à l'équipe soignante" in bench.group_messages()[-1].text
    # an allowed clinician, but in a private chat with the bot
    await bench.patient_says(CLINICIANS[0], f"/enroll P-003 {RT.isoformat()}")
    assert "réservée à l'équipe soignante" in bench.last_text(CLINICIANS[0])
    assert _db(bench).execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 0


async def test_bad_enrolment_requests_get_a_clear_french_error(bench: Bench) -> None:
    await bench.enroll("P-010", RT)
    cases = {
        "/enroll P-010 2027-03-03": "déjà inclus",
        "/enroll P-011 03/03/2027": "AAAA-MM-JJ",
        "/enroll P-012 2027-02-30": "AAAA-MM-JJ",
        "/enroll P-013 2027-03-03 colour=blue": "Option inconnue",
        "/enroll P-014 2027-03-03 fractions=3": "1 ou 5",
        "/enroll P-015 2027-03-03 arm=placebo": "standard ou experimental",
        "/enroll": "Utilisation",
    }
    for command, expected in cases.items():
        await bench.clinician_says(command)
        assert expected in (bench.group_messages()[-1].text or ""), command
    assert _db(bench).execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1


async def test_a_patient_joins_once_reads_the_information_and_the_baseline_starts(bench: Bench) -> None:
    code = await bench.enroll("P-020", RT)
    await bench.patient_says(501, f"/start {code}")
    welcome = bench.standin.last_message(501)
    assert welcome is not None and "15" in (welcome.text or "") and "112" in (welcome.text or "")
    await bench.press(501, "J'ai lu et compris")
    await bench.press(501, "Le matin")
    question = bench.last_keyboard_message(501)
    assert "Nouveau questionnaire" in (question.text or "") and "Question 1\n" in (question.text or "")
    assert [b for b in question.button_texts()][:11] == [str(n) for n in range(11)]
    status = _db(bench).execute("SELECT status, preferred_time FROM patients").fetchone()
    assert status == ("active", "matin")
    # The same link cannot be used by anyone else afterwards.
    await bench.patient_says(502, f"/start {code}")
    assert "demander votre lien" in bench.last_text(502)
    assert _db(bench).execute("SELECT COUNT(*) FROM telegram_links").fetchone()[0] == 1


async def test_wrong_expired_or_missing_codes_and_strangers_get_the_polite_refusal(bench: Bench) -> None:
    code = await bench.enroll("P-030", RT)
    for text in ("/start", "/start nope", "bonjour"):
        await bench.patient_says(601, text)
        assert "demander votre lien" in bench.last_text(601), text
    bench.clock.advance(timedelta(days=14, seconds=1))
    await bench.patient_says(602, f"/start {code}")
    assert "demander votre lien" in bench.last_text(602)
    assert _db(bench).execute("SELECT COUNT(*) FROM telegram_links").fetchone()[0] == 0
    refusals = _db(bench).execute("SELECT COUNT(*) FROM audit_log WHERE action = 'start_refused'").fetchone()[0]
    assert refusals == 3  # /start, /start nope and the expired code; plain text from a stranger is not audited


async def test_repeated_wrong_codes_are_rate_limited_even_for_a_valid_code(bench: Bench) -> None:
    code = await bench.enroll("P-040", RT)
    for attempt in range(7):
        await bench.patient_says(701, f"/start wrong{attempt}")
    refusals = _db(bench).execute("SELECT COUNT(*) FROM audit_log WHERE action = 'start_refused'").fetchone()[0]
    assert refusals == 5  # audited up to the limit, then refused without a look
    await bench.patient_says(701, f"/start {code}")
    assert "demander votre lien" in bench.last_text(701)
    bench.clock.advance(timedelta(hours=1, seconds=1))
    await bench.patient_says(701, f"/start {code}")
    assert "J'ai lu et compris" in bench.standin.last_message(701).button_texts()


async def test_enrolled_patients_survive_a_restart(bench: Bench) -> None:
    code = await bench.enroll("P-050", RT)
    await bench.patient_says(801, f"/start {code}")
    await bench.restart()
    await bench.press(801, "J'ai lu et compris")
    await bench.press(801, "Le soir")
    assert _db(bench).execute("SELECT status, preferred_time FROM patients").fetchone() == ("active", "soir")
