"""Command line: `python -m bot run | enroll | compile-catalog | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import timedelta

from bot.config import ConfigError, Settings, load_settings, require_clinician_chat, require_webhook

log = logging.getLogger("bot")

NO_TOKEN_HELP = """No TELEGRAM_BOT_TOKEN is set.
To run the real bot: open Telegram, talk to @BotFather, send /newbot, and put the token it gives you in
TELEGRAM_BOT_TOKEN (environment or .env file), with CLINICIAN_CHAT_ID and CLINICIAN_USER_IDS (see README).
Starting the offline sandbox instead (no Telegram account needed)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="spinal-pro-bot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (long polling); without a token, the offline sandbox")
    run.add_argument("--webhook", action="store_true", help="receive updates by webhook (WEBHOOK_URL, WEBHOOK_SECRET)")
    enroll = sub.add_parser("enroll", help="enrol a patient from the shell and print the invitation link")
    enroll.add_argument("args", nargs="+", help="<study_id> <YYYY-MM-DD> [arm=…] [site=…] [fractions=1|5]")
    enroll.add_argument("--bot-username", default="", help="the bot's @username, for the link")
    sub.add_parser("compile-catalog", help="compile locales/fr/LC_MESSAGES/messages.po")
    sub.add_parser("migrate", help="apply database migrations and exit")
    backup = sub.add_parser("backup", help="online backup of the database, checked with integrity_check")
    backup.add_argument("destination", help="a new file, or a directory")
    from bot.export.cli import add_commands as add_export_commands

    add_export_commands(sub)
    demo = sub.add_parser("demo", help="five virtual patients through 90 days; transcript, report and exports")
    demo.add_argument("--out", default="data/demo", help="output directory (default data/demo)")
    simulate = sub.add_parser("simulate", help="seeded virtual cohort to day 38: day-30 evaluable fraction "
                                                "with and without the call list (DIR/summary.json)")
    simulate.add_argument("--patients", type=int, default=200)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--out", default="data/simulation", help="output directory (default data/simulation)")
    sandbox = sub.add_parser("sandbox", help="the offline sandbox (stand-in Telegram + web page)")
    sandbox.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    if args.command == "compile-catalog":
        from bot.catalog import CatalogError, compile_catalog

        try:
            print(compile_catalog())
        except CatalogError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from bot.logging_setup import configure_logging

    configure_logging(settings.token)
    try:
        if args.command == "run":
            if settings.token is None:
                print(NO_TOKEN_HELP, file=sys.stderr)
                return _run_sandbox(settings, port=8080)
            require_clinician_chat(settings)
            if args.webhook:
                require_webhook(settings)
            asyncio.run(run_bot(settings, webhook=args.webhook))
        elif args.command == "sandbox":
            return _run_sandbox(settings, port=args.port)
        elif args.command == "enroll":
            return asyncio.run(_enroll(settings, args.args, args.bot_username))
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command in ("export", "report"):
            from bot.export.cli import run_command

            return run_command(args, settings)
        elif args.command == "demo":
            from pathlib import Path

            from bot.sandbox.demo import run_demo

            return asyncio.run(run_demo(Path(args.out)))
        elif args.command == "simulate":
            from pathlib import Path

            from bot.sandbox.cohort import simulate as run_simulation

            return asyncio.run(run_simulation(args.patients, args.seed, Path(args.out)))
        elif args.command == "backup":
            from pathlib import Path

            from bot.backup import BackupError, backup

            try:
                print(backup(Path(settings.bot_database), Path(args.destination)))
            except BackupError as exc:
                print(exc, file=sys.stderr)
                return 2
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


async def start_updates(application: object, settings: Settings, *, webhook: bool) -> None:
    """Long polling, or a webhook server whose requests must carry the secret token (PTB checks it: 403 else)."""
    from telegram import Update

    updater = application.updater  # type: ignore[attr-defined]
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
    from bot.clock import SystemClock
    from bot.telegram.app import build_application, build_services

    services = await build_services(settings, SystemClock())
    application = build_application(
        services, token=settings.token or "", base_url=settings.telegram_api_base_url,
        tick=timedelta(seconds=settings.bot_tick_seconds),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    from bot.telegram.app import on_startup

    async with application:
        await on_startup(application)
        await application.start()
        await start_updates(application, settings, webhook=webhook)
        log.info("bot running as @%s", application.bot.username)
        await stop.wait()
        log.info("stopping")
        await application.updater.stop()
        await application.stop()
    await services.store.close()


def _run_sandbox(settings: Settings, *, port: int) -> int:
    try:
        from bot.sandbox.server import run_sandbox
    except ImportError:
        print("The offline sandbox is not available in this version.", file=sys.stderr)
        return 0
    asyncio.run(run_sandbox(settings, port=port))
    return 0


async def _enroll(settings: Settings, argv: list[str], bot_username: str) -> int:
    from bot.clock import SystemClock
    from bot.domain.enrolment import EnrolmentError, parse_enrolment
    from bot.services.enrolment import enroll
    from bot.storage.store import Store

    clock = SystemClock()
    store = await Store.open(settings.bot_database, clock)
    try:
        today = clock.now().astimezone(settings.timezone).date()
        invitation = await enroll(store, clock, parse_enrolment(argv, today), actor="cli")
    except EnrolmentError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        await store.close()
    username = bot_username or "<bot username>"
    print(f"https://t.me/{username}?start={invitation.code}")
    return 0


async def _migrate(settings: Settings) -> None:
    from bot.clock import SystemClock
    from bot.storage.store import Store

    store = await Store.open(settings.bot_database, SystemClock())
    await store.close()


if __name__ == "__main__":
    sys.exit(main())
