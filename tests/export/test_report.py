"""The trial report on a hand-made cohort whose every number is worked out by hand below."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import VirtualClock
from bot.domain.endpoints import wilson_interval
from bot.domain.omed import load_opioid_catalogue
from bot.domain.questionnaire import load_questionnaires
from bot.export import ExportError, open_existing_store
from bot.export.cli import QUESTIONNAIRES_DIR
from bot.export.metrics import REPORT_COLUMNS
from bot.report import build_report
from bot.report.progress import ProgressBar
from bot.storage import instances, patients
from bot.storage.store import Store

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
RT_START = date(2027, 3, 2)
NO_OPIOID = {"bg_taking": "no", "rescue_taking": "no"}
SAME = {"analgesic_same": "yes", "rescue_doses_24h": 0}
SKENAN_60 = {"bg_taking": "yes", "bg_product": "skenan", "bg_dose": 30, "bg_per_day": 2, "rescue_taking": "no"}
SKENAN_40 = {
    "analgesic_same": "no",
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 20,
    "bg_per_day": 2,
    "rescue_taking": "no",
}

# study id, site, arm, [(questionnaire, timepoint, day, answers, status)]
COHORT: list[tuple[str, str, str, list[tuple[str, str, int | None, dict[str, Any], str]]]] = [
    # A: baseline 8 / 0 mg. D15 pain 5 → partial (Δ −3); D30 pain 0 → complete. Diary 8, 10, 7: day 1 is
    # baseline + 2 and day 2 returns to ≤ baseline → a flare.
    (
        "A-01",
        "LYON",
        "standard",
        [
            ("baseline", "baseline", None, {"pain_worst": 8, **NO_OPIOID}, "completed"),
            ("daily", "DD0", 0, {"pain_worst": 8, **SAME}, "completed"),
            ("daily", "DD1", 1, {"pain_worst": 10, **SAME}, "completed"),
            ("daily", "DD2", 2, {"pain_worst": 7, **SAME}, "completed"),
            ("followup", "D15", 15, {"pain_worst": 5, **SAME}, "completed"),
            ("followup", "D30", 30, {"pain_worst": 0, **SAME}, "completed"),
        ],
    ),
    # B: baseline 4 / 0 mg. D15 missed without answers; D30 pain 7 → progression (Δ +3). Diary day 0 at 7 never
    # returns → unresolved worsening, not a flare.
    (
        "B-01",
        "GRENOBLE",
        "standard",
        [
            ("baseline", "baseline", None, {"pain_worst": 4, **NO_OPIOID}, "completed"),
            ("daily", "DD0", 0, {"pain_worst": 7, **SAME}, "completed"),
            ("followup", "D15", 15, {}, "missed"),
            ("followup", "D30", 30, {"pain_worst": 7, **SAME}, "completed"),
        ],
    ),
    # C: baseline 6 / Skenan 60 mg. D15 pain 6 on 40 mg → partial (reduction ≤ 75 %, Δ 0); D30 missed.
    (
        "C-01",
        "PARIS",
        "experimental",
        [
            ("baseline", "baseline", None, {"pain_worst": 6, **SKENAN_60}, "completed"),
            ("followup", "D15", 15, {"pain_worst": 6, **SKENAN_40}, "completed"),
            ("followup", "D30", 30, {}, "missed"),
        ],
    ),
    # D: baseline pain 1 → not evaluable (pain-response.md: evaluable when baseline ≥ 2).
    (
        "D-01",
        "PARIS",
        "experimental",
        [
            ("baseline", "baseline", None, {"pain_worst": 1, **NO_OPIOID}, "completed"),
            ("followup", "D30", 30, {"pain_worst": 0, **SAME}, "completed"),
        ],
    ),
]


async def build_cohort(path: Path) -> None:
    clock = VirtualClock(T0)
    store = await Store.open(path, clock)
    try:
        async with store.transaction() as tx:
            for study_id, site, arm, planned in COHORT:
                patient_id = await patients.create_patient(
                    tx, study_id=study_id, site_code=site, arm=arm, rt_start=RT_START, fractions=1, now=clock.now()
                )
                for questionnaire, timepoint, day, answers, status in planned:
                    instance_id = await instances.create_instance(
                        tx,
                        patient_id=patient_id,
                        questionnaire_id=questionnaire,
                        questionnaire_version="1.0",
                        timepoint=timepoint,
                        study_day=day,
                        is_primary=timepoint == "D30",
                        opens_at=clock.now(),
                        closes_at=clock.now() + timedelta(days=1),
                    )
                    await instances.set_status(tx, instance_id, "open", clock.now())
                    for item, value in answers.items():
                        clock.advance(timedelta(seconds=30))
                        await instances.add_answer(
                            tx,
                            instance_id=instance_id,
                            item_id=item,
                            value=value,
                            answered_at=clock.now(),
                            received_at=clock.now(),
                            is_correction=False,
                        )
                    await instances.set_status(tx, instance_id, status, clock.now())
            await tx.commit()
    finally:
        await store.close()


@pytest.fixture(scope="module")
def inputs() -> tuple[Any, Any]:
    return load_questionnaires(QUESTIONNAIRES_DIR), load_opioid_catalogue(QUESTIONNAIRES_DIR / "opioids.yaml")


@pytest.fixture
async def report(tmp_path: Path, inputs) -> Path:
    database = tmp_path / "bot.sqlite3"
    await build_cohort(database)
    store = await open_existing_store(database, VirtualClock(T0))
    try:
        files = await build_report(store, tmp_path / "report", *inputs, progress=True, now=T0 + timedelta(days=95))
    finally:
        await store.close()
    assert files.patients == 4
    return tmp_path / "report"


def table(out: Path) -> dict[tuple[str, str, str, str, str], dict[str, str]]:
    with (out / "report.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(REPORT_COLUMNS)
    keyed = {(r["arm"], r["site"], r["timepoint"], r["measure"], r["analysis"]): r for r in rows}
    assert len(keyed) == len(rows), "a (group, timepoint, measure, analysis) appears twice"
    return keyed


def n(rows, arm, site, timepoint, measure, analysis="") -> tuple[int, int | None]:
    row = rows[(arm, site, timepoint, measure, analysis)]
    return int(row["n"]), int(row["denominator"]) if row["denominator"] else None


async def test_groups_are_each_arm_by_site_then_pooled_per_arm_then_overall(report):
    groups = list(dict.fromkeys((k[0], k[1]) for k in table(report)))
    assert groups == [
        ("standard", "GRENOBLE"),
        ("standard", "LYON"),
        ("standard", "all"),
        ("experimental", "PARIS"),
        ("experimental", "all"),
        ("all", "all"),
        ("experimental-standard", "all"),
    ]  # the between-arm comparison comes last


async def test_the_between_arm_difference_at_day_30_has_a_newcombe_interval_and_the_trial_margin(report):
    from bot.domain.endpoints import newcombe_difference

    rows = table(report)
    e, s_ = (
        n(rows, "experimental", "all", "D30", "responders", "itt"),
        n(rows, "standard", "all", "D30", "responders", "itt"),
    )
    expected = newcombe_difference(e[0], e[1], s_[0], s_[1])
    assert expected is not None
    row = rows[("experimental-standard", "all", "D30", "responders_difference", "itt")]
    assert [row["percent"], row["ci95_low"], row["ci95_high"]] == [f"{100 * v:.2f}" for v in expected]
    assert rows[("experimental-standard", "all", "D30", "non_inferiority_margin", "")]["percent"] == "10.00"
    assert rows[("experimental-standard", "all", "D30", "primary_reading", "project")]
    for analysis in ("itt_strict", "evaluable_strict", "evaluable"):
        assert ("experimental-standard", "all", "D30", "responders_difference", analysis) in rows
    assert ("all", "all", "D30", "responders", "itt_strict") in rows
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Pain response (strict reading)" in html and "Non-inferiority margin: −10.0 points" in html


async def test_enrolled_and_evaluable_counts(report):
    rows = table(report)
    assert n(rows, "all", "all", "", "enrolled") == (4, None)
    assert n(rows, "all", "all", "", "evaluable") == (3, 4)
    assert n(rows, "experimental", "PARIS", "", "evaluable") == (1, 2)
    assert n(rows, "standard", "all", "", "evaluable") == (2, 2)


async def test_primary_time_point_categories_and_responders_in_both_analyses(report):
    rows = table(report)
    assert n(rows, "standard", "all", "D30", "complete", "evaluable") == (1, 2)
    assert n(rows, "standard", "all", "D30", "progression", "evaluable") == (1, 2)
    assert n(rows, "standard", "all", "D30", "partial", "evaluable") == (0, 2)
    assert n(rows, "standard", "LYON", "D30", "complete", "evaluable") == (1, 1)
    assert n(rows, "standard", "GRENOBLE", "D30", "progression", "evaluable") == (1, 1)
    # C missed D30 (evaluable, missing), D is not evaluable: responders 1 of 4 (ITT), 1 of 2 (evaluable).
    assert n(rows, "all", "all", "D30", "responders", "itt") == (1, 4)
    assert n(rows, "all", "all", "D30", "responders", "evaluable") == (1, 2)
    assert n(rows, "all", "all", "D30", "missing", "evaluable") == (1, 3)
    assert n(rows, "all", "all", "D30", "not_evaluable", "itt") == (1, 4)
    assert n(rows, "experimental", "all", "D30", "responders", "evaluable") == (0, 0)
    assert rows[("experimental", "all", "D30", "responders", "evaluable")]["percent"] == ""


async def test_day_15_counts_a_reduction_of_analgesics_as_partial_and_a_missed_follow_up_as_missing(report):
    rows = table(report)
    assert n(rows, "all", "all", "D15", "partial", "evaluable") == (2, 2)  # A (Δ −3) and C (OMED 60 → 40)
    assert n(rows, "standard", "GRENOBLE", "D15", "missing", "evaluable") == (1, 1)
    assert n(rows, "all", "all", "D15", "responders", "itt") == (2, 4)


async def test_percentages_and_wilson_intervals_are_written_in_percent(report):
    row = table(report)[("all", "all", "D30", "responders", "itt")]
    low, high = wilson_interval(1, 4)
    assert row["percent"] == "25.00"
    assert (float(row["ci95_low"]), float(row["ci95_high"])) == pytest.approx((100 * low, 100 * high), abs=0.01)


async def test_flares_come_from_the_daily_diary_and_an_unresolved_worsening_is_not_one(report):
    rows = table(report)
    assert n(rows, "standard", "LYON", "", "pain_flare") == (1, 1)
    assert n(rows, "standard", "GRENOBLE", "", "pain_flare") == (0, 1)
    assert n(rows, "standard", "GRENOBLE", "", "unresolved_worsening") == (1, 1)
    assert n(rows, "experimental", "all", "", "pain_flare") == (0, 0)  # no diary: not assessable


async def test_missed_questionnaires_and_completion_rate(report):
    rows = table(report)
    assert n(rows, "all", "all", "", "questionnaires_missed") == (2, None)
    assert n(rows, "all", "all", "", "questionnaires_completed") == (13, None)
    assert n(rows, "all", "all", "", "completion_rate") == (13, 15)
    assert n(rows, "experimental", "PARIS", "", "completion_rate") == (4, 5)  # C 2 + D 2 completed, C missed D30


async def test_html_is_self_contained_with_an_embedded_png_plot(report):
    html = (report / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing to fetch
    assert "D30 (primary)" in html
    assert "Arm experimental, site PARIS" in html


async def test_html_leads_with_the_primary_end_point_per_arm_and_the_difference(report):
    """Issue 39: the result first (per arm, then between arms), details per site after; human labels; intervals in
    their own column, not inside every cell."""
    html = (report / "report.html").read_text(encoding="utf-8")
    order = [
        html.index(s)
        for s in (
            "Primary end point: pain response at D30",
            "Difference between arms at D30",
            "Details: Arm standard, all sites",
            "Details per site",
            "Arm experimental, site PARIS",
            "Intercurrent events",
        )
    ]
    assert order == sorted(order)
    assert "<td>Arm standard</td><td>Intention to treat</td><td>1/2 (50.0 %)</td><td>9.5–90.5</td>" in html
    assert "<td>All arms</td><td>Intention to treat</td><td>1/4 (25.0 %)</td><td>4.6–69.9</td>" in html
    assert "<td>Intention to treat (strict reading)</td><td>-50.00</td><td>-90.55 to 27.26</td>" in html
    assert not re.search(r"<td>[^<]*CI[^<]*</td>", html)  # no interval inside a cell
    assert not re.search(r">(itt|evaluable)(_strict)?<", html)  # no raw analysis id shown


async def test_progress_is_not_drawn_when_stderr_is_not_a_terminal(report, capsys):
    assert capsys.readouterr().err == ""


def test_progress_bar_draws_on_a_terminal_and_ends_the_line():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(4, "patients", stream=stream)
    bar.advance()
    bar.advance(3)
    bar.close()
    out = stream.getvalue()
    assert "1/4 patients" in out and "4/4 patients" in out and out.endswith("\n")
    silent = Terminal()
    ProgressBar(4, "patients", enabled=False, stream=silent).advance()
    assert silent.getvalue() == ""


async def test_report_of_an_empty_database_is_an_export_error(tmp_path, inputs):
    database = tmp_path / "empty.sqlite3"
    await (await Store.open(database, VirtualClock(T0))).close()  # a database with the schema and no patient
    store = await open_existing_store(database, VirtualClock(T0))
    try:
        with pytest.raises(ExportError, match="no patients"):
            await build_report(store, tmp_path / "out", *inputs, progress=False)
    finally:
        await store.close()
    assert not (tmp_path / "out" / "report.csv").exists()


async def test_report_into_a_path_that_is_a_file_is_an_export_error(tmp_path, inputs):
    database = tmp_path / "bot.sqlite3"
    await build_cohort(database)
    (tmp_path / "taken").write_text("x")
    store = await open_existing_store(database, VirtualClock(T0))
    try:
        with pytest.raises(ExportError, match="is a file"):
            await build_report(store, tmp_path / "taken", *inputs, progress=False)
    finally:
        await store.close()


async def test_the_pandas_script_in_docs_recomputes_the_day_30_figures_from_the_csv(report, tmp_path, inputs):
    """docs/day30_from_csv.py reads only the export CSV and must print the report's day-30 numbers."""
    import subprocess
    import sys

    from bot.export.csv_export import export_csv

    store = await open_existing_store(tmp_path / "bot.sqlite3", VirtualClock(T0))
    try:
        await export_csv(store, tmp_path / "export.csv", *inputs)
    finally:
        await store.close()
    script = Path(__file__).resolve().parents[2] / "docs" / "day30_from_csv.py"
    assert len(script.read_text(encoding="utf-8").splitlines()) <= 32
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "export.csv")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    printed = [line.split(",") for line in done.stdout.splitlines()]
    rows = table(report)
    assert len(printed) == 4 * 3  # standard, experimental, all
    for arm, measure, analysis, count, denominator in printed:
        assert n(rows, arm, "all", "D30", measure, analysis) == (int(count), int(denominator)), (arm, measure, analysis)
