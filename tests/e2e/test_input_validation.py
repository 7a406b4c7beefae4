"""Issue 21 item 11: malformed enrolment and day-0 input gets a clear French refusal, never a traceback or a
stored oddity: Unicode digits ("²"), a trailing newline, a radiotherapy start far from today."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from harness import Bench

from bot.domain.enrolment import DAY0_WINDOW, EnrolmentError, parse_day0, parse_enrolment

TODAY = date(2027, 3, 1)  # the bench's clock
RT = date(2027, 3, 3)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "args",
    [
        ["P-001", "2027-03-03", "fractions=²"],
        ["P-001", "2027-03-03", "fractions=٥"],
        ["P-001\n", "2027-03-03"],
        ["P-001", "2027-03-03", "site=LYON\n"],
        ["P-001", "٢٠٢٧-٠٣-٠٣"],
        ["P-001", "0001-01-01"],
        ["P-001", "9999-12-31"],
        ["P-001", (TODAY + DAY0_WINDOW + timedelta(days=1)).isoformat()],
        ["P-001", (TODAY - DAY0_WINDOW - timedelta(days=1)).isoformat()],
    ],
)
def test_bad_requests_raise_the_clinicians_error_and_nothing_else(args: list[str]) -> None:
    with pytest.raises(EnrolmentError):
        parse_enrolment(args, TODAY)


def test_the_window_edges_are_accepted() -> None:
    assert parse_day0((TODAY + DAY0_WINDOW).isoformat(), TODAY) == TODAY + DAY0_WINDOW
    assert parse_day0((TODAY - DAY0_WINDOW).isoformat(), TODAY) == TODAY - DAY0_WINDOW
    assert parse_enrolment(["P-001", "2027-03-03", "site=LYON", "fractions=5"], TODAY).fractions == 5


async def test_the_clinician_gets_an_answer_for_unicode_fractions_and_far_dates(bench: Bench) -> None:
    await bench.clinician_says("/enroll P-020 2027-03-03 fractions=²")
    assert "1 ou 5" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/enroll P-021 0001-01-01")
    assert "trop loin" in (bench.group_messages()[-1].text or "")
    await bench.enroll("P-022", RT)
    for far in ("0001-01-01", "9999-12-31"):
        await bench.clinician_says(f"/day0 P-022 {far}")
        reply = bench.group_messages()[-1].text or ""
        assert "trop loin" in reply and "planifié" not in reply, reply
    with sqlite3.connect(bench.database) as db:
        assert db.execute("SELECT study_id, rt_start FROM patients").fetchall() == [("P-022", "2027-03-03")]


@pytest.mark.parametrize(
    "argv",
    [
        ["P-030", "{today}", "fractions=²"],
        ["P-031\n", "{today}"],
        ["P-032", "{today}", "site=LYON\n"],
        ["P-033", "9999-12-31"],
    ],
)
def test_the_cli_refuses_in_one_sentence_with_exit_2_and_stores_nothing(tmp_path: Path, argv: list[str]) -> None:
    database = tmp_path / "bot.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "CLINICIAN_"))}
    env["BOT_DATABASE"] = str(database)
    today = date.today().isoformat()  # the CLI runs on the system clock
    result = subprocess.run(
        [sys.executable, "-m", "bot", "enroll", *[a.format(today=today) for a in argv]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "INFO" not in last and last.endswith("."), result.stderr  # one sentence after the migration log lines
    if database.exists():
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 0
