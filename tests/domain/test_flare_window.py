"""The flare window runs to 10 days after the last fraction *as recorded* (/fraction), not only as planned."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.domain.models import Instance, Patient
from bot.domain.omed import load_opioid_catalogue
from bot.domain.questionnaire import load_questionnaires
from bot.domain.schedule import load_schedule
from bot.export.dataset import AnswerRow, Dataset, instance_omeds
from bot.export.metrics import ReportPlan, patient_outcome

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2027, 3, 1, 9, tzinfo=UTC)
RT = date(2027, 3, 1)  # a Monday: 5 fractions planned Mon-Fri, last on day 4, window to day 14


def diary(pains: dict[int, int]) -> tuple[list[Instance], list[AnswerRow]]:
    instances, answers = [], []
    base = {"pain_worst": 4, "bg_taking": "no", "rescue_taking": "no"}
    days: list[tuple[str, str, int | None, dict[str, object]]] = [("baseline", "baseline", None, base)]
    days += [
        ("daily", f"DD{d}", d, {"pain_worst": p, "analgesic_same": "yes", "rescue_doses_24h": 0})
        for d, p in sorted(pains.items())
    ]
    for i, (qid, timepoint, day, given) in enumerate(days, start=1):
        opens = WHEN + timedelta(days=day or 0)
        instances.append(
            Instance(
                i, 1, qid, "1.2", timepoint, day, False, opens, opens, "completed", opens, opens, 0, None, None, None
            )
        )
        for item, value in given.items():
            answers.append(AnswerRow(len(answers) + 1, i, item, value, "", "", False, False))  # type: ignore[arg-type]
    return instances, answers


def test_a_late_last_fraction_extends_the_flare_window() -> None:
    questionnaires = load_questionnaires(ROOT / "questionnaires")
    catalogue = load_opioid_catalogue(ROOT / "questionnaires" / "opioids.yaml")
    plan = ReportPlan.from_schedule(load_schedule())
    patient = Patient(1, "S-1", "LYON", "standard", RT, 5, "active", "matin", WHEN, WHEN)
    # Worse (baseline + 3) on day 15, back to baseline on day 16: outside the planned window (day 14), inside the
    # recorded one (last fraction postponed to day 8: window to day 18).
    instances, answers = diary({15: 7, 16: 4})
    for who, expected in ((patient, False), (replace(patient, last_fraction_on=RT + timedelta(days=8)), True)):
        dataset = Dataset.build([who], instances, answers)
        omeds = instance_omeds(dataset, 1, questionnaires, catalogue)
        outcome = patient_outcome(who, dataset, omeds, plan)
        assert outcome.flare is not None and outcome.flare.flare is expected, who.last_fraction_on
