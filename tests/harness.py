"""The integration test bench: the real PTB Application, over HTTP, against the Bot API stand-in.

Nothing of PTB is mocked: the bot under test is the production `Application` built by `build_application`,
talking to `bot.standin.StandIn` on 127.0.0.1 through `base_url`; the database is a real SQLite file; time is a
`VirtualClock` shared by the bot and the stand-in, so tests can move days ahead in a blink.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.bootstrap import build_services, periodic_work
from bot.clock import VirtualClock
from bot.config import Settings, load_settings
from bot.messenger import Messenger
from bot.sandbox.world import CountingProcessor
from bot.scheduling import dispatcher
from bot.services.container import Services
from bot.standin import StandIn
from bot.standin.state import ChatMessage
from bot.telegram.app import build_application, on_startup
from bot.telegram.context import MESSENGER_KEY

TOKEN = "123456:TEST-token-not-a-real-one_abcdefgh"
CLINICIAN_CHAT = -1001000
CLINICIANS = (111, 112)
OUTSIDER = 999


@dataclass
class Patient:
    user_id: int
    study_id: str

    @property
    def chat_id(self) -> int:
        return self.user_id


class Bench:
    """One bot, one stand-in, one database file, one virtual clock."""

    def __init__(
        self, tmp_path: Path, *, start: datetime | None = None, telegram_limits: bool = False, **settings: Any
    ) -> None:
        """`telegram_limits`: the stand-in enforces Telegram's flood limits and the bot runs its real pacing."""
        self.tmp_path = tmp_path
        self.database = tmp_path / "bot.sqlite3"
        self.clock = VirtualClock(start or datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
        self.telegram_limits = telegram_limits
        self.standin = StandIn(TOKEN, clock=lambda: self.clock.now().timestamp(), enforce_limits=telegram_limits)
        self.extra_settings = settings
        self.app: Application | None = None
        self.services: Services | None = None
        self.processed = 0
        self.progress = asyncio.Event()

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "BOT_DATABASE": str(self.database),
            "CLINICIAN_CHAT_ID": CLINICIAN_CHAT,
            "CLINICIAN_USER_IDS": ",".join(str(c) for c in CLINICIANS),
        }
        values.update(self.extra_settings)
        return load_settings(**values)

    async def start(self) -> Bench:
        await self.standin.start()
        self.standin.add_group(CLINICIAN_CHAT, "Équipe soignante", type="supergroup")
        await self.start_bot()
        return self

    async def start_bot(self) -> None:
        self.services = await build_services(self.settings(), self.clock)
        self.app = build_application(
            self.services,
            token=TOKEN,
            base_url=self.standin.base_url,
            tick=None,
            rate_limiter=self.telegram_limits,
            update_processor=CountingProcessor(self._handled),
        )
        await self.app.initialize()
        await on_startup(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)

    async def stop_bot(self) -> None:
        if self.app is not None:
            await self.settle()
            assert self.app.updater is not None
            await self.app.updater.stop()
            await self.app.stop()
            await self.app.shutdown()
            self.app = None
        if self.services is not None:
            await self.services.store.close()
            self.services = None

    async def restart(self) -> None:
        """Stop the bot process-equivalent and start a fresh one on the same database file."""
        await self.stop_bot()
        await self.start_bot()

    async def stop(self) -> None:
        await self.stop_bot()
        await self.standin.stop()

    def _handled(self) -> None:
        self.processed += 1
        self.progress.set()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every injected update was fetched and fully handled (handlers await their own requests)."""
        assert self.app is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.processed < self.standin.injected:
            self.progress.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"bot did not settle: {self.processed} of {self.standin.injected} updates handled")
            try:
                await asyncio.wait_for(self.progress.wait(), remaining)
            except TimeoutError:
                pass

    # ---- time and background work ---------------------------------------------------------------------------

    async def tick(self) -> dispatcher.TickReport:
        """What the JobQueue does in production: schedule, then deliver alerts."""
        assert self.services is not None and self.app is not None
        return await periodic_work(self.services, self.messenger)

    @property
    def messenger(self) -> Messenger:
        """The running bot's messenger port (what the jobs and handlers send through)."""
        assert self.app is not None
        return self.app.bot_data[MESSENGER_KEY]  # type: ignore[no-any-return]

    async def advance(self, delta: timedelta, *, step: timedelta = timedelta(minutes=30)) -> None:
        """Move the clock forward in steps, ticking at each one (as the real bot would)."""
        end = self.clock.now() + delta
        while self.clock.now() < end:
            self.clock.advance(min(step, end - self.clock.now()))
            await self.tick()

    # ---- people ---------------------------------------------------------------------------------------------

    async def clinician_says(self, text: str, *, user_id: int = CLINICIANS[0], chat_id: int = CLINICIAN_CHAT) -> None:
        self.standin.send_text(chat_id, user_id, text)
        await self.settle()

    def group_messages(self) -> list[ChatMessage]:
        return self.standin.sent_messages(CLINICIAN_CHAT)

    async def enroll(self, study_id: str, rt_start: date, *options: str) -> str:
        """Enrol through the clinician group; return the invitation code from the link."""
        await self.clinician_says(" ".join(["/enroll", study_id, rt_start.isoformat(), *options]))
        reply = self.group_messages()[-1].text or ""
        assert "?start=" in reply, reply
        return reply.split("?start=")[1].split()[0]

    async def patient_says(self, patient: Patient | int, text: str) -> None:
        user_id = patient.user_id if isinstance(patient, Patient) else patient
        if user_id not in self.standin.world.chats:
            self.standin.add_private_chat(user_id, first_name="Jeanne", username=f"jeanne{user_id}")
        self.standin.send_text(user_id, user_id, text)
        await self.settle()

    async def join(
        self, user_id: int, study_id: str, rt_start: date, *options: str, preferred: str = "matin"
    ) -> Patient:
        """Enrol, redeem the link, confirm the information and choose a time: the baseline starts."""
        code = await self.enroll(study_id, rt_start, *options)
        await self.patient_says(user_id, f"/start {code}")
        await self.press(user_id, "J'ai lu et compris")
        await self.press(user_id, {"matin": "Le matin", "midi": "À midi", "soir": "Le soir"}[preferred])
        return Patient(user_id, study_id)

    def last_keyboard_message(self, chat_id: int) -> ChatMessage:
        for message in reversed(self.standin.sent_messages(chat_id)):
            if message.buttons():
                return message
        raise AssertionError(f"no message with buttons in chat {chat_id}")

    async def press(self, patient: Patient | int, label: str, *, message: ChatMessage | None = None) -> str:
        """Press the button whose label starts with `label` on the latest message that has buttons."""
        user_id = patient.user_id if isinstance(patient, Patient) else patient
        target = message or self.last_keyboard_message(user_id)
        for row in target.buttons():
            for button in row:
                if button["text"] == label or button["text"].startswith(label) or button["text"].endswith(label):
                    query_id = self.standin.press_button(user_id, user_id, target.message_id, button["callback_data"])
                    await self.settle()
                    return query_id
        raise AssertionError(f"no button {label!r} in {target.button_texts()}")

    async def press_data(self, patient: Patient | int, data: str, *, message_id: int | None = None) -> str:
        user_id = patient.user_id if isinstance(patient, Patient) else patient
        target_id = message_id or self.last_keyboard_message(user_id).message_id
        query_id = self.standin.press_button(user_id, user_id, target_id, data, strict=False)
        await self.settle()
        return query_id

    def last_text(self, chat_id: int) -> str:
        message = self.standin.last_message(chat_id)
        return (message.text or "") if message else ""

    def texts(self, chat_id: int) -> list[str]:
        return [m.text or "" for m in self.standin.sent_messages(chat_id)]


