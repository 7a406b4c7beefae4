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

__all__ = ["QUESTIONNAIRES_DIR", "EXIT_ERROR", "add_commands", "run_command"]

QUESTIONNAIRES_DIR: Final[Path] = Path(__file__).resolve().parents[2] / "questionnaires"
EXIT_ERROR: Final[int] = 2
COMMANDS: Final[tuple[str, ...]] = ("export", "report")


def add_commands(subparsers: Any) -> None:
    """Add `export` and `report` to the CLI's subparsers (`parser.add_subparsers(dest="command")`)."""
    export_parser = subparsers.add_parser(
        "export", help="export the data without any Telegram identity: csv (long format), fhir (R4 bundle), audit"
    )
    # Not `choices=`: an unknown format is reported by ExportError like every other export problem.
    export_parser.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    export_parser.add_argument("--out", required=True, type=Path, help="the file to write")
    export_parser.add_argument("--table", default=None, help="OMED conversion table for csv (default: fr_sor)")
    report_parser = subparsers.add_parser("report", help="trial report: report.csv and report.html")
    report_parser.add_argument("--out", required=True, type=Path, help="the folder to write into")
    report_parser.add_argument("--table", default=None, help="OMED conversion table (default: fr_sor)")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `export` or `report`; return the exit code (0, or 2 with one sentence on stderr)."""
    try:
        message = asyncio.run(_run(args, settings))
    except (ExportError, QuestionnaireFileError, OpioidCatalogueError, ScheduleFileError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    print(message)
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> str:
    from bot.clock import SystemClock
    from bot.report import build_report

    if args.command not in COMMANDS:
        raise ExportError(f"Unknown command {args.command!r}: use one of {', '.join(COMMANDS)}.")
    if args.command == "export" and args.format not in FORMATS:
        raise ExportError(f"Unknown export format {args.format!r}: use one of {', '.join(FORMATS)}.")
    questionnaires = load_questionnaires(QUESTIONNAIRES_DIR)
    catalogue = load_opioid_catalogue(QUESTIONNAIRES_DIR / "opioids.yaml")
    store = await open_existing_store(settings.bot_database, SystemClock())
    try:
        if args.command == "export":
            count = await export(args.format, store, args.out, questionnaires, catalogue, args.table)
            what = {"csv": "lines", "fhir": "questionnaire responses", "audit": "audit entries"}[args.format]
            return f"Wrote {count} {what} to {args.out}."
        schedule = load_schedule(QUESTIONNAIRES_DIR / "schedule.yaml")
        files = await build_report(store, args.out, questionnaires, catalogue, progress=True, schedule=schedule,
                                   table=args.table)
        return f"Wrote the report for {files.patients} patients to {files.csv} and {files.html}."
    finally:
        await store.close()
