"""A simulated Telegram world around the real bot: stand-in + production `Application` + SQLite + virtual clock.

Shared by the interactive sandbox (`server.py`) and the scripted demo (`demo.py`). Nothing of the bot is faked: the
Application is the one `build_application` returns, it long-polls the Bot API stand-in over HTTP, and time moves
only when we say so. The only thing added is a lock around the production tick job, so a clock jump requested from
the page (which runs that same job at every step) never runs at the same moment as the periodic run — two
concurrent alert deliveries would post the same alert twice. What is PTB-specific (the `Application`, its jobs and
update processor) is in `bot.telegram.sandbox_runtime`: no module outside `bot/telegram/` imports `telegram`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.bootstrap import build_services
from bot.clock import VirtualClock
from bot.config import Settings
from bot.domain.schedule import is_quiet
from bot.services.container import Services
from bot.standin import ChatMessage, StandIn
from bot.telegram.sandbox_runtime import CountingProcessor, SandboxBot  # noqa: F401 - CountingProcessor re-exported

log = logging.getLogger(__name__)

#: Looks like a BotFather token, is accepted only by our stand-in.
SANDBOX_TOKEN = "1000:SANDBOX-offline-not-a-real-token"
SANDBOX_BOT_USERNAME = "spinal_pro_sandbox_bot"
CLINICIAN_CHAT_ID = -100123
CLINICIAN_GROUP_TITLE = "Équipe soignante"
CLINICIAN_ID = 424242
CLINICIAN_NAME = "Dr Martin"
#: Fake patients get Telegram user ids from here up (real ids are never this low-risk to confuse: this is offline).
FIRST_PATIENT_ID = 500001


def sandbox_settings(base: Settings, database: Path) -> Settings:
    """The operator's settings (time zone…) with the sandbox's token, database and fake clinicians' group."""
    from pydantic import SecretStr

    return base.model_copy(
        update={
            "telegram_bot_token": SecretStr(SANDBOX_TOKEN),
            "bot_database": database,
            "clinician_chat_id": CLINICIAN_CHAT_ID,
            "clinician_user_ids": frozenset({CLINICIAN_ID}),
        }
    )


