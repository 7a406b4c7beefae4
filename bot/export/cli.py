"""Command-line glue for `python -m bot export …` and `python -m bot report …` (wired in `bot/__main__.py`).

Every expected failure (unknown format, unwritable path, missing or empty database, bad data file) is printed as
one sentence on stderr with exit code 2, like the rest of the CLI; success prints one line saying what was written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, Final

from bot.config import Settings
from bot.domain.omed import OpioidCatalogueError, load_opioid_catalogue
from bot.domain.questionnaire import QuestionnaireFileError, load_questionnaires
from bot.domain.schedule import ScheduleFileError, load_schedule
from bot.export import FORMATS, ExportError, export, open_existing_store
from bot.export.dataset import DatabaseUnusableError
from bot.output_files import first_problem
from bot.resources import data_path
from bot.storage.db import DatabaseFileError, is_postgres_url

__all__ = ["QUESTIONNAIRES_DIR", "EXIT_ERROR", "add_commands", "run_command"]

QUESTIONNAIRES_DIR: Final[Path] = data_path("questionnaires")
EXIT_ERROR: Final[int] = 2
COMMANDS: Final[tuple[str, ...]] = ("export", "report")


def add_commands(subparsers: Any) -> None:
    """Add `export` and `report` to the CLI's subparsers (`parser.add_subparsers(dest="command")`)."""
    export_parser = subparsers.add_parser(
        "export", help="export the data without any Telegram identity: csv (long format), fhir (R4 bundle), audit, "
                                     "patients, messages (the patients' own texts and media)"
    )
    # Not `choices=`: an unknown format is reported by ExportError like every other export problem.
    export_parser.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    export_parser.add_argument("--out", required=True, type=Path, help="the file to write")
    export_parser.add_argument("--table", default=None, help="OMED conversion table for csv (default: fr_sor)")
    report_parser = subparsers.add_parser("report", help="trial report: report.csv and report.html")
    report_parser.add_argument("--out", required=True, type=Path, help="the folder to write into")
    report_parser.add_argument("--table", default=None, help="OMED conversion table (default: fr_sor)")
    for command in (export_parser, report_parser):
        command.add_argument("--database", type=database_value, default=None,
                             help="the database to read (default: BOT_DATABASE)")
        command.add_argument("--force", action="store_true", help="replace output files that already exist")


def database_value(raw: str) -> Path | str:
    """`--database`: a SQLite file's path, or a postgresql:// URL kept as text (a `Path` would fold its `//`)."""
    return raw if is_postgres_url(raw) else Path(raw)


def database_option(args: argparse.Namespace, settings: Settings) -> tuple[Path | str, str]:
    """The database to read and the name the operator gave it (`--database`, else `BOT_DATABASE`)."""
    if getattr(args, "database", None) is not None:
        return database_value(str(args.database)), "--database"
    return database_value(str(settings.bot_database)), "BOT_DATABASE"


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `export` or `report`; return the exit code (0, or 2 with one sentence on stderr)."""
    database, name = database_option(args, settings)
    if args.command == "export":  # the report checks its two files itself (`build_report(replace=…)`)
        problem = first_problem([Path(args.out)], database=database, force=bool(getattr(args, "force", False)))
        if problem:
            print(f"Cannot write --out: {problem}.", file=sys.stderr)
            return EXIT_ERROR
    try:
        message = asyncio.run(_run(args, database))
    except DatabaseUnusableError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ExportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    except DatabaseFileError as exc:
        print(f"Configuration error: {name} ({exc.path}) cannot be used: {exc.reason}.", file=sys.stderr)
        return EXIT_ERROR
    except (QuestionnaireFileError, OpioidCatalogueError, ScheduleFileError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    print(message)
    return 0


async def _run(args: argparse.Namespace, database: Path | str) -> str:
    from bot.clock import SystemClock
    from bot.report import build_report

    if args.command not in COMMANDS:
        raise ExportError(f"Unknown command {args.command!r}: use one of {', '.join(COMMANDS)}.")
    if args.command == "export" and args.format not in FORMATS:
        raise ExportError(f"Unknown export format {args.format!r}: use one of {', '.join(FORMATS)}.")
    questionnaires = load_questionnaires(QUESTIONNAIRES_DIR)
    catalogue = load_opioid_catalogue(QUESTIONNAIRES_DIR / "opioids.yaml")
    store = await open_existing_store(database, SystemClock())
    try:
        if args.command == "export":
            count = await export(args.format, store, args.out, questionnaires, catalogue, args.table)
            what = {"csv": "lines", "fhir": "questionnaire responses", "audit": "audit entries",
                    "alerts": "alert records", "alerts-fhir": "alert resources",
                    "patients": "patients", "messages": "patient messages"}[args.format]
            return f"Wrote {count} {what} to {args.out}."
        schedule = load_schedule(QUESTIONNAIRES_DIR / "schedule.yaml")
        files = await build_report(store, args.out, questionnaires, catalogue, progress=True, schedule=schedule,
                                   table=args.table, replace=bool(getattr(args, "force", False)))
        from bot.report.telemonitoring import build_telemonitoring  # issue 15: the telemonitoring yield

        yield_csv = await build_telemonitoring(store, args.out)
        return f"Wrote the report for {files.patients} patients to {files.csv}, {files.html} and {yield_csv}."
    finally:
        await store.close()
