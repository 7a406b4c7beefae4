"""`python -m bot caregiver-invite` (issue 36): the one-time link for a caregiver, from the shell, as an operator would."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bot(cwd: Path, *args: str, database: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "CLINICIAN_", "WEBHOOK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, "PYTHONPATH": str(ROOT), "BOT_DATABASE": str(database)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_caregiver_invite_prints_a_one_time_link_and_refuses_a_third_caregiver(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    enrolled = bot(
        tmp_path,
        "enroll",
        "P-CLI",
        (date.today() + timedelta(days=7)).isoformat(),
        "--bot-username",
        "spinal_test_bot",
        database=database,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    links = []
    for _ in range(2):
        result = bot(tmp_path, "caregiver-invite", "P-CLI", "--bot-username", "spinal_test_bot", database=database)
        assert result.returncode == 0, result.stderr
        links.append(result.stdout.strip())
    assert all(link.startswith("https://t.me/spinal_test_bot?start=aidant_") for link in links)
    assert len(set(links)) == 2
    third = bot(tmp_path, "caregiver-invite", "P-CLI", "--bot-username", "spinal_test_bot", database=database)
    assert third.returncode == 2 and "already has 2 caregivers" in third.stderr and "Traceback" not in third.stderr
    unknown = bot(tmp_path, "caregiver-invite", "P-NONE", "--bot-username", "spinal_test_bot", database=database)
    assert unknown.returncode == 2 and "Unknown study id" in unknown.stderr
    rows = sqlite3.connect(database).execute("SELECT number, status FROM caregivers ORDER BY number").fetchall()
    assert rows == [(1, "invited"), (2, "invited")]
    audited = sqlite3.connect(database).execute("SELECT actor FROM audit_log WHERE action = 'caregiver_invite'")
    assert [a for (a,) in audited] == ["cli", "cli"]