def next_boundary(moment: datetime, step: timedelta) -> datetime:
    """The next multiple of `step` after `moment` (UTC), so stepping lands on round hours (10:00 sends on time)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    elapsed = moment - epoch
    return epoch + (elapsed // step + 1) * step


class SandboxWorld:
    """One stand-in, one real bot, one database file, one virtual clock; start() / stop()."""

    def __init__(
        self,
        settings: Settings,
        database: Path,
        *,
        start: datetime | None = None,
        tick_every: timedelta = timedelta(seconds=2),
        rate_limiter: bool = False,
    ) -> None:
        """`tick_every`: real-time period of the production tick job (clock jumps tick by hand as well).

        `rate_limiter` is off by default: PTB's AIORateLimiter paces in real seconds (20 messages a real minute to
        a group), so a 30-day jump posting a morning digest per virtual day would crawl; the stand-in does not
        enforce Telegram's limits anyway.
        """
        self.settings = sandbox_settings(settings, database)
        self.database = database
        self.clock = VirtualClock(start or datetime.now(UTC))
        self.standin = StandIn(
            SANDBOX_TOKEN, bot_username=SANDBOX_BOT_USERNAME, bot_name="Spinal PRO (bac à sable)", clock=self.clock
        )
        self.tick_every = tick_every
        self.rate_limiter = rate_limiter
        self.bot: SandboxBot | None = None
        self.services: Services | None = None
        self._next_patient_id = FIRST_PATIENT_ID
        #: updates the bot has fully handled; `settle` compares it with the stand-in's count of injected ones
        self.processed = 0
        self._progress = asyncio.Event()

    # ---- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> SandboxWorld:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self) -> None:
        await self.standin.start()
        self.standin.add_group(CLINICIAN_CHAT_ID, CLINICIAN_GROUP_TITLE, type="supergroup")
        self.standin.world.users[CLINICIAN_ID] = {
            "id": CLINICIAN_ID,
            "is_bot": False,
            "first_name": CLINICIAN_NAME,
            "language_code": "fr",
        }
        self.services = await build_services(self.settings, self.clock)
        await self._import_sample_boxes()
        self.bot = SandboxBot(
            self.services,
            token=SANDBOX_TOKEN,
            base_url=self.standin.base_url,
            tick_every=self.tick_every,
            rate_limiter=self.rate_limiter,
            handled=self._handled,
        )
        await self.bot.start()

    async def _import_sample_boxes(self) -> None:
        """Issue 37: the sample BDPM (made-up codes, bot/medicines/samples.py), so a box photo can be tried."""
        from bot.medicines.samples import sample_bdpm
        from bot.storage import medicines

        assert self.services is not None
        async with self.services.store.transaction() as tx:
            await medicines.replace_bdpm(tx, sample_bdpm(), now=self.clock.now())
            await tx.commit()

    async def stop(self) -> None:
        """Stop polling, let handlers finish, close the database, then the stand-in."""
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None
        if self.services is not None:
            await self.services.store.close()
            self.services = None
        await self.standin.stop()

    # ---- time -----------------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One production tick now (schedule, reminders, windows, alert delivery); errors propagate."""
        assert self.bot is not None
        await self.bot.tick()

    async def step_to(self, moment: datetime) -> None:
        """Move the clock to `moment` (not backwards) and tick."""
        if moment > self.clock.now():
            self.clock.set(moment)
        await self.tick()

    async def advance_to(
        self,
        end: datetime,
        *,
        step: timedelta = timedelta(minutes=30),
        skip_quiet: bool = False,
        after_step: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Move to `end` in steps landing on round times, ticking at each one; `after_step` runs after each tick.

        `skip_quiet` makes the quiet night one step (the demo: ~13 ticks a day instead of 48). Nothing is sent to
        patients in the quiet hours (schedule.yaml) and a window closing at midnight is closed by the first morning
        tick, so this changes nothing for them; only re-alerts of an urgent alert left unacknowledged at night
        (which production sends at any hour) would wait for the morning — the demo's clinician acknowledges at
        once, and the interactive sandbox does not skip.
        """
        assert self.services is not None
        spec, tz = self.services.schedule, self.settings.timezone
        while self.clock.now() < end:
            target = next_boundary(self.clock.now(), step)
            while skip_quiet and target < end and is_quiet(target, spec, tz):
                target += step
            await self.step_to(min(target, end))  # sends are awaited by the tick itself
            if after_step is not None:
                await after_step()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every update injected so far was fully handled (handlers await their own Bot API calls)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.processed < self.standin.injected:
            self._progress.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"the bot did not settle: {self.processed} of {self.standin.injected} updates handled"
                )
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                pass

    def _handled(self) -> None:
        self.processed += 1
        self._progress.set()

    def local_now(self) -> datetime:
        return self.clock.now().astimezone(self.settings.timezone)

    # ---- people ---------------------------------------------------------------------------------------------

    def new_patient_user(self, first_name: str | None = None) -> int:
        """A fresh fake Telegram user with a private chat with the bot; returns its id (= chat id)."""
        while self._next_patient_id in self.standin.world.users:
            self._next_patient_id += 1
        user_id = self._next_patient_id
        self._next_patient_id += 1
        number = user_id - FIRST_PATIENT_ID + 1
        self.standin.add_private_chat(user_id, first_name or f"Patient {number}", username=f"patient{number}")
        return user_id

    def message_count(self, chat_id: int) -> int:
        """How many messages the chat ever had (deleted ones included): a cheap "anything new?" check."""
        chat = self.standin.world.chats.get(chat_id)
        return len(chat.messages) if chat is not None else 0

    def group_messages(self) -> list[ChatMessage]:
        return self.standin.messages(CLINICIAN_CHAT_ID)

    async def clinician_says(self, text: str) -> list[ChatMessage]:
        """The fake clinician writes in the group; returns the bot's replies to it (after it settled)."""
        before = len(self.standin.messages(CLINICIAN_CHAT_ID, include_deleted=True))
        self.standin.send_text(CLINICIAN_CHAT_ID, CLINICIAN_ID, text)
        await self.settle()
        after = self.standin.messages(CLINICIAN_CHAT_ID, include_deleted=True)[before + 1 :]
        return [m for m in after if m.from_bot]

    async def enroll(
        self, study_id: str, rt_start: date, fractions: int = 1, *, arm: str | None = None, site: str | None = None
    ) -> tuple[str | None, str]:
        """`/enroll` through the group like a real clinician; (invitation code or None, the bot's reply)."""
        extra = "".join(f" {key}={value}" for key, value in (("arm", arm), ("site", site)) if value)
        replies = await self.clinician_says(f"/enroll {study_id} {rt_start.isoformat()} fractions={fractions}{extra}")
        reply = "\n".join(m.text or "" for m in replies)
        code = invitation_code(reply)
        return code, reply

    async def patient_says(self, user_id: int, text: str) -> None:
        self.standin.send_text(user_id, user_id, text)
        await self.settle()

    async def patient_sends_box(self, user_id: int, key: str) -> None:
        """The patient sends the photo of a sample box (`bot.medicines.samples`; KeyError for an unknown one)."""
        from bot.medicines.samples import sample_photo

        self.standin.send_photo(user_id, user_id, data=sample_photo(key))
        await self.settle()

    async def press(self, chat_id: int, message_id: int, data: str) -> str:
        """Press a button that is under the message now (ValueError otherwise); the clinician presses in the group."""
        user_id = CLINICIAN_ID if chat_id == CLINICIAN_CHAT_ID else chat_id
        query_id = self.standin.press_button(chat_id, user_id, message_id, data)
        await self.settle()
        return query_id

    async def press_label(self, chat_id: int, label: str) -> str:
        """Press the button labelled `label` on the latest message that has one."""
        for message in reversed(self.standin.sent_messages(chat_id)):
            for row in message.buttons():
                for button in row:
                    if button.get("text") == label and "callback_data" in button:
                        return await self.press(chat_id, message.message_id, str(button["callback_data"]))
        raise ValueError(f"no button {label!r} in chat {chat_id}")


def invitation_code(text: str) -> str | None:
    """The code of a `https://t.me/<bot>?start=<code>` link in `text`, if any."""
    if "?start=" not in text:
        return None
    return text.split("?start=", 1)[1].split()[0] or None
