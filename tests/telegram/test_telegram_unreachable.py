"""Starting without Telegram (issue 34, item 8): when the Bot API cannot be reached at start (a hospital proxy, a
firewall, DNS), `python -m bot run` says so in one sentence with what to check, keeps retrying with back-off, logs at
most once a minute, and starts by itself once Telegram answers — instead of a long traceback and an exit.

A real `python -m bot run` child process, pointed at a port where nothing listens; then the Bot API stand-in is started
on that very port and the bot must find it and start polling.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pg_support
from harness import TOKEN

from bot.standin import StandIn
from bot.telegram.runner import retry_delays, unreachable_sentence

ROOT = Path(__file__).resolve().parents[2]
CLINICIAN_CHAT = -100123


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_retries_double_up_to_a_minute() -> None:
    assert list(itertools.islice(retry_delays(), 9)) == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_the_sentence_names_the_host_and_what_to_check() -> None:
    sentence = unreachable_sentence("https://api.telegram.org/bot", OSError("Name or service not known"), 2)
    assert "api.telegram.org" in sentence and "HTTPS_PROXY" in sentence and "firewall" in sentence
    assert "DNS" in sentence and "retrying in 2 s" in sentence and sentence.count(". ") == 0


async def wait_for(condition, timeout: float, process: asyncio.subprocess.Process, log: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.returncode is not None:
            raise AssertionError(f"the bot exited ({process.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s:\n{log.read_text()}")
        await asyncio.sleep(0.05)


async def test_run_without_telegram_says_so_keeps_retrying_and_starts_when_it_is_reachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here until the stand-in starts
    log = tmp_path / "bot.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "BOT_DATABASE": pg_support.child_database(tmp_path / "bot.sqlite3"),
        "CLINICIAN_CHAT_ID": str(CLINICIAN_CHAT),
        "CLINICIAN_USER_IDS": "42",
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    standin: StandIn | None = None
    try:
        await wait_for(
            lambda: "Cannot reach the Telegram Bot API" in log.read_text(),
            60,
            process,
            log,
            "sentence about the unreachable Bot API",
        )
        await asyncio.sleep(4)  # attempts at 1 s, 2 s, 4 s…: several failed attempts, each silent after the first
        text = log.read_text()
        assert process.returncode is None, text  # still waiting, not ended
        assert "Traceback" not in text, text
        warnings = [line for line in text.splitlines() if " WARNING " in line]
        assert len(warnings) == 1, text  # one sentence, not one per attempt
        assert f"127.0.0.1:{port}" in warnings[0] and "HTTPS_PROXY" in warnings[0], warnings[0]
        assert TOKEN not in text and TOKEN.split(":")[1] not in text

        standin = StandIn(TOKEN)  # Telegram becomes reachable: the bot finds it by itself
        await standin.start(port=port)
        standin.add_group(CLINICIAN_CHAT, "Équipe soignante", type="supergroup")
        await wait_for(lambda: len(standin.requests("getUpdates")) > 0, 90, process, log, "getUpdates")
        text = log.read_text()
        assert "reached the Telegram Bot API after" in text and "bot running as @" in text, text
        assert standin.requests("getMe"), "the retries went through getMe"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0, log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if standin is not None:
            await standin.stop()


async def test_sigterm_while_waiting_for_telegram_stops_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{free_port()}/bot",
        "BOT_DATABASE": pg_support.child_database(tmp_path / "bot.sqlite3"),
        "CLINICIAN_CHAT_ID": str(CLINICIAN_CHAT),
        "CLINICIAN_USER_IDS": "42",
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_for(
            lambda: "Cannot reach the Telegram Bot API" in log.read_text(),
            60,
            process,
            log,
            "sentence about the unreachable Bot API",
        )
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0, log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_refused_token_is_one_sentence_and_no_retry(tmp_path: Path) -> None:
    wrong = "999999:another-token-not-the-right-one"
    async with StandIn(TOKEN) as standin:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": wrong,
            "TELEGRAM_API_BASE_URL": standin.base_url,
            "BOT_DATABASE": pg_support.child_database(tmp_path / "bot.sqlite3"),
            "CLINICIAN_CHAT_ID": str(CLINICIAN_CHAT),
            "CLINICIAN_USER_IDS": "42",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    text = stderr.decode()
    assert process.returncode == 2, text
    assert "Traceback" not in text and wrong.split(":")[1] not in text, text
    assert text.strip().splitlines()[-1].startswith("Telegram refused TELEGRAM_BOT_TOKEN"), text
