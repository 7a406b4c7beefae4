"""Command line: `.venv/bin/python -m bot run | sandbox | enroll | caregiver-invite | migrate | export | report | backup | demo | simulate |
screen | compile-catalog` (`--help` lists every command, export kind and environment variable).

Every expected failure (a bad setting, an impossible path, a corrupt database, bad arguments) ends the process
with one English sentence on stderr naming the variable or option, and exit code 2: never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from dataclasses import replace
from pathlib import Path

from bot.clock import SystemClock
from bot.commandline import COMMAND, command
from bot.config import (
    DEFAULT_API_BASE_URL,
    ConfigError,
    Settings,
    load_settings,
    require_clinician_chat,
    require_webhook,
)
from bot.domain.enrolment import EnrolmentError, EnrolmentRequest, parse_enrolment
from bot.domain.free_text_screen import FreeTextVocabularyError
from bot.domain.omed import OpioidCatalogueError
from bot.domain.questionnaire import QuestionnaireFileError
from bot.domain.rules import RulesFileError
from bot.domain.schedule import ScheduleFileError
from bot.domain.sites import SitesFileError, load_sites
from bot.i18n import source_language
from bot.resources import DataFilesMissingError, data_path, require_data_files
from bot.storage.db import DatabaseFileError, is_postgres_url, make_private_dirs

log = logging.getLogger("bot")

NO_TOKEN_HELP = """No TELEGRAM_BOT_TOKEN is set.
To run the real bot: open Telegram, talk to @BotFather, send /newbot, and put the token it gives you in
TELEGRAM_BOT_TOKEN (environment or .env file), with CLINICIAN_CHAT_ID and CLINICIAN_USER_IDS (see docs/deployment.md; `.venv/bin/python -m bot --help` lists every variable).
Starting the offline sandbox instead (no Telegram account needed)."""


#: Every variable the bot reads, for `--help` (docs/configuration.md has the full table; a test keeps both in step).
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("TELEGRAM_BOT_TOKEN", "the bot's token from @BotFather; none: `run` starts the offline sandbox"),
    ("TELEGRAM_API_BASE_URL", "Bot API base URL (default https://api.telegram.org/bot)"),
    ("CLINICIAN_CHAT_ID", "numeric id of the clinicians' group (required with a token)"),
    ("CLINICIAN_USER_IDS", "comma-separated Telegram user ids allowed clinician commands (required with a token)"),
    ("BOT_DATABASE", "SQLite file or postgresql:// URL (default data/spinal-pro-bot.sqlite3)"),
    ("BOT_SITES_FILE", "the sites' real phone numbers and hours (required with a token)"),
    ("BOT_TIMEZONE", "time zone of the schedule and quiet hours (default Europe/Paris)"),
    ("BOT_TICK_SECONDS", "how often the schedule and alert outbox are checked (default 20)"),
    ("BOT_FANOUT_SPREAD_MINUTES", "spread of a large batch of questionnaires due at once (default 10)"),
    ("BOT_REPLICA_ID", "this process's name among replicas on one PostgreSQL database (default: host name)"),
    ("BOT_DATA_DIR", "folder holding questionnaires/ and locales/ (default: the bundled copy)"),
    ("WEBHOOK_URL", "run --webhook: the public https:// address of the reverse proxy"),
    ("WEBHOOK_SECRET", "run --webhook: secret Telegram sends back (16-256 of A-Z a-z 0-9 _ -)"),
    ("WEBHOOK_LISTEN", "run --webhook: address the bot listens on (default 127.0.0.1)"),
    ("WEBHOOK_PORT", "run --webhook: port the bot listens on (default 8443)"),
)


def _epilog() -> str:
    from bot.export.cli import EXPORT_KINDS

    variables = "\n".join(f"  {name:<26} {meaning}" for name, meaning in ENVIRONMENT)
    return (
        f"export kinds (--format): {', '.join(EXPORT_KINDS)}; see `{command('export --help')}`.\n\n"
        "environment variables (or a .env file in the working directory; see docs/configuration.md):\n"
        f"{variables}\n\n"
        f"Each command has its own help: {command('COMMAND --help')}."
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (every command, every option with its help)."""
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="spinal-pro-bot: a French Telegram bot that follows palliative-radiotherapy "
        "patients for clinical trials.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot on Telegram (long polling); without a token, the offline sandbox")
    run.add_argument("--webhook", action="store_true", help="receive updates by webhook (WEBHOOK_URL, WEBHOOK_SECRET)")
    sandbox = sub.add_parser("sandbox", help="the offline sandbox: stand-in Telegram and a web page, no account needed")
    sandbox.add_argument("--port", type=int, default=8080, help="the web page's port (default 8080)")
    enroll = sub.add_parser("enroll", help="enrol a patient from the shell and print the invitation link")
    enroll.add_argument(
        "args",
        nargs="+",
        metavar="ARG",
        help="<study_id> <YYYY-MM-DD radiotherapy start> [arm=…] [site=…] [fractions=1|5]",
    )
    enroll.add_argument("--bot-username", default="", help="the bot's @username, for the link (required)")
    caregiver = sub.add_parser(
        "caregiver-invite", help="invite a caregiver for an enrolled patient and print the one-time link (issue 36)"
    )
    caregiver.add_argument("study_id", help="the patient's study id")
    caregiver.add_argument("--bot-username", default="", help="the bot's @username, for the link (required)")
    sub.add_parser("migrate", help="apply database migrations (BOT_DATABASE) and exit")
    from bot.export.cli import add_commands as add_export_commands

    add_export_commands(sub)
    backup = sub.add_parser("backup", help="online backup of the SQLite database, checked with integrity_check")
    backup.add_argument("destination", help="a new file, or a directory (ending in /) to write it into")
    demo = sub.add_parser("demo", help="five virtual patients through 90 days; transcript, report and exports")
    demo.add_argument("--out", default="data/demo", help="output directory (default data/demo)")
    demo.add_argument("--verbose", action="store_true", help="show the bot's log while the demo runs")
    simulate = sub.add_parser(
        "simulate",
        help="seeded virtual cohort to day 38: day-30 evaluable fraction "
        "with and without the call list (DIR/summary.json)",
    )
    simulate.add_argument("--patients", type=int, default=200, help="how many virtual patients (default 200)")
    simulate.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed gives the same cohort (default 1)"
    )
    simulate.add_argument("--out", default="data/simulation", help="output directory (default data/simulation)")
    simulate.add_argument(
        "--scenario",
        choices=("published", "optimistic", "pessimistic"),
        default="published",
        help="cohort parameters (bot/sandbox/cohort_parameters.yaml; default published)",
    )
    simulate.add_argument(
        "--runs",
        choices=("all", "day30", "alerts", "one"),
        default="all",
        help="all (default): with and without the call list, and the alerting of before issue 15;"
        " day30: without it; alerts: without the run with no call list; one: the call-list run only",
    )
    from bot.screen_cli import add_command as add_screen_command

    add_screen_command(sub)
    from bot.medicines.cli import add_command as add_medicines_command

    add_medicines_command(sub)
    sub.add_parser("compile-catalog", help="compile the French catalog locales/fr/LC_MESSAGES/messages.po")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _dispatch(args)


