"""Stamps taken when a questionnaire is sent (issue 17): version and content hash on the instance, the text kept
under that hash; an upgraded questionnaire file does not change what earlier answers say they were asked."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from harness import Bench, answer_all, current_prompt

from bot.domain.questionnaire import canonical_text, content_hash, load_questionnaire
from bot.export.csv_export import CSV_COLUMNS, csv_rows
from bot.export.dataset import load_dataset

ROOT = Path(__file__).resolve().parents[2]


def stamps(bench: Bench) -> list[tuple[str, str, str | None]]:
    connection = sqlite3.connect(bench.database)
    return connection.execute(
        "SELECT questionnaire_id, questionnaire_version, questionnaire_hash FROM instances"
        " WHERE status != 'planned' ORDER BY id"
    ).fetchall()


async def test_an_upgraded_questionnaire_file_does_not_change_what_earlier_answers_were_asked(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    original = services.questionnaires["baseline"]
    patient = await bench.join(4201, "P-ST1", date(2027, 3, 3))
    await answer_all(bench, patient, {"pain_worst": 4})
    assert stamps(bench) == [("baseline", "2.0", content_hash(original))]
    # Planned instances carry no hash: only a sent questionnaire is stamped.
    planned = (
        sqlite3.connect(bench.database)
        .execute("SELECT COUNT(*) FROM instances WHERE status = 'planned' AND questionnaire_hash IS NOT NULL")
        .fetchone()
    )
    assert planned == (0,)

    # The file is upgraded: a new version with a reworded question, loaded as the bot would load it.
    text = (ROOT / "questionnaires" / "baseline.yaml").read_text(encoding="utf-8")
    upgraded_path = bench.tmp_path / "baseline.yaml"
    upgraded_path.write_text(
        text.replace('version: "2.0"', 'version: "2.1"', 1).replace("Quel est ce médicament ?", "Quel médicament ?", 1),
        encoding="utf-8",
    )
    upgraded = load_questionnaire(upgraded_path)
    assert content_hash(upgraded) != content_hash(original)
    services.questionnaires["baseline"] = upgraded  # type: ignore[index]
    second = await bench.join(4202, "P-ST2", date(2027, 3, 3))
    await answer_all(bench, second, {"pain_worst": 5})

    assert stamps(bench) == [("baseline", "2.0", content_hash(original)), ("baseline", "2.1", content_hash(upgraded))]
    kept = (
        sqlite3.connect(bench.database)
        .execute("SELECT version, body FROM questionnaire_texts WHERE hash = ?", (content_hash(original),))
        .fetchone()
    )
    assert kept[0] == "2.0" and kept[1] == canonical_text(original)
    assert (
        "Quel est ce médicament ?"
        in json.loads(kept[1])["items"][[i.id for i in original.items].index("bg_product")]["text"]
    )

    dataset = await load_dataset(services.store)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor"))
    lines = [dict(zip(CSV_COLUMNS, row)) for row in csv.reader(io.StringIO(out.getvalue()))]
    answered = [line for line in lines if line["derivation"] == ""]  # answer rows (not the planned instances)
    by_patient = {(l["study_id"], l["questionnaire_version"], l["questionnaire_hash"]) for l in answered}
    assert by_patient == {("P-ST1", "2.0", content_hash(original)), ("P-ST2", "2.1", content_hash(upgraded))}


async def test_the_version_is_stamped_when_sent_not_when_planned(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    shipped = services.questionnaires["daily"].version
    patient = await bench.join(4203, "P-ST3", date(2027, 3, 3))  # the diaries are planned now, with the shipped daily
    await answer_all(bench, patient, {"pain_worst": 4})
    planned = (
        sqlite3.connect(bench.database)
        .execute("SELECT DISTINCT questionnaire_version FROM instances WHERE questionnaire_id = 'daily'")
        .fetchall()
    )
    assert planned == [(shipped,)]
    text = (ROOT / "questionnaires" / "daily.yaml").read_text(encoding="utf-8")
    path = bench.tmp_path / "daily.yaml"
    path.write_text(text.replace(f'version: "{shipped}"', 'version: "9.9"', 1), encoding="utf-8")
    services.questionnaires["daily"] = load_questionnaire(path)  # type: ignore[index]
    for _ in range(120):
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.questionnaire_id == "daily":
            break
        await bench.advance(timedelta(hours=1))
    assert [s for s in stamps(bench) if s[0] == "daily"] == [
        ("daily", "9.9", content_hash(services.questionnaires["daily"]))
    ]
