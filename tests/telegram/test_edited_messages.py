"""Issue 21 item 7: only new messages act. Editing an old message into a command never runs it: no withdrawal, no
enrolment, no joining, no answer (PTB's CommandHandler takes edited messages unless told otherwise)."""

from __future__ import annotations

import sqlite3
from datetime import date

from harness import CLINICIAN_CHAT, CLINICIANS, Bench

RT = date(2027, 3, 3)


def _db(bench: Bench) -> sqlite3.Connection:
    return sqlite3.connect(bench.database)


def _own_last(bench: Bench, chat_id: int, user_id: int) -> int:
    return [m for m in bench.standin.messages(chat_id) if m.from_user.get("id") == user_id][-1].message_id


async def test_an_edited_clinician_message_never_runs_a_command(bench: Bench) -> None:
    await bench.join(2001, "P-A", RT)
    await bench.clinician_says("/patients")
    old = _own_last(bench, CLINICIAN_CHAT, CLINICIANS[0])
    for command in ("/withdraw P-A", "/enroll P-B 2027-03-03", "/day0 P-A 2027-03-10", "/pause P-A"):
        bench.standin.edit_text(CLINICIAN_CHAT, CLINICIANS[0], old, command)
        await bench.settle()
    rows = _db(bench).execute("SELECT study_id, status, rt_start FROM patients ORDER BY id").fetchall()
    assert rows == [("P-A", "active", "2027-03-03")]
    assert [r[0] for r in _db(bench).execute("SELECT action FROM audit_log WHERE action LIKE 'command:%'")] == [
        "command:enroll",
        "command:patients",
    ]


async def test_an_edited_message_never_redeems_an_invitation(bench: Bench) -> None:
    code = await bench.enroll("P-C", RT)
    await bench.patient_says(2002, "bonjour")
    bench.standin.edit_text(2002, 2002, _own_last(bench, 2002, 2002), f"/start {code}")
    await bench.settle()
    assert _db(bench).execute("SELECT COUNT(*) FROM telegram_links").fetchone()[0] == 0
    assert _db(bench).execute("SELECT status FROM patients").fetchone()[0] == "invited"
    await bench.patient_says(2002, f"/start {code}")  # the same, sent as a new message, works
    assert _db(bench).execute("SELECT COUNT(*) FROM telegram_links").fetchone()[0] == 1