#: A data file the bot cannot start without is wrong: the message names the file, the entry and the problem.
DATA_FILE_ERRORS: tuple[type[Exception], ...] = (
    QuestionnaireFileError,
    RulesFileError,
    ScheduleFileError,
    OpioidCatalogueError,
    SitesFileError,
    FreeTextVocabularyError,
)


def require_real_sites(settings: Settings) -> None:
    """No fictional number reaches a patient (issue 32): talking to Telegram itself, the bot needs the sites' own
    file (`BOT_SITES_FILE`), without example sites. The shipped example file is for the sandbox, the demo and the
    tests (the stand-in). Checked before any network call or database access."""
    if not settings.telegram_api_base_url.startswith(DEFAULT_API_BASE_URL):
        return  # the Bot API stand-in (tests, sandbox): the example sites are what it is for
    if settings.bot_sites_file is None:
        raise ConfigError(
            "BOT_SITES_FILE is not set: the sites file shipped with the bot holds example sites with fictional phone "
            "numbers, so write your sites' file with their real numbers (see questionnaires/sites.yaml) and set "
            "BOT_SITES_FILE to it."
        )
    sites = load_sites(settings.bot_sites_file)
    examples = [code for code, site in sites.by_code.items() if site.example]
    if examples:
        raise ConfigError(
            f"The sites file {sites.origin} holds example sites with fictional phone numbers ({', '.join(examples)}): "
            "give each site its real numbers and remove `example: true` before running with a real token."
        )


