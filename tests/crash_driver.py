"""The crash-safety rig: the real bot as a child process (`python -m bot run`), killed with SIGKILL and restarted,
and simulated people who keep using it through the Bot API stand-in while it dies and comes back.

Why a child process and SIGKILL: an in-process restart always lets `finally` blocks, `async with` exits and SQLite's
clean close run, so it cannot show what a power cut or an OOM kill does. Here nothing of the bot runs after the
signal: whatever was committed is all there is.

Why the bot's clock is shifted: the schedule never sends between 21:00 and 08:00 (Paris), so a test that uses the
wall clock would fail at night. `python -m bot run` has no clock option (it uses `SystemClock`), so the child gets
a `sitecustomize` module (loaded by Python at start-up, like libfaketime's LD_PRELOAD) that adds a fixed offset to
`SystemClock.now()`. The offset is the same for every restart, so the bot's time still flows forward across kills.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import engine
from bot.domain.questionnaire import Questionnaire
from bot.standin import StandIn
from bot.standin.state import ChatMessage

PARIS = ZoneInfo("Europe/Paris")
CLOCK_OFFSET_ENV = "SPB_TEST_CLOCK_OFFSET_SECONDS"

SITECUSTOMIZE = f'''"""Test-only: shift bot.clock.SystemClock by a fixed offset (see tests/crash_driver.py)."""
import os

_offset = float(os.environ.get("{CLOCK_OFFSET_ENV}") or 0)
if _offset:
    from datetime import datetime, timedelta, timezone

    import bot.clock

    def _shifted_now(self):
        return datetime.now(timezone.utc) + timedelta(seconds=_offset)

    bot.clock.SystemClock.now = _shifted_now
'''


def clock_offset_to(local_time: tuple[int, int], *, now: datetime | None = None) -> float:
    """Seconds to add to the wall clock so that it reads `local_time` (Paris) today: daytime, whenever CI runs."""
    now = now or datetime.now(UTC)
    local_today = now.astimezone(PARIS).date()
    target = datetime(local_today.year, local_today.month, local_today.day, *local_time, tzinfo=PARIS)
    return (target - now).total_seconds()


def shifted_today(offset: float) -> date:
    """The bot's local date (Paris), given the clock offset."""
    return (datetime.now(UTC) + timedelta(seconds=offset)).astimezone(PARIS).date()


# ---- the bot process ------------------------------------------------------------------------------------------------


