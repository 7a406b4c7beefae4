"""Configuration errors, the token in logs, backups, and the French catalog (issues #2 and #7)."""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, date
from pathlib import Path

import pytest
from harness import TOKEN, Bench

from bot.backup import BackupError, backup
from bot.catalog import untranslated
from bot.i18n import LOCALES_DIR
from bot.logging_setup import configure_logging

ROOT = Path(__file__).resolve().parents[2]


def run_bot(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "CLINICIAN_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *(args or ("run",))],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLINICIAN_CHAT_ID", "the-nurses"),
        ("CLINICIAN_USER_IDS", "12,abc"),
        ("BOT_TIMEZONE", "Europe/Atlantis"),
        ("TELEGRAM_BOT_TOKEN", "not a token"),
        ("TELEGRAM_API_BASE_URL", "ftp://example"),
    ],
)
def test_bad_configuration_gives_one_clear_sentence_and_exit_code_2(variable: str, value: str, tmp_path: Path) -> None:
    result = run_bot({variable: value, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_token_without_the_clinician_group_is_refused_clearly(tmp_path: Path) -> None:
    result = run_bot({"TELEGRAM_BOT_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert result.returncode == 2 and "CLINICIAN_CHAT_ID" in result.stderr and "Traceback" not in result.stderr


async def test_the_token_never_appears_in_logs_even_at_debug(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(TOKEN, level=logging.DEBUG, stream=stream)
    try:
        bench = Bench(tmp_path)
        await bench.start()
        try:
            code = await bench.enroll("P-LOG", date(2027, 3, 3))
            await bench.patient_says(4242, f"/start {code}")
            await bench.patient_says(4242, "mon texte très personnel")
        finally:
            await bench.stop()
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if not getattr(h, "_spinal_pro_bot", 0)]
        logging.getLogger().setLevel(logging.WARNING)
    output = stream.getvalue()
    assert "getUpdates" in output or "sendMessage" in output  # the debug logs were really captured
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output


async def test_no_message_text_in_logs_at_info(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(TOKEN, level=logging.INFO, stream=stream)
    try:
        bench = Bench(tmp_path)
        await bench.start()
        try:
            code = await bench.enroll("P-LOG2", date(2027, 3, 3))
            await bench.patient_says(4243, f"/start {code}")
            await bench.patient_says(4243, "secret douleur confidentielle")
        finally:
            await bench.stop()
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if not getattr(h, "_spinal_pro_bot", 0)]
        logging.getLogger().setLevel(logging.WARNING)
    output = stream.getvalue()
    assert "patient joined" in output
    assert "confidentielle" not in output and code not in output


def test_the_french_catalog_is_complete() -> None:
    po = LOCALES_DIR / "fr" / "LC_MESSAGES" / "messages.po"
    assert untranslated(po) == []


def test_every_gettext_string_in_the_code_is_in_the_catalog(tmp_path: Path) -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    with (LOCALES_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    in_code = {
        msg[2] if isinstance(msg[2], str) else msg[2][0]
        for msg in extract_from_dir(str(ROOT / "bot"), method_map=[("**.py", "python")])
    }
    missing = sorted(m for m in in_code if catalog.get(m) is None or not catalog.get(m).string)
    assert missing == []


@pytest.mark.sqlite_only("the backup command copies the SQLite file (PostgreSQL backups are the host's job)")
async def test_a_backup_of_the_live_database_restores_every_answer(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    await bench.start()
    try:
        await bench.join(901, "P-BAK", date(2027, 3, 3))
        await bench.press(901, "7")
        await bench.press(901, "Aucun de ces signes")  # issue 35: the red-flag screen comes second
        copy = backup(bench.database, tmp_path / "backups")
        with pytest.raises(BackupError):
            backup(bench.database, copy)  # never overwrites an existing backup
    finally:
        await bench.stop()
    live = sqlite3.connect(bench.database).execute("SELECT instance_id, item_id, value FROM answers ORDER BY id")
    restored = sqlite3.connect(copy).execute("SELECT instance_id, item_id, value FROM answers ORDER BY id")
    rows = live.fetchall()
    assert len(rows) == 2 and restored.fetchall() == rows
    assert sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.sqlite_only("checks the file's WAL journal mode (the PostgreSQL triggers: test_postgres_adapter.py)")
def test_the_audit_log_and_answers_refuse_update_and_delete(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "a.sqlite3"
    asyncio.run(_open_close(path))
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO audit_log (at, actor, action) VALUES ('2027-01-01T00:00:00Z', 'system', 'x')")
    conn.commit()
    for statement in ("UPDATE audit_log SET action = 'y'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def _open_close(path: Path) -> None:
    from datetime import datetime

    from bot.clock import VirtualClock
    from bot.storage.store import Store

    store = await Store.open(path, VirtualClock(datetime(2027, 1, 1, tzinfo=UTC)))
    await store.close()