def database_error(name: str, exc: DatabaseFileError) -> str:
    """One sentence naming the variable or option the database path came from."""
    return f"Configuration error: {name} ({exc.path}) cannot be used: {exc.reason}."


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "compile-catalog":
        from bot.catalog import CatalogError, compile_catalog

        try:
            print(compile_catalog())
        except CatalogError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    if args.command == "screen":  # needs no settings and no database: only the vocabulary file
        from bot.screen_cli import run_command as run_screen

        try:
            return run_screen(args, data_path("questionnaires") / "free_text_red_flags.yaml")
        except FreeTextVocabularyError as exc:
            print(f"Configuration error: {exc}", file=sys.stderr)
            return 2
    try:
        settings = load_settings()
        require_data_files()
    except (ConfigError, DataFilesMissingError) as exc:
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
            require_real_sites(settings)
            asyncio.run(run_bot(settings, webhook=args.webhook))
        elif args.command == "sandbox":
            return _run_sandbox(settings, port=args.port)
        elif args.command == "enroll":
            return _enroll(settings, args.args, args.bot_username)
        elif args.command == "caregiver-invite":
            return _caregiver_invite(settings, args.study_id, args.bot_username)
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command in ("export", "report"):
            from bot.export.cli import run_command

            return run_command(args, settings)
        elif args.command == "medicines":
            from bot.medicines.cli import run_command as run_medicines

            return run_medicines(args, settings)
        elif args.command == "demo":
            from bot.sandbox.demo import DemoOutputError, run_demo

            try:
                return asyncio.run(run_demo(Path(args.out), verbose=args.verbose))
            except DemoOutputError as exc:
                print(f"Configuration error: --out {exc}.", file=sys.stderr)
                return 2
        elif args.command == "simulate":
            from bot.sandbox.cohort import simulate as run_simulation

            return asyncio.run(
                run_simulation(args.patients, args.seed, Path(args.out), runs=args.runs, scenario=args.scenario)
            )
        elif args.command == "backup":
            from bot.backup import BackupError, backup

            if is_postgres_url(settings.bot_database):
                print(
                    "BOT_DATABASE is a PostgreSQL database: its backups and integrity checks are the database "
                    "host's job (pg_dump, or the host's point-in-time recovery), not the bot's.",
                    file=sys.stderr,
                )
                return 2
            destination = Path(args.destination)
            try:
                if args.destination.endswith("/") and not destination.exists():
                    make_private_dirs(destination)  # "backups/" names a folder, even before it exists
                print(backup(Path(settings.bot_database), destination))
            except BackupError as exc:
                print(exc, file=sys.stderr)
                return 2
            except OSError as exc:
                print(f"Cannot write the backup to {destination}: {exc.strerror or exc}.", file=sys.stderr)
                return 2
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except DatabaseFileError as exc:
        print(database_error("BOT_DATABASE", exc), file=sys.stderr)
        return 2
    except DATA_FILE_ERRORS as exc:  # a questionnaire, rules, schedule, opioid, sites or vocabulary file is wrong
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


async def start_updates(application: object, settings: Settings, *, webhook: bool) -> None:
    """Long polling, or a webhook server (`bot.telegram.runner.start_updates`; imported here, when needed, so the
    other commands start without loading python-telegram-bot)."""
    from bot.telegram.runner import start_updates as start

    await start(application, settings, webhook=webhook)  # type: ignore[arg-type]  # application is typed object so that this module does not import PTB; it is a PTB Application


