"""No duplicate and no lost questionnaire across a crash at each step of the send sequence (issue #4).

The dispatcher's order is: (1) commit the instance as `sending`, (2) send to Telegram, (3) commit it `open`.
A process that dies leaves the database exactly as after the last commit, so each crash point is reproduced by
putting the file in that state and starting a fresh bot on it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

from harness import Bench, answer_all

RT = date(2027, 3, 3)
INTRO = "Nouveau questionnaire"


def sql(bench: Bench, statement: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(bench.database)
    try:
        result = conn.execute(statement, params).fetchall()
        conn.commit()
        return result
    finally:
        conn.close()


def intros(bench: Bench, chat_id: int) -> int:
    return sum(
        INTRO in str(r.params.get("text", ""))
        for r in bench.standin.requests("sendMessage", chat_id=chat_id)
        if r.status == 200
    )


async def _patient_at_day0(bench: Bench, user: int, study_id: str) -> None:
    patient = await bench.join(user, study_id, RT)
    await answer_all(bench, patient)  # baseline done
    # Day 0 (2027-03-03) 09:59 Paris: the first daily diary opens at 10:00.
    bench.clock.set(datetime(2027, 3, 3, 8, 59, tzinfo=UTC))


async def test_a_crash_after_the_intent_and_before_the_send_loses_nothing_and_sends_once(bench: Bench) -> None:
    await _patient_at_day0(bench, 4001, "K-1")
    bench.clock.advance(timedelta(minutes=2))
    before = intros(bench, 4001)
    # Step 1 committed, then the process died: the row says `sending`, Telegram never saw the message.
    now = "2027-03-03T09:01:00Z"
    sql(bench, "UPDATE instances SET status = 'sending', sent_at = ? WHERE timepoint = 'DD0'", now)
    await bench.restart()
    assert sql(bench, "SELECT status FROM instances WHERE timepoint = 'DD0'") == [("open",)]
    await bench.tick()
    assert intros(bench, 4001) == before  # not sent again at restart
    bench.clock.advance(timedelta(hours=4, minutes=1))
    await bench.tick()  # the +4 h reminder shows the question: nothing lost
    assert any("Rappel" in t for t in bench.texts(4001)[-2:])
    await answer_all(bench, 4001)
    assert sql(bench, "SELECT status FROM instances WHERE timepoint = 'DD0'") == [("completed",)]
    assert intros(bench, 4001) == before


async def test_a_crash_after_the_send_and_before_recording_it_does_not_send_twice(bench: Bench) -> None:
    await _patient_at_day0(bench, 4002, "K-2")
    bench.clock.advance(timedelta(minutes=2))
    before = intros(bench, 4002)  # the baseline's
    await bench.tick()
    assert intros(bench, 4002) == before + 1
    # Step 2 done (Telegram has the message), step 3 never committed.
    sql(bench, "UPDATE instances SET status = 'sending' WHERE timepoint = 'DD0'")
    await bench.restart()
    await bench.tick()
    bench.clock.advance(timedelta(minutes=30))
    await bench.tick()
    assert intros(bench, 4002) == before + 1
    await answer_all(bench, 4002)  # with the buttons of the one message that went out
    assert sql(bench, "SELECT status FROM instances WHERE timepoint = 'DD0'") == [("completed",)]
    actions = [a for (a,) in sql(bench, "SELECT action FROM audit_log WHERE entity = 'instance' ORDER BY id")]
    assert "send_recovered" in actions


async def test_a_crash_after_recording_the_send_resumes_normally(bench: Bench) -> None:
    await _patient_at_day0(bench, 4003, "K-3")
    bench.clock.advance(timedelta(minutes=2))
    before = intros(bench, 4003)
    await bench.tick()
    await bench.restart()
    for _ in range(3):
        bench.clock.advance(timedelta(minutes=20))
        await bench.tick()
    assert intros(bench, 4003) == before + 1
    await bench.patient_says(4003, "/reprendre")
    await answer_all(bench, 4003)
    assert sql(bench, "SELECT status FROM instances WHERE timepoint = 'DD0'") == [("completed",)]
