"""Clinician records (issue 17): the actual last fraction (/fraction) and intercurrent events (/event), audited,
in the patient table and the trial report."""

from __future__ import annotations

import csv
import sqlite3
from datetime import date, timedelta

from harness import Bench, answer_all

from bot.export import export
from bot.report import build_report


def rows(bench: Bench, sql: str) -> list[tuple[object, ...]]:
    return sqlite3.connect(bench.database).execute(sql).fetchall()


async def test_last_fraction_and_events_are_recorded_audited_exported_and_reported(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    patient = await bench.join(4301, "P-EV1", date(2027, 3, 3), "fractions=5", "arm=experimental", "site=LYON")
    await answer_all(bench, patient, {"pain_worst": 6})
    bench.clock.advance(timedelta(days=12))  # a date in the future is refused; move past the radiotherapy

    await bench.clinician_says("/fraction P-EV1 2027-03-10 delivered=4")
    assert "10/03/2027" in (bench.group_messages()[-1].text or "")
    await bench.clinician_says("/fraction P-EV1 2099-01-01")  # in the future: refused with the usage
    assert "/fraction" in (bench.group_messages()[-1].text or "")
    assert rows(bench, "SELECT last_fraction_on, fractions_delivered FROM patients WHERE study_id = 'P-EV1'") == [
        ("2027-03-10", 4)]

    await bench.clinician_says("/event P-EV1 withdrawal 2027-03-11")  # no reason: refused
    await bench.clinician_says("/event P-EV1 steroids 2027-03-05 dexaméthasone 8 mg")
    await bench.clinician_says("/event P-EV1 nonsense 2027-03-05")
    assert rows(bench, "SELECT kind, occurred_on, note FROM intercurrent_events") == [
        ("steroids", "2027-03-05", "dexaméthasone 8 mg")]
    actions = [a for (a,) in rows(bench, "SELECT action FROM audit_log WHERE action IN"
                                         " ('last_fraction', 'intercurrent_event') ORDER BY id")]
    assert actions == ["last_fraction", "intercurrent_event"]

    out = bench.tmp_path / "patients.csv"
    assert await export("patients", services.store, out, services.questionnaires, services.opioids) == 1
    with out.open(encoding="utf-8", newline="") as handle:
        (line,) = list(csv.DictReader(handle))
    assert (line["arm"], line["site"], line["rt_start"], line["fractions_planned"], line["last_fraction_on"],
            line["fractions_delivered"]) == ("experimental", "LYON", "2027-03-03", "5", "2027-03-10", "4")

    files = await build_report(services.store, bench.tmp_path / "report", services.questionnaires,
                               services.opioids, progress=False, schedule=services.schedule, now=bench.clock.now())
    html = files.html.read_text(encoding="utf-8")
    assert "Intercurrent events" in html and "dexaméthasone 8 mg" in html and "steroids" in html
