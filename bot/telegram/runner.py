"""`python -m bot run`: the production bot on Telegram, by long polling or webhook, until SIGTERM or SIGINT.

Here rather than in `bot/__main__.py` because only `bot/telegram/` knows python-telegram-bot (issue 19); the command
line calls `run_bot` and never imports PTB itself, so `export`, `report` or `backup` start without loading it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application

from bot.bootstrap import build_services
from bot.clock import SystemClock
from bot.config import ConfigError, Settings, require_webhook
from bot.interpreter import settle_the_heap
from bot.telegram.app import build_application, on_startup

__all__ = ["reach_telegram", "retry_delays", "run_bot", "start_updates"]

log = logging.getLogger("bot")


async def start_updates(application: Application, settings: Settings, *, webhook: bool) -> None:
    """Long polling, or a webhook server whose requests must carry the secret token (PTB checks it: 403 else)."""
    updater = application.updater
    assert updater is not None  # built with an updater (build_application)
    if webhook:
        url, secret = require_webhook(settings)
        await updater.start_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path="telegram",
            webhook_url=url.rstrip("/") + "/telegram",
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        await updater.start_polling(allowed_updates=Update.ALL_TYPES)


#: Waiting for the Bot API at start: 1 s, 2 s, 4 s … then every minute; a still-unreachable API is logged at most
#: once a minute (a hospital's proxy may take hours to open: the log must not fill the disk, nor go silent).
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 60.0
LOG_EVERY_SECONDS = 60.0


def retry_delays(first: float = FIRST_RETRY_SECONDS, longest: float = LONGEST_RETRY_SECONDS) -> Iterator[float]:
    """The waits between attempts: doubling from `first`, never longer than `longest`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, longest)


def unreachable_sentence(base_url: str, error: Exception, delay: float) -> str:
    """One sentence for the operator: what failed, what to check, what the bot does meanwhile."""
    host = urlsplit(base_url).netloc or base_url
    return (
        f"Cannot reach the Telegram Bot API at {host} ({error}): check that this machine can open HTTPS "
        f"connections to {host} (a hospital proxy needs HTTPS_PROXY, a firewall must allow it, DNS must resolve "
        f"it); retrying in {delay:g} s, then with back-off up to every {LONGEST_RETRY_SECONDS:g} s, logged once "
        "a minute."
    )


async def reach_telegram(application: Application, base_url: str, stop: asyncio.Event) -> bool:
    """Until the Bot API answers `getMe` (True), or SIGTERM/SIGINT (False).

    Why here and not PTB's own retries: `initialize()` fails at once on a network error, and the bot would end with a
    long traceback; behind a proxy or firewall that is not yet open, the operator needs one sentence saying what to
    check, and a bot that starts by itself once Telegram can be reached. A refused token is not retried."""
    attempts = 0
    last_logged = 0.0
    for delay in retry_delays():
        attempts += 1
        try:
            await application.bot.initialize()
        except InvalidToken:
            raise ConfigError(
                "Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized): copy the token again from "
                "@BotFather (/mybots → API Token); a revoked token must be replaced."
            ) from None
        except NetworkError as exc:  # TimedOut included: no answer, refused, unknown host, proxy error
            now = time.monotonic()
            if attempts == 1:
                log.warning("%s", unreachable_sentence(base_url, exc, delay))
                last_logged = now
            elif now - last_logged >= LOG_EVERY_SECONDS:
                log.warning("still cannot reach the Telegram Bot API after %s attempts (%s); retrying", attempts, exc)
                last_logged = now
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                continue
            return False
        else:
            if attempts > 1:
                log.info("reached the Telegram Bot API after %s attempts", attempts)
            return True
    raise AssertionError("unreachable: retry_delays never ends")


async def run_bot(settings: Settings, *, webhook: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly (updates in flight finish, the database is closed)."""
    services = await build_services(settings, SystemClock())
    application = build_application(
        services,
        token=settings.token or "",
        base_url=settings.telegram_api_base_url,
        tick=timedelta(seconds=settings.bot_tick_seconds),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    try:
        reached = await reach_telegram(application, settings.telegram_api_base_url, stop)
    except BaseException:
        await services.store.close()
        raise
    if not reached:  # stopped while waiting for Telegram: nothing was started
        log.info("stopping")
        await application.bot.shutdown()
        await services.store.close()
        return
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
