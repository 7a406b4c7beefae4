"""The trial report: `report.csv` (tidy, one number per line) and `report.html` (tables and the pain plot).

Per arm × site (and pooled per arm and overall): enrolled, evaluable, pain-response categories at each follow-up
with Wilson 95 % intervals, responders with ITT and evaluable-only denominators, pain flares, missed
questionnaires and completion rate. The numbers are computed in `bot.export.metrics` (pure); this module reads
the snapshot, shows progress and writes the files.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.clock import SystemClock
from bot.domain.omed import OpioidCatalogue, UnknownTableError
from bot.domain.questionnaire import Questionnaire
from bot.domain.schedule import ScheduleSpec, load_schedule
from bot.domain.trial import TrialFileError, TrialSpec, load_trial
from bot.export.dataset import ExportError, atomic_write, load_dataset, require_patients
from bot.export.metrics import REPORT_COLUMNS, ReportPlan, mean_pain_by_day, outcomes, report_rows, summaries
from bot.output_files import first_problem
from bot.report.html import render_html
from bot.report.plots import mean_pain_png
from bot.report.progress import ProgressBar
from bot.services.intercurrent import all_events
from bot.storage.store import Store

__all__ = ["ReportFiles", "REPORT_CSV", "REPORT_HTML", "build_report"]

log = logging.getLogger(__name__)

REPORT_CSV = "report.csv"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class ReportFiles:
    csv: Path
    html: Path
    patients: int


def _prepare_dir(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"Cannot write the report to {out_dir}: it is a file, give a folder.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create the folder {out_dir}: {exc.strerror or exc}.") from None
    return out_dir


async def build_report(
    store: Store,
    out_dir: str | Path,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    *,
    progress: bool = True,
    schedule: ScheduleSpec | None = None,
    table: str | None = None,
    now: datetime | None = None,
    replace: bool = True,
    trial: TrialSpec | None = None,
) -> ReportFiles:
    """Write `report.csv` and `report.html` into `out_dir` (created if needed); return their paths.

    `schedule` gives the baseline, diary and follow-up time points (default: the shipped schedule.yaml); `table`
    the OMED conversion table (default: the catalogue's). The progress bar is drawn on stderr only when
    `progress` is true and stderr is a terminal. Raises `ExportError` for an unusable folder, an unknown table or
    a database without patients, and for output files that are the database or its side files, or that exist
    already when `replace` is false (the command line's default, `--force` to replace).
    """
    targets = [Path(out_dir) / REPORT_CSV, Path(out_dir) / REPORT_HTML]
    problem = first_problem(targets, database=store.path, force=replace)
    if problem:
        raise ExportError(f"Cannot write the report: {problem}.")
    out = _prepare_dir(Path(out_dir))
    try:
        table_id = table or catalogue.default_table
        catalogue.table(table_id)
    except UnknownTableError as exc:
        raise ExportError(f"Cannot compute OMED: {exc}.") from None
    plan = ReportPlan.from_schedule(schedule or load_schedule())
    try:
        spec = trial or load_trial()
    except TrialFileError as exc:
        raise ExportError(f"Cannot read the trial file: {exc}.") from None
    dataset = await load_dataset(store)
    require_patients(dataset)
    async with store.read() as tx:
        events = await all_events(tx)

    bar = ProgressBar(len(dataset.patients) + 1, "patients", enabled=progress)
    members = []
    for outcome in outcomes(dataset, questionnaires, catalogue, plan, table=table_id):
        members.append(outcome)
        bar.advance()
    groups = summaries(members, plan)

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    writer.writerows(report_rows(groups, plan, spec))
    csv_path = out / REPORT_CSV
    atomic_write(csv_path, buffer.getvalue())

    plot = mean_pain_png(mean_pain_by_day(members))
    html_path = out / REPORT_HTML
    atomic_write(
        html_path,
        render_html(
            groups, plan, plot, generated=now or SystemClock().now(), table=table_id, trial=spec, events=events
        ),
    )
    bar.advance()
    bar.close()
    log.info("report for %s patients written to %s", len(members), out)
    return ReportFiles(csv=csv_path, html=html_path, patients=len(members))