class BotProcess:
    """`python -m bot run` against the stand-in; spawn, wait until it polls, SIGKILL, restart."""

    def __init__(self, standin: StandIn, workdir: Path, env: dict[str, str]) -> None:
        self.standin = standin
        self.workdir = workdir
        custom = workdir / "sitecustomize"
        custom.mkdir(parents=True, exist_ok=True)
        (custom / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            # The checkout under test first: the shared virtualenv's editable install may point at another one.
            "PYTHONPATH": os.pathsep.join((str(custom), str(Path(__file__).resolve().parent.parent))),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None
        self.spawned = 0
        self.kills = 0
        self.up = asyncio.Event()
        self.logs: list[Path] = []

    async def spawn(self) -> None:
        """Start a fresh bot process on the same database (its output goes to bot-<n>.log)."""
        assert self.process is None, "previous process still running"
        self.spawned += 1
        log_path = self.workdir / f"bot-{self.spawned:02d}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        self._polls_before = len(self.standin.requests("getUpdates"))

    async def wait_polling(self, timeout: float = 30.0) -> None:
        """Until the new process made its first getUpdates call (it is handling updates from now on)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while len(self.standin.requests("getUpdates")) <= self._polls_before:
            if self.process.returncode is not None:
                raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start polling within {timeout}s:\n{self.tail()}")
            await asyncio.sleep(0.01)
        self.up.set()

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the bot."""
        assert self.process is not None
        self.up.clear()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None
        self.kills += 1

    async def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for the clean stop `bot.__main__` promises."""
        if self.process is None:
            return None
        self.up.clear()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        self.process = None
        return code

    def tail(self, lines: int = 40) -> str:
        if not self.logs:
            return "(no log)"
        text = self.logs[-1].read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def errors(self) -> list[str]:
        """Every Traceback/ERROR line any of the processes logged (for diagnostics)."""
        found: list[str] = []
        for path in self.logs:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if " ERROR " in line or line.startswith("Traceback"):
                    found.append(f"{path.name}: {line}")
        return found


async def kill_at_random_moments(
    process: BotProcess,
    rng: random.Random,
    *,
    kills: int,
    running: tuple[float, float] = (0.05, 1.0),
    during_startup_every: int = 5,
) -> None:
    """Kill the bot `kills` times: mostly while it runs (after it polls), every n-th time while it is starting."""
    for number in range(1, kills + 1):
        if during_startup_every and number % during_startup_every == 0:
            await asyncio.sleep(rng.uniform(0.1, 0.9))  # maybe before it even polls: migrations, getMe...
        else:
            await process.wait_polling()
            await asyncio.sleep(rng.uniform(*running))
        await process.kill()
        await process.spawn()
    await process.wait_polling()


# ---- reading the database (read-only, while the bot may be writing) -------------------------------------------------


def read_db(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


# ---- simulated people -----------------------------------------------------------------------------------------------

CONSENT_DATA = "consent"
MORNING_DATA = "pref:matin"


def keyboard_data(message: ChatMessage) -> list[str]:
    return [str(b.get("callback_data")) for row in message.buttons() for b in row if b.get("callback_data")]


def last_keyboard(standin: StandIn, chat_id: int) -> ChatMessage | None:
    for message in reversed(standin.sent_messages(chat_id)):
        if message.buttons():
            return message
    return None


class StrandedQuestionnaire(AssertionError):
    """A questionnaire stays `sending` across restarts: nothing would ever send it or let it be answered.

    `dispatcher.recover()` at start-up (`app.on_startup`) is what turns such a row into `open`; this names the
    failure precisely if that ever stops happening (it did, before on_startup existed: PTB runs `post_init` only
    under `run_polling`).
    """


@dataclass
class Player:
    """A patient who joins with their link and answers the baseline by tapping buttons, whatever the bot does.

    Like a real patient: taps what the latest message with buttons offers, never taps the same keyboard twice, and
    when nothing happens for a while (the bot was down, a question never came) sends /reprendre (or the /start
    link again before the questionnaire started).
    """

    user_id: int
    code: str
    red_flag: str | None
    rng: random.Random
    questionnaires: dict[str, Questionnaire]
    database: Path
    patience: float = 2.5
    pressed: list[str] = field(default_factory=list)  # callback query ids
    nudges: int = 0
    _seen: set[tuple[Any, ...]] = field(default_factory=set)
    _instances: dict[int, str] = field(default_factory=dict)

    def questionnaire_of(self, instance_id: int) -> Questionnaire:
        if instance_id not in self._instances:
            rows = read_db(self.database, "SELECT questionnaire_id FROM instances WHERE id = ?", (instance_id,))
            self._instances[instance_id] = rows[0][0]
        return self.questionnaires[self._instances[instance_id]]

    def baseline_status(self) -> str | None:
        rows = read_db(
            self.database,
            "SELECT i.status FROM instances i JOIN telegram_links l ON l.patient_id = i.patient_id"
            " WHERE l.telegram_user_id = ? AND i.timepoint = 'baseline'",
            (self.user_id,),
        )
        return rows[0][0] if rows else None

    def finished(self) -> bool:
        return self.baseline_status() == "completed"

    def choose(self, message: ChatMessage) -> str | None:
        """The callback_data to tap on this keyboard (None: nothing to tap, the item wants typing)."""
        data = keyboard_data(message)
        if CONSENT_DATA in data:
            return CONSENT_DATA
        if MORNING_DATA in data:
            return MORNING_DATA
        toggles = [d for d in data if d.startswith("m:")]
        if toggles:
            ticked = any(text.startswith("☑") for text in message.button_texts())
            return next(d for d in toggles if d.endswith(":_ok")) if ticked else toggles[0]
        answers = [d for d in data if d.startswith("q:")]
        if not answers:
            return None
        _, instance, index, _code = answers[0].split(":")
        item = self.questionnaire_of(int(instance)).items[int(index)]
        by_code = {d.rsplit(":", 1)[1]: d for d in answers}
        if item.type == "yesno":
            if item.id == self.red_flag:
                return by_code["yes"]
            if item.id.endswith("_present"):  # branching both ways
                return by_code[self.rng.choice(["yes", "no"])]
            return by_code["no"]
        if item.type == "scale":
            return by_code[str(self.rng.randint(0, 6))]
        if "_skip" in by_code:
            return by_code["_skip"]
        return answers[0]

    async def play(self, standin: StandIn, up: asyncio.Event, *, deadline: float) -> None:
        """Join and answer until the baseline is completed (AssertionError past `deadline`, a monotonic time)."""
        if self.user_id not in standin.world.chats:
            standin.add_private_chat(self.user_id, first_name="Patient", username=f"p{self.user_id}")
        standin.send_text(self.user_id, self.user_id, f"/start {self.code}")
        started_questionnaire = False
        stranded = 0
        last_progress = time.monotonic()
        while not self.finished():
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(
                    f"patient {self.user_id} could not finish the baseline; last messages: "
                    f"{[m.text for m in standin.sent_messages(self.user_id)[-3:]]}"
                )
            message = last_keyboard(standin, self.user_id)
            signature = (
                (message.message_id, tuple(keyboard_data(message)), tuple(message.button_texts())) if message else None
            )
            if message is not None and signature not in self._seen:
                await asyncio.sleep(self.rng.uniform(0.0, 0.12))  # reading time
                if message is not last_keyboard(standin, self.user_id) or not message.buttons():
                    continue  # it changed while the patient was reading
                self._seen.add(signature)
                choice = self.choose(message)
                if choice is not None:
                    started_questionnaire |= choice.startswith(("q:", "m:"))
                    query_id = standin.press_button(self.user_id, self.user_id, message.message_id, choice)
                    self.pressed.append(query_id)
                    last_progress = time.monotonic()
                    continue
                standin.send_text(self.user_id, self.user_id, "2")  # an item that wants typing
                last_progress = time.monotonic()
                continue
            if up.is_set() and now - last_progress > self.patience:
                stranded = stranded + 1 if self.baseline_status() == "sending" else 0
                if stranded >= 2:  # two nudges apart, the bot up: a send in progress takes milliseconds
                    raise StrandedQuestionnaire(f"patient {self.user_id}: the baseline stays 'sending'")
                self.nudges += 1
                text = "/reprendre" if started_questionnaire else f"/start {self.code}"
                standin.send_text(self.user_id, self.user_id, text)
                last_progress = now
            await asyncio.sleep(0.02)


async def enrol_under_fire(
    standin: StandIn,
    up: asyncio.Event,
    *,
    group: int,
    clinician: int,
    study_id: str,
    rt_start: date,
    deadline: float,
    patience: float = 3.0,
) -> str:
    """/enroll from the clinicians' group until a link comes back; a lost reply is retried under a new study id
    (the first id may be enrolled already: re-using it would only earn "already enrolled")."""
    attempts: list[str] = []
    while True:
        candidate = study_id if not attempts else f"{study_id}-{len(attempts)}"
        attempts.append(candidate)
        standin.send_text(group, clinician, f"/enroll {candidate} {rt_start.isoformat()}")
        waited = 0.0
        while waited < patience or not up.is_set():
            for message in standin.sent_messages(group):
                text = message.text or ""
                if "?start=" in text and any(f"Patient {a} " in text for a in attempts):
                    return text.split("?start=")[1].split()[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no invitation link for {study_id} (tried {attempts})")
            await asyncio.sleep(0.02)
            if up.is_set():
                waited += 0.02


# ---- what must hold afterwards ---------------------------------------------------------------------------------------


def instance_of(message: ChatMessage) -> int | None:
    """The instance a question message belongs to, from its keyboard now or before it was edited away."""
    markups = [message.reply_markup, *(edit.reply_markup for edit in message.history)]
    for markup in markups:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = str(button.get("callback_data", ""))
                if data.startswith(("q:", "m:", "b:")):
                    return int(data.split(":")[1])
    return None


def original_text(message: ChatMessage) -> str:
    """The text as first sent (answering a question edits the header away)."""
    return (message.history[0].text if message.history else message.text) or ""


def acknowledged_answer_presses(standin: StandIn, user_ids: set[int]) -> list[tuple[str, int, int, str]]:
    """(query id, instance id, item index, code) for each answer tap the bot acknowledged without any text.

    The bot answers a tap with no text only after the answer's transaction committed (`_after_submission`); a
    refused or stale tap is answered with an explanation. Toggles of a multiple choice are acknowledged silently
    too but store nothing until "Valider" (`m:…:_ok`), so only `q:` taps and validations count.
    """
    acknowledged = []
    for query in standin.world.callback_queries.values():
        if query.chat_id not in user_ids or query.answer is None or query.answer.get("text") is not None:
            continue
        parts = query.data.split(":")
        if parts[0] == "q" or (parts[0] == "m" and parts[-1] == "_ok"):
            acknowledged.append((query.id, int(parts[1]), int(parts[2]), parts[3]))
    return acknowledged


def expected_value(item: Any, code: str) -> object:
    return engine.answer_from_button(item, code) if code != "_ok" else None


def alert_messages(standin: StandIn, chat_id: int) -> dict[int, int]:
    """alert id → how many messages in the chat carry its "Pris en charge" button (now or before an edit)."""
    counts: dict[int, int] = {}
    for message in standin.sent_messages(chat_id):
        ids = set()
        for markup in [message.reply_markup, *(edit.reply_markup for edit in message.history)]:
            for row in (markup or {}).get("inline_keyboard", []):
                for button in row:
                    data = str(button.get("callback_data", ""))
                    if data.startswith("ack:"):
                        ids.add(int(data.split(":")[1]))
        for alert_id in ids:
            counts[alert_id] = counts.get(alert_id, 0) + 1
    return counts


def decode(value: str) -> object:
    return json.loads(value)


async def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(0.05)