async def run_bot(settings: Settings, *, webhook: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly (`bot.telegram.runner.run_bot`)."""
    from bot.telegram.runner import run_bot as run

    await run(settings, webhook=webhook)


def _run_sandbox(settings: Settings, *, port: int) -> int:
    from bot.sandbox.server import run_sandbox

    return asyncio.run(run_sandbox(settings, port=port))


BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
"""Telegram usernames: 5 to 32 characters among letters, digits and `_`, starting with a letter."""


def _enroll(settings: Settings, argv: list[str], bot_username: str) -> int:
    """Check every argument first (nothing is created for a mistyped command), then enrol and print the link."""
    try:
        # The command line speaks English to its operator, the domain's messages included (`source_language`);
        # only around these calls: the bot itself (`run`, `sandbox`, `demo`) speaks French.
        with source_language():
            request = parse_enrolment(argv, SystemClock().now().astimezone(settings.timezone).date())
    except EnrolmentError as exc:
        print(exc, file=sys.stderr)
        return 2
    username = bot_username.removeprefix("@")
    if not username:
        print(
            "enroll needs --bot-username (the bot's username given by @BotFather) to print the invitation link.",
            file=sys.stderr,
        )
        return 2
    if not BOT_USERNAME.fullmatch(username):
        print(
            f"--bot-username {bot_username!r} is not a Telegram username (5 to 32 letters, digits or _).",
            file=sys.stderr,
        )
        return 2
    sites = load_sites(settings.bot_sites_file or data_path("questionnaires") / "sites.yaml")
    if not request.site_named:  # issue 32: the only site, or the example "main"; several real sites: say which
        if sites.enrolment_default is None:
            print(
                f"Name the patient's site with site=<code>: {sites.origin} has several sites "
                f"({', '.join(sites.codes)}).",
                file=sys.stderr,
            )
            return 2
        request = replace(request, site=sites.enrolment_default, site_named=True)
    if request.site not in sites.codes:
        print(
            f"Unknown site {request.site}: its phone numbers are not in {sites.origin} "
            f"(known sites: {', '.join(sites.codes)}).",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_enroll_and_print(settings, request, username, known_sites=sites.codes))


async def _enroll_and_print(
    settings: Settings, request: EnrolmentRequest, username: str, *, known_sites: tuple[str, ...]
) -> int:
    from bot.services.enrolment import enroll
    from bot.storage.engines import open_store

    clock = SystemClock()
    store = await open_store(settings.bot_database, clock)
    try:
        with source_language():  # a refusal ("already enrolled") is for the operator, in English
            invitation = await enroll(store, clock, request, actor="cli", known_sites=known_sites)
    except EnrolmentError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        await store.close()
    print(f"https://t.me/{username}?start={invitation.code}")
    return 0


def _caregiver_invite(settings: Settings, study_id: str, bot_username: str) -> int:
    """Invite a caregiver of an enrolled patient (at most two at a time) and print the one-time link."""
    username = bot_username.removeprefix("@")
    if not BOT_USERNAME.fullmatch(username):
        print(
            "caregiver-invite needs --bot-username (the bot's username given by @BotFather, 5 to 32 letters, digits "
            "or _) to print the invitation link.",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_caregiver_invite_and_print(settings, study_id, username))


async def _caregiver_invite_and_print(settings: Settings, study_id: str, username: str) -> int:
    from bot.services.caregivers import CaregiverError, invite
    from bot.storage.engines import open_store

    clock = SystemClock()
    store = await open_store(settings.bot_database, clock)
    try:
        with source_language():  # a refusal is for the operator, in English
            invitation = await invite(store, clock, study_id, actor="cli")
    except CaregiverError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        await store.close()
    print(f"https://t.me/{username}?start={invitation.code}")
    return 0


async def _migrate(settings: Settings) -> None:
    from bot.storage.engines import open_store

    store = await open_store(settings.bot_database, SystemClock())
    await store.close()


if __name__ == "__main__":
    sys.exit(main())
