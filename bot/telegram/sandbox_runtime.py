"""The production PTB `Application` as the sandbox world runs it (`bot.sandbox.world`): built by
`build_application`, long-polling the Bot API stand-in, with a counted update processor and a guarded tick job.

Why in `bot/telegram/`: only this package knows python-telegram-bot (issue 19). The world asks for "start",
"tick now" and "stop"; what an `Application`, a `Job` or an update processor is stays here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, Job, SimpleUpdateProcessor

from bot.bootstrap import periodic_work
from bot.services.container import Services
from bot.telegram.app import build_application, on_startup
from bot.telegram.context import MESSENGER_KEY

__all__ = ["TICK_JOB_NAME", "CountingProcessor", "SandboxBot"]

log = logging.getLogger(__name__)

#: The production job name in `bot.telegram.app.build_application`.
TICK_JOB_NAME = "tick"

TickCallback = Callable[[Any], Awaitable[None]]


class CountingProcessor(SimpleUpdateProcessor):
    """PTB's own concurrent update processor (16 at a time, as in production), calling back once per handled update.

    Waiting on this count instead of sleeping until things look quiet makes `settle` exact and fast.
    """

    def __init__(self, handled: Callable[[], None], max_concurrent_updates: int = 16) -> None:
        super().__init__(max_concurrent_updates)
        self._handled = handled

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine
        finally:
            self._handled()


class SandboxBot:
    """The real application over the stand-in; a lock around the production tick job, so a clock jump (which runs
    that same job at every step) never runs at the same moment as the periodic run — two concurrent alert deliveries
    would post the same alert twice."""

    def __init__(
        self,
        services: Services,
        *,
        token: str,
        base_url: str,
        tick_every: timedelta,
        rate_limiter: bool,
        handled: Callable[[], None],
    ) -> None:
        self.services = services
        self.app: Application | None = None
        self._token = token
        self._base_url = base_url
        self._tick_every = tick_every
        self._rate_limiter = rate_limiter
        self._handled = handled
        self._tick_lock = asyncio.Lock()
        self._production_tick: TickCallback | None = None
        self._tick_job: Job[Any] | None = None

    async def start(self) -> None:
        """Build, initialise and start the application, then long-poll the stand-in."""
        self.app = build_application(
            self.services,
            token=self._token,
            base_url=self._base_url,
            tick=self._tick_every,
            rate_limiter=self._rate_limiter,
            update_processor=CountingProcessor(self._handled),
        )
        self._guard_tick_job(self.app)
        await self.app.initialize()
        await on_startup(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)

    async def stop(self) -> None:
        """Stop polling and let handlers finish (the database is the caller's to close)."""
        if self.app is None:
            return
        assert self.app.updater is not None
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        self.app = None

    def _guard_tick_job(self, app: Application) -> None:
        """Wrap the production tick job so periodic runs skip while a clock jump is running its steps."""
        if app.job_queue is None:
            return
        jobs = app.job_queue.get_jobs_by_name(TICK_JOB_NAME)
        if not jobs:
            log.warning("no %r job in the application: the sandbox ticks by hand only", TICK_JOB_NAME)
            return
        job = jobs[0]
        production: TickCallback = job.callback
        lock = self._tick_lock

        async def periodic(context: Any) -> None:
            if lock.locked():
                return  # a clock jump is ticking right now; this run would only repeat it
            async with lock:
                await production(context)

        job.callback = periodic
        self._production_tick = production
        self._tick_job = job

    async def tick(self) -> None:
        """One production tick now (schedule, reminders, windows, alert delivery); errors propagate."""
        assert self.app is not None
        async with self._tick_lock:
            if self._production_tick is not None and self._tick_job is not None:
                context = self.app.context_types.context.from_job(self._tick_job, self.app)
                await self._production_tick(context)
            else:
                await periodic_work(self.services, self.app.bot_data[MESSENGER_KEY])
