"""Access control (issue #7): who may do what, and where.

Clinician commands need both an allowed Telegram user (CLINICIAN_USER_IDS) and the clinicians' group
(CLINICIAN_CHAT_ID); the bot leaves any other group; invitation codes are single use, expire and are stored only
hashed; guessing codes is rate-limited per user; and when the clinicians' group becomes a supergroup the bot
follows it. tests/e2e/test_enrolment.py covers the basic /enroll refusals and the first rate-limit case; these tests
extend them to every clinician command, every wrong place, races and boundaries.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import date, timedelta
from typing import Any

import pytest
from harness import CLINICIAN_CHAT, CLINICIANS, OUTSIDER, Bench, current_prompt, give

from bot.domain.enrolment import INVITATION_VALIDITY_DAYS
from bot.services.enrolment import START_ATTEMPTS_PER_WINDOW

RT = date(2027, 3, 3)
FOREIGN_GROUP = -2002
SUPERGROUP = -1009999
REFUSAL = "réservée à l'équipe soignante"
ERRORS_LOGGER = "bot.telegram.handlers.errors"


def rows(bench: Bench, sql: str, *params: object) -> list[tuple[Any, ...]]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def status(bench: Bench, study_id: str) -> str:
    return rows(bench, "SELECT status FROM patients WHERE study_id = ?", study_id)[0][0]


def refused_requests(bench: Bench) -> list[tuple[str, str | None]]:
    return [(r.method, r.description) for r in bench.standin.requests() if r.status and r.status >= 400]


def handler_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ERRORS_LOGGER and r.levelno >= logging.ERROR]


# ---- clinician commands ---------------------------------------------------------------------------------------------

COMMANDS = [
    "/withdraw P-AC1",
    "/pause P-AC1",
    "/day0 P-AC1 2027-04-01",
    "/send P-AC1 weekly",
    "/patients",
    "/patient P-AC1",
    "/alerts",
    "/enroll P-AC9 2027-03-03",
]


async def test_every_clinician_command_is_refused_to_outsiders_in_the_group_and_to_anyone_elsewhere(
    bench: Bench,
) -> None:
    await bench.join(4001, "P-AC1", RT)
    bench.standin.add_group(FOREIGN_GROUP, "Autre groupe")
    before_audit = rows(bench, "SELECT COUNT(*) FROM audit_log")[0][0]
    for command in COMMANDS:
        # An outsider in the clinicians' group: a polite refusal there.
        await bench.clinician_says(command, user_id=OUTSIDER)
        assert REFUSAL in (bench.group_messages()[-1].text or ""), command
        # An allowed clinician, but in a private chat with the bot (where /pause is the patients' own command,
        # refused to someone who is not a patient).
        await bench.patient_says(CLINICIANS[1], command)
        assert REFUSAL in bench.last_text(CLINICIANS[1]) or "demander votre lien" in bench.last_text(CLINICIANS[1])
        # The patient herself, in her chat (except /pause: pausing herself is hers to do).
        if not command.startswith("/pause"):
            await bench.patient_says(4001, command)
            assert REFUSAL in bench.last_text(4001), command
    # An allowed clinician in another group: the bot does not answer there, it leaves.
    await bench.clinician_says("/withdraw P-AC1", user_id=CLINICIANS[0], chat_id=FOREIGN_GROUP)
    assert bench.standin.sent_messages(FOREIGN_GROUP) == []
    assert [r.chat_id for r in bench.standin.requests("leaveChat")] == [FOREIGN_GROUP]

    assert status(bench, "P-AC1") == "active"
    assert rows(bench, "SELECT study_id FROM patients") == [("P-AC1",)]
    assert rows(bench, "SELECT COUNT(*) FROM instances WHERE questionnaire_id = 'weekly' AND status != 'planned'") == [
        (0,)
    ]
    assert rows(bench, "SELECT COUNT(*) FROM audit_log")[0][0] == before_audit  # nothing was done, by anyone
    # The same command, from an allowed clinician in the clinicians' group, does work (the refusals were real).
    await bench.clinician_says("/withdraw P-AC1", user_id=CLINICIANS[1])
    assert status(bench, "P-AC1") == "withdrawn"


async def test_taken_care_of_is_refused_outside_the_group_even_to_a_clinician(bench: Bench) -> None:
    patient = await bench.join(4002, "P-AC2", RT)
    await answer_until(bench, patient, "rf_weakness")
    await give(bench, patient, "yes")
    await bench.tick()
    (alert_id,) = rows(bench, "SELECT id FROM alerts WHERE rule_id LIKE 'rf_weakness%'")[0]
    # A clinician's private chat with the bot carrying a forged "Pris en charge" button.
    bench.standin.add_private_chat(CLINICIANS[0], first_name="Dr")
    await bench.patient_says(CLINICIANS[0], "bonjour")
    private = bench.standin.last_message(CLINICIANS[0])
    query = bench.standin.press_button(
        CLINICIANS[0], CLINICIANS[0], private.message_id, f"ack:{alert_id}", strict=False
    )
    await bench.settle()
    assert REFUSAL in (bench.standin.callback_answer(query) or {}).get("text", "")
    # The patient, on the group's alert message (someone forwarded it? a forged update): refused too.
    alert_message = next(m for m in bench.group_messages() if f"ack:{alert_id}" in str(m.reply_markup))
    query = bench.standin.press_button(CLINICIAN_CHAT, patient.user_id, alert_message.message_id, f"ack:{alert_id}")
    await bench.settle()
    assert REFUSAL in (bench.standin.callback_answer(query) or {}).get("text", "")
    assert rows(bench, "SELECT acknowledged_at, acknowledged_by FROM alerts WHERE id = ?", alert_id) == [(None, None)]


# ---- foreign groups -------------------------------------------------------------------------------------------------


async def test_the_bot_leaves_any_other_group_it_is_added_to_without_a_word_or_an_error(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bench.standin.add_group(FOREIGN_GROUP, "Famille")
    bench.standin.add_group(SUPERGROUP, "Association", type="supergroup")
    bench.standin.bot_added_to_group(FOREIGN_GROUP, by_user_id=OUTSIDER)
    bench.standin.bot_added_to_group(SUPERGROUP, by_user_id=CLINICIANS[0])  # even by a clinician
    await bench.settle()
    left = sorted({r.chat_id for r in bench.standin.requests("leaveChat") if r.status == 200})
    assert left == sorted([FOREIGN_GROUP, SUPERGROUP])
    assert not bench.standin.world.chats[FOREIGN_GROUP].bot_member
    assert not bench.standin.world.chats[SUPERGROUP].bot_member
    assert bench.standin.sent_messages(FOREIGN_GROUP) == bench.standin.sent_messages(SUPERGROUP) == []
    assert refused_requests(bench) == []  # it leaves once, not once per update
    assert handler_errors(caplog) == []
    # Removed from a group it was in before anyone spoke: nothing to leave, nothing to say.
    neighbours = bench.standin.add_group(-2003, "Voisins")
    bench.standin.world.chats[-2003].bot_member = False
    me = bench.standin.world.bot_sender
    outsider = {"id": OUTSIDER, "is_bot": False, "first_name": "Outsider"}
    bench.standin.inject_raw(
        {
            "my_chat_member": {
                "chat": neighbours,
                "from": outsider,
                "date": int(bench.clock.now().timestamp()),
                "old_chat_member": {"status": "member", "user": me},
                "new_chat_member": {"status": "kicked", "user": me, "until_date": 0},
            }
        }
    )
    await bench.settle()
    assert refused_requests(bench) == []
    assert handler_errors(caplog) == []
    # Added again later: it leaves again.
    bench.standin.bot_added_to_group(FOREIGN_GROUP, by_user_id=OUTSIDER)
    await bench.settle()
    assert [r.chat_id for r in bench.standin.requests("leaveChat")].count(FOREIGN_GROUP) == 2
    assert not bench.standin.world.chats[FOREIGN_GROUP].bot_member
    assert refused_requests(bench) == []
    # Still the clinicians' bot.
    await bench.enroll("P-AC3", RT)


# ---- invitations ----------------------------------------------------------------------------------------------------


async def test_two_people_racing_with_one_link_get_one_patient_and_one_refusal(bench: Bench) -> None:
    code = await bench.enroll("P-AC4", RT)
    for user_id in (4101, 4102, 4103):
        bench.standin.add_private_chat(user_id)
    for user_id in (4101, 4102, 4103):  # one getUpdates batch, handled concurrently
        bench.standin.send_text(user_id, user_id, f"/start {code}")
    await bench.settle()
    assert rows(bench, "SELECT COUNT(*) FROM telegram_links")[0][0] == 1
    welcomed = [
        u for u in (4101, 4102, 4103) if "J'ai lu et compris" in str(bench.standin.last_message(u).reply_markup)
    ]
    refused = [u for u in (4101, 4102, 4103) if "demander votre lien" in bench.last_text(u)]
    assert len(welcomed) == 1 and len(refused) == 2
    (linked,) = rows(bench, "SELECT telegram_user_id FROM telegram_links")[0]
    assert welcomed == [linked]


async def test_a_link_works_until_the_last_second_of_its_validity_and_not_after(bench: Bench) -> None:
    early = await bench.enroll("P-AC5", RT)
    late = await bench.enroll("P-AC6", RT)
    bench.clock.advance(timedelta(days=INVITATION_VALIDITY_DAYS) - timedelta(seconds=1))
    await bench.patient_says(4201, f"/start {early}")
    assert "J'ai lu et compris" in bench.standin.last_message(4201).button_texts()
    bench.clock.advance(timedelta(seconds=1))
    await bench.patient_says(4202, f"/start {late}")
    assert "demander votre lien" in bench.last_text(4202)
    assert rows(bench, "SELECT details FROM audit_log WHERE action = 'start_refused'") == [('{"reason": "expired"}',)]


async def test_no_invitation_code_is_stored_anywhere_in_the_database_files(bench: Bench) -> None:
    codes = [await bench.enroll(f"P-AC7{n}", RT) for n in range(3)]
    await bench.patient_says(4301, f"/start {codes[0]}")  # redeemed
    await bench.patient_says(4302, f"/start {codes[0]}")  # refused: already used
    await bench.patient_says(4303, f"/start {codes[1][:-1]}")  # a near miss
    await bench.stop_bot()  # everything flushed; the WAL may still hold the latest pages, so read it too
    raw = b"".join(p.read_bytes() for p in bench.database.parent.glob(bench.database.name + "*"))
    for code in codes:
        assert code.encode() not in raw, "an invitation code is readable in the database"
        assert code[:12].encode() not in raw
    hashes = [h for (h,) in sqlite3.connect(bench.database).execute("SELECT code_hash FROM invitations")]
    assert len(hashes) == 3 and all(len(h) == 64 for h in hashes)
    await bench.start_bot()


async def test_guessing_codes_is_limited_per_person_and_per_hour(bench: Bench) -> None:
    code = await bench.enroll("P-AC8", RT)
    for attempt in range(START_ATTEMPTS_PER_WINDOW + 3):
        await bench.patient_says(4401, f"/start guess{attempt}")
    # Someone else, meanwhile, is not affected by the first person's guessing.
    await bench.patient_says(4402, f"/start {code}")
    assert "J'ai lu et compris" in bench.standin.last_message(4402).button_texts()
    # The window slides: attempts older than an hour no longer count, a fresh burst is counted again.
    bench.clock.advance(timedelta(hours=1, seconds=1))
    for attempt in range(START_ATTEMPTS_PER_WINDOW - 1):
        await bench.patient_says(4403, f"/start other{attempt}")
        await bench.patient_says(4401, f"/start again{attempt}")
    audited = dict(rows(bench, "SELECT actor, COUNT(*) FROM audit_log WHERE action = 'start_refused' GROUP BY actor"))
    assert audited == {
        "stranger:4401": START_ATTEMPTS_PER_WINDOW + START_ATTEMPTS_PER_WINDOW - 1,
        "stranger:4403": START_ATTEMPTS_PER_WINDOW - 1,
    }


# ---- migration of the clinicians' group -----------------------------------------------------------------------------


async def test_after_the_group_becomes_a_supergroup_enrolment_and_alerts_follow_it(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bench.standin.world.chats[CLINICIAN_CHAT].type = "group"  # a plain group, as most teams start
    patient = await bench.join(4501, "P-AC10", RT)
    sent_before = len(bench.standin.requests("sendMessage"))
    bench.standin.migrate_group(CLINICIAN_CHAT, SUPERGROUP, by_user_id=CLINICIANS[0])
    await bench.settle()
    assert bench.standin.requests("leaveChat") == []  # the new supergroup is not a foreign group
    await bench.clinician_says("/enroll P-AC11 2027-03-03", chat_id=SUPERGROUP)
    assert "?start=" in (bench.standin.last_message(SUPERGROUP).text or "")
    await answer_until(bench, patient, "rf_numbness")
    await give(bench, patient, "yes")
    await bench.restart()  # the new id is remembered, not only held in memory
    await bench.tick()
    alerts = [r for r in bench.standin.requests("sendMessage") if "ack:" in str(r.params.get("reply_markup"))]
    assert [r.chat_id for r in alerts] == [SUPERGROUP]
    assert all(r.status == 200 for r in alerts)
    assert rows(bench, "SELECT delivered_at IS NOT NULL FROM alerts WHERE rule_id LIKE 'rf_numbness%'") == [(1,)]
    # Nothing is sent to the old id any more.
    assert [r for r in bench.standin.requests("sendMessage")[sent_before:] if r.chat_id == CLINICIAN_CHAT] == []
    assert handler_errors(caplog) == []


async def answer_until(bench: Bench, patient: Any, stop_at: str) -> None:
    from harness import default_answer

    for _ in range(100):
        prompt = await current_prompt(bench, patient)
        assert prompt is not None, stop_at
        if prompt.item.id == stop_at:
            return
        await give(bench, patient, default_answer(prompt.item))
    raise AssertionError(stop_at)
