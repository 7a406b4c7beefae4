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

__all__ = ["EXPORT_KINDS", "QUESTIONNAIRES_DIR", "EXIT_ERROR", "add_commands", "run_command", "wrote_line"]

QUESTIONNAIRES_DIR: Final[Path] = data_path("questionnaires")
EXIT_ERROR: Final[int] = 2
COMMANDS: Final[tuple[str, ...]] = ("export", "report")
#: Every export kind, what it holds and what its count counts (CSV rows or FHIR resources): one table for the help,
#: `--format`'s choices and the one line every export prints ("Wrote N rows to PATH.").
EXPORT_KINDS: Final[dict[str, tuple[str, str]]] = {
    "csv": ("the answers, one row per answer (long format)", "rows"),
    "fhir": ("the answers as an HL7 FHIR R4 bundle of QuestionnaireResponses", "resources"),
    "audit": ("the audit trail, one row per entry", "rows"),
    "alerts": ("alerts, suppressed firings and who acknowledged them", "rows"),
    "alerts-fhir": ("the alerts as an HL7 FHIR R4 bundle (Flags and Communications)", "resources"),
    "patients": ("one row per patient: study id, site, arm, status, radiotherapy dates", "rows"),
    "messages": ("the patients' own texts and media, one row per message", "rows"),
}
assert tuple(EXPORT_KINDS) == FORMATS, "every export format needs its line in EXPORT_KINDS"


def add_commands(subparsers: Any) -> None:
    """Add `export` and `report` to the CLI's subparsers (`parser.add_subparsers(dest="command")`)."""
    kinds = "\n".join(f"  {kind:<12} {text}" for kind, (text, _) in EXPORT_KINDS.items())
    export_parser = subparsers.add_parser(
        "export",
        help=f"export the data without any Telegram identity; --format {' | '.join(FORMATS)}",
        description=f"Export the data without any Telegram identity (pseudonymous study ids only).\n\nKinds "
        f"(--format):\n{kinds}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Not `choices=`: an unknown format is reported by ExportError like every other export problem.
    export_parser.add_argument(
        "--format", required=True, metavar="KIND", help=f"what to export: {', '.join(FORMATS)} (listed above)"
    )
    export_parser.add_argument("--out", required=True, type=Path, help="the file to write")
    export_parser.add_argument("--table", default=None, help="OMED conversion table for csv (default: fr_sor)")
    report_parser = subparsers.add_parser(
        "report", help="trial report: report.csv, report.html and telemonitoring.csv in a folder"
    )
    report_parser.add_argument("--out", required=True, type=Path, help="the folder to write into")
    report_parser.add_argument("--table", default=None, help="OMED conversion table (default: fr_sor)")
    for command in (export_parser, report_parser):
        command.add_argument(
            "--database", type=database_value, default=None, help="the database to read (default: BOT_DATABASE)"
        )
        command.add_argument("--force", action="store_true", help="replace output files that already exist")


def wrote_line(kind: str, count: int, out: Path | str) -> str:
    """The one line every export prints: the same words for every kind, so a script can read any of them."""
    return f"Wrote {count} {EXPORT_KINDS[kind][1]} to {out}."


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
            return wrote_line(args.format, count, args.out)
        schedule = load_schedule(QUESTIONNAIRES_DIR / "schedule.yaml")
        files = await build_report(
            store,
            args.out,
            questionnaires,
            catalogue,
            progress=True,
            schedule=schedule,
            table=args.table,
            replace=bool(getattr(args, "force", False)),
        )
        from bot.report.telemonitoring import build_telemonitoring  # issue 15: the telemonitoring yield

        yield_csv = await build_telemonitoring(store, args.out)
        return f"Wrote the report for {files.patients} patients to {files.csv}, {files.html} and {yield_csv}."
    finally:
        await store.close()