def default_answer(item: Any) -> object:
    """A benign answer for any item (no red flag, low pain, no opioids)."""
    if item.type == "scale":
        return 3
    if item.type == "yesno":
        return "no"
    if item.type == "single":
        return item.choices[0].code
    if item.type == "multi":
        return [item.choices[0].code]
    if item.type == "number":
        return int(item.min) if item.min is not None else 1
    if item.optional:
        return "_skip"
    return "ok"


async def current_prompt(bench: Bench, patient: Patient | int) -> Any:
    from bot.services import answering

    user_id = patient.user_id if isinstance(patient, Patient) else patient
    assert bench.services is not None
    return (await answering.current_prompt(bench.services, user_id))[1]


async def give(bench: Bench, patient: Patient | int, value: object) -> None:
    """Answer the current question the way a patient would: a tap on its button, or a typed message."""
    user_id = patient.user_id if isinstance(patient, Patient) else patient
    prompt = await current_prompt(bench, user_id)
    assert prompt is not None, "no current question"
    item = prompt.item
    message_id = prompt.instance.question_message_id
    chat = bench.standin.world.chats[user_id]
    message = chat.find(message_id)
    assert message is not None, f"question message {message_id} not in chat {user_id}"
    available = {b["callback_data"] for row in message.buttons() for b in row}
    needs_button = item.type not in ("number", "text") or (isinstance(value, str) and value in ("_skip", "_unknown"))
    if not available and needs_button:
        # The question never arrived (Telegram failed): the patient does what the bot told them, /reprendre.
        await bench.patient_says(user_id, "/reprendre")
        await give(bench, patient, value)
        return

    async def tap(data: str) -> None:
        assert data in available, f"{data} not among the buttons of {item.id}: {sorted(available)}"
        bench.standin.press_button(user_id, user_id, message_id, data)
        await bench.settle()

    prefix = f"q:{prompt.instance.id}:{prompt.item_index}:"
    if isinstance(value, str) and value in ("_skip", "_unknown"):
        await tap(prefix + value)
    elif item.type in ("scale", "yesno", "single"):
        await tap(prefix + str(value))
    elif item.type == "multi":
        toggle = f"m:{prompt.instance.id}:{prompt.item_index}:"
        for code in value:  # type: ignore[union-attr]
            await tap(toggle + code)
            message = chat.find(message_id)
            available = {b["callback_data"] for row in message.buttons() for b in row}
        await tap(toggle + "_ok")
    else:
        await bench.patient_says(user_id, str(value))


async def answer_all(
    bench: Bench, patient: Patient | int, answers: dict[str, object] | None = None, *, limit: int = 200
) -> list[str]:
    """Answer the current questionnaire to the end; return the item ids asked, in order."""
    asked: list[str] = []
    answers = answers or {}
    for _ in range(limit):
        prompt = await current_prompt(bench, patient)
        if prompt is None:
            return asked
        asked.append(prompt.item.id)
        await give(bench, patient, answers.get(prompt.item.id, default_answer(prompt.item)))
    raise AssertionError(f"questionnaire did not end after {limit} answers: {asked[-5:]}")
