"""Taps per questionnaire kind (stable / bad day, median and p90) and per patient, read from a bot database.

Usage: .venv/bin/python scripts/burden_taps.py data/demo/demo.sqlite3 [--patient DEMO-01]

Why a script: issue 35's figures (docs/clinical/patient-burden.md) must be reproducible from the demo's own
database (`python -m bot demo`), with the same counting as the demo's summary: a tap is a button press or a typed
answer; a multiple choice counts each tick plus "Valider". Answers of the patient only (not phone entries), the last
answer of each item (a correction is one more tap, counted too). A day is "bad" by `bot.sandbox.cohort.bad_day`,
read from the answers alone, so questionnaires of any version are sorted the same way.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
from collections import defaultdict


def _p90(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    from bot.sandbox.cohort import bad_day

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    parser.add_argument("--patient", help="one study id (default: every patient)")
    args = parser.parse_args()
    db = sqlite3.connect(args.database)
    rows = db.execute(
        "SELECT p.study_id, i.id, i.questionnaire_id, i.questionnaire_version, a.item_id, a.value"
        " FROM answers a JOIN instances i ON i.id = a.instance_id JOIN patients p ON p.id = i.patient_id"
        " WHERE a.source = 'patient' ORDER BY a.id"
    ).fetchall()
    taps: dict[tuple[str, int, str, str], int] = defaultdict(int)
    answers: dict[int, dict[str, object]] = defaultdict(dict)
    for study_id, instance_id, qid, version, item_id, raw in rows:
        if args.patient and study_id != args.patient:
            continue
        value = json.loads(raw)
        taps[(study_id, instance_id, qid, version)] += len(value) + 1 if isinstance(value, list) else 1
        answers[instance_id][item_id] = value
    by_kind: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    per_patient: dict[str, int] = defaultdict(int)
    for (study_id, instance_id, qid, version), count in taps.items():
        day = "bad" if bad_day(answers[instance_id]) else "stable"
        by_kind[(qid, version, day)].append(count)
        per_patient[study_id] += count
    print("questionnaire  version  day     n  median  p90")
    for (qid, version, day), counts in sorted(by_kind.items()):
        print(f"{qid:14} {version:8} {day:6} {len(counts):3}  {statistics.median(counts):6g}  {_p90(counts):3}")
    print("taps per patient:", dict(sorted(per_patient.items())))


if __name__ == "__main__":
    main()
