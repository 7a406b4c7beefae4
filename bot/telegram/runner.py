"""`python -m bot run`: the production bot on Telegram, by long polling or webhook, until SIGTERM or SIGINT.

Here rather than in `bot/__main__.py` because only `bot/telegram/` knows python-telegram-bot (issue 19); the command
line calls `run_bot` and never imports PTB itself, so `export`, `report` or `backup` start without loading it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from telegram import Update
from telegram.ext import Application

from bot.clock import SystemClock
from bot.config import Settings, require_webhook
from bot.interpreter import settle_the_heap
from bot.telegram.app import build_application, build_services, on_startup

__all__ = ["run_bot", "start_updates"]

log = logging.getLogger("bot")


async def start_updates(application: Application, settings: Settings, *, webhook: bool) -> None:
    """Long polling, or a webhook server whose requests must carry the secret token (PTB checks it: 403 else)."""
    updater = application.updater
    assert updater is not None  # built with an updater (build_application)
    if webhook:
        url, secret = require_webhook(settings)
        await updater.start_webhook(
            listen=settings.webhook_listen, port=settings.webhook_port, url_path="telegram",
            webhook_url=url.rstrip("/") + "/telegram", secret_token=secret, allowed_updates=Update.ALL_TYPES,
        )
    else:
        await updater.start_polling(allowed_updates=Update.ALL_TYPES)


async def run_bot(settings: Settings, *, webhook: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly (updates in flight finish, the database is closed)."""
    services = await build_services(settings, SystemClock())
    application = build_application(
        services, token=settings.token or "", base_url=settings.telegram_api_base_url,
        tick=timedelta(seconds=settings.bot_tick_seconds),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with application:
        await on_startup(application)
        await application.start()
        settle_the_heap()  # what start-up built is left out of the garbage collector's full collections
        await start_updates(application, settings, webhook=webhook)
        log.info("bot running as @%s", application.bot.username)
        await stop.wait()
        log.info("stopping")
        if application.updater is not None:  # built with an updater (build_application); None only without one
            await application.updater.stop()
        await application.stop()
    await services.store.close()
