"""The replicas rig (issue 19): N real bot processes (`python -m bot run --webhook`) on one database, the Bot API
stand-in posting updates to them in turn, every process on one virtual clock that the test moves.

Why a clock file: 30 days must pass in a minute, in several processes at once, and stand still while the bot works
(a claim or a lease must not expire in the middle of a send because the clock raced on). Each child gets a
`sitecustomize` module (loaded by Python at start-up, as in `tests/crash_driver.py`) that makes
`bot.clock.SystemClock.now()` read the time from a file; the test writes the next moment there, waits until a
replica has ticked at that moment (the tick lease is given back stamped with it), then lets the people act.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.standin import StandIn
from bot.standin.state import ChatMessage

CLOCK_FILE_ENV = "SPB_TEST_CLOCK_FILE"
FAST_PEOPLE_ENV = "SPB_TEST_FAST_PEOPLE"
SECRET = "replicas-webhook-secret_0123456789"
TOKEN = "123456:TEST-token-not-a-real-one_abcdefgh"

SITECUSTOMIZE = f'''"""Test-only: bot.clock.SystemClock reads the time from a file (see tests/replica_driver.py)."""
import os

_path = os.environ.get("{CLOCK_FILE_ENV}")
if _path:
    from datetime import datetime, timezone

    import bot.clock

    def _file_now(self):
        with open(_path, encoding="ascii") as handle:
            return datetime.fromtimestamp(float(handle.read()), timezone.utc)

    bot.clock.SystemClock.now = _file_now

if os.environ.get("{FAST_PEOPLE_ENV}"):
    # The simulated people answer within milliseconds, which nobody does: at Telegram's per-chat pace (about one
    # message a second, tests/telegram/test_pacing.py) 30 days of questionnaires would take an hour. Bulk pacing stays.
    import bot.telegram.app
    from bot.telegram.pacing import TelegramPacing

    bot.telegram.app.telegram_pacing = lambda: TelegramPacing(
        private_burst=10_000, private_per_second=10_000.0, per_group_minute=100_000)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FileClock:
    """The virtual time every process reads; only the test moves it."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self.set(start)

    def set(self, moment: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(moment.timestamp()), encoding="ascii")
        os.replace(tmp, self.path)  # atomic: a reader never sees half a number
        self._now = moment

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()


class Replica:
    """One `python -m bot run --webhook` process."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / f"replica-{name}.log"
        self.env = {**env, "BOT_REPLICA_ID": name, "WEBHOOK_PORT": str(self.port)}
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    async def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--webhook",
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.returncode is not None:
                raise AssertionError(f"replica {self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"replica {self.name} did not listen within {timeout}s:\n{self.tail()}"
                    ) from None
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: nothing of the replica runs after it (no rollback, no claim given back)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def errors(self) -> list[str]:
        if not self.log.exists():
            return []
        return [
            line
            for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines()
            if " ERROR " in line or line.startswith("Traceback")
        ]


def replica_env(
    workdir: Path, *, database: str, standin: StandIn, clock_file: Path, group: int, clinician: int
) -> dict[str, str]:
    custom = workdir / "sitecustomize"
    custom.mkdir(parents=True, exist_ok=True)
    (custom / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        # The checkout under test first: the shared virtualenv's editable install may point at another one.
        "PYTHONPATH": os.pathsep.join((str(custom), str(Path(__file__).resolve().parent.parent))),
        "PYTHONUNBUFFERED": "1",
        CLOCK_FILE_ENV: str(clock_file),
        FAST_PEOPLE_ENV: "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": standin.base_url,
        "BOT_DATABASE": database,
        "CLINICIAN_CHAT_ID": str(group),
        "CLINICIAN_USER_IDS": str(clinician),
        "WEBHOOK_URL": "https://bot.hospital.example/",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "BOT_TICK_SECONDS": "0.2",
        "BOT_FANOUT_SPREAD_MINUTES": "0",
    }


# ---- the database, read by the test ----------------------------------------------------------------------------------


async def query(database: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` (no parameters) from the replicas' database: a SQLite file or a PostgreSQL URL."""
    if database.startswith(("postgresql://", "postgres://")):
        import asyncpg

        conn = await asyncpg.connect(database)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    import sqlite3

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return list(conn.execute(sql).fetchall())


# ---- people ----------------------------------------------------------------------------------------------------------

INVITE = re.compile(r"start=([A-Za-z0-9_-]+)")


def buttons(message: ChatMessage) -> list[tuple[str, str]]:
    return [
        (str(b.get("text")), str(b.get("callback_data")))
        for row in message.buttons()
        for b in row
        if b.get("callback_data")
    ]


def choice(message: ChatMessage, *, red_flag: bool) -> str | None:
    """What a patient taps on this keyboard: a benign answer (or "yes" to every yes/no on a red-flag day)."""
    data = [d for _, d in buttons(message)]
    for fixed in ("consent", "pref:matin"):
        if fixed in data:
            return fixed
    toggles = [d for d in data if d.startswith("m:")]
    if toggles:
        ticked = any(text.startswith("☑") for text, _ in buttons(message))
        return next(d for d in toggles if d.endswith(":_ok")) if ticked else toggles[0]
    answers = [d for d in data if d.startswith("q:")]
    if not answers:
        return None
    by_code = {d.rsplit(":", 1)[1]: d for d in answers}
    if "yes" in by_code and "no" in by_code:
        return by_code["yes" if red_flag else "no"]
    if "2" in by_code:
        return by_code["2"]
    return by_code.get("_skip", answers[0])
