"""A cohort built through the bot, exported with the real command line, read back (issue #6)."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pg_support
from harness import Bench, answer_all, give

ROOT = Path(__file__).resolve().parents[2]


def cli(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "CLINICIAN_"))}
    # In the PostgreSQL pass the bench's file stands for a PostgreSQL database: the child gets its URL.
    env.update(BOT_DATABASE=pg_support.database_setting(database), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=120)


async def test_every_stored_answer_is_exported_exactly_once_and_the_fhir_bundle_validates(bench: Bench) -> None:
    first = await bench.join(5001, "X-001", date(2027, 3, 3), "arm=experimental", "site=LYON")
    await answer_all(
        bench,
        first,
        {
            "pain_worst": 7,
            "bg_taking": "yes",
            "bg_product": "skenan",
            "bg_dose": 30,
            "bg_per_day": 2,
        },
    )
    await bench.clinician_says("/send X-001 baseline_more")  # issue 35: the baseline's second part, pushed now
    await answer_all(bench, first, {"message_team": "Merci"})
    await bench.clinician_says("/send X-001 followup")
    await give(bench, first, 4)
    await bench.press(first, "↩️ Modifier ma réponse précédente")
    await give(bench, first, 2)  # a correction: two rows, one superseded
    await answer_all(bench, first, {"analgesic_same": "yes"})
    second = await bench.join(5002, "X-002", date(2027, 3, 4), "fractions=5")
    await answer_all(bench, second)
    await bench.clinician_says("/send X-002 daily")
    await give(bench, second, 5)  # left in progress
    await bench.stop_bot()

    stored = (
        sqlite3.connect(bench.database)
        .execute(
            "SELECT p.study_id, a.instance_id, a.item_id, a.value, a.answered_at FROM answers a"
            " JOIN instances i ON i.id = a.instance_id JOIN patients p ON p.id = i.patient_id"
        )
        .fetchall()
    )
    assert len(stored) > 70  # the shorter questionnaires of issue 35 (80 before)

    out = bench.tmp_path / "answers.csv"
    result = cli(bench.database, "export", "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    answer_lines = [l for l in lines if l["derivation"] == ""]
    exported = sorted((l["study_id"], int(l["instance"]), l["item"], l["answered_at"]) for l in answer_lines)
    assert exported == sorted((s, i, item, at) for s, i, item, _, at in stored)  # each exactly once
    pain = [
        l
        for l in answer_lines
        if l["study_id"] == "X-001" and l["timepoint"].startswith("X") and l["item"] == "pain_worst"
    ]
    assert [(l["value"], l["superseded"]) for l in pain] == [("4", "true"), ("2", "false")]
    omed = [l for l in lines if l["item"] == "omed_mg" and l["study_id"] == "X-001"]
    assert omed and omed[0]["value"] in ("60", "60.0") and omed[0]["derivation"] == "omed:fr_sor@1.1"
    text = out.read_text(encoding="utf-8")
    assert "5001" not in text and "Jeanne" not in text  # no Telegram id or name

    bundle_path = bench.tmp_path / "bundle.json"
    result = cli(bench.database, "export", "--format", "fhir", "--out", str(bundle_path))
    assert result.returncode == 0, result.stderr
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    responses = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    answered_instances = {i for _, i, _, _, _ in stored}
    assert len(responses) == len(answered_instances)
    assert {r["status"] for r in responses} == {"completed", "in-progress"}
    assert "5001" not in bundle_path.read_text(encoding="utf-8")

    audit = bench.tmp_path / "audit.csv"
    assert cli(bench.database, "export", "--format", "audit", "--out", str(audit)).returncode == 0
    report = cli(bench.database, "report", "--out", str(bench.tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert (bench.tmp_path / "report" / "report.html").stat().st_size > 1000

    bad = cli(bench.database, "export", "--format", "xml", "--out", str(out))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    missing = cli(bench.tmp_path / "nope.sqlite3", "export", "--format", "csv", "--out", str(out))
    assert missing.returncode == 2 and not (bench.tmp_path / "nope.sqlite3").exists()
    await bench.start_bot()  # the fixture stops it again


async def test_the_patients_own_messages_are_exported_and_shown_in_patient(bench: Bench) -> None:
    """Issue 39, item 2: patient_messages (append-only) reach the CSV exports (formulas neutralised), the FHIR
    bundle (validated Communication resources) and the clinicians' /patient, by study id, never a Telegram id."""
    from bot.export import export
    from bot.export.fhir_export import validate_bundle

    services = bench.services
    assert services is not None
    patient = await bench.join(8801, "P-MSG", date(2027, 3, 3))
    await answer_all(bench, patient)
    await bench.patient_says(patient, '=HYPERLINK("http://evil","clic") bonjour, j\'ai une question')
    await bench.patient_says(patient, "je ne sens plus mes jambes depuis ce matin")
    stored = sqlite3.connect(bench.database).execute("SELECT text, flags FROM patient_messages ORDER BY id").fetchall()
    assert len(stored) == 2 and stored[1][1] != "[]", stored  # the second one is a red flag

    out = bench.tmp_path / "messages.csv"
    assert await export("messages", services.store, out, services.questionnaires, services.opioids) == 2
    raw = out.read_text(encoding="utf-8")
    with out.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["study_id"] for line in lines] == ["P-MSG", "P-MSG"]
    assert lines[0]["text"].startswith("'=HYPERLINK")  # neutralised as in the other CSV files
    assert lines[1]["flags"] and lines[1]["kind"] == "text" and lines[1]["received_at"].endswith("Z")
    assert "8801" not in raw  # neither the Telegram user nor the chat id

    fhir = bench.tmp_path / "bundle.json"
    await export("fhir", services.store, fhir, services.questionnaires, services.opioids)
    bundle = json.loads(fhir.read_text(encoding="utf-8"))
    validate_bundle(bundle)
    communications = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication"]
    assert [c["payload"][0]["contentString"] for c in communications] == [text for text, _ in stored]
    assert all(c["subject"]["identifier"]["value"] == "P-MSG" for c in communications)
    assert communications[1]["extension"][0]["valueCode"] in json.loads(stored[1][1])
    assert "8801" not in fhir.read_text(encoding="utf-8")

    await bench.clinician_says("/patient P-MSG")
    caption = bench.group_messages()[-1].caption or ""
    assert "Derniers messages du patient" in caption, caption
    assert "🚩" in caption and "jambes" in caption and "HYPERLINK" in caption
