"""The telemonitoring report (issue 15) on a small hand-built cohort: every figure matches a count by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.endpoints import wilson_interval
from bot.export.alerts_export import AlertData, AlertFact, FollowupFact, SuppressedFact, csv_lines, fhir_bundle
from bot.report.telemonitoring import Activity, telemonitoring_rows

T0 = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)


def alert(id: int, patient: int, rule: str, severity: str, ack_after_min: float | None) -> AlertFact:
    return AlertFact(
        id=id,
        patient_id=patient,
        rule_id=rule,
        severity=severity,
        title=rule,
        questionnaire="daily",
        timepoint="DD1",
        created_at=T0 + timedelta(hours=id),
        acknowledged_at=None if ack_after_min is None else T0 + timedelta(hours=id, minutes=ack_after_min),
        acknowledged_by=None if ack_after_min is None else 11,
        occurrences=1,
        last_occurrence_at=None,
        fired="{}",
    )


def followup(id: int, alert_id: int, kind: str, code: str, after_min: float) -> FollowupFact:
    return FollowupFact(
        id=id,
        alert_id=alert_id,
        kind=kind,
        code=code,
        recorded_by=11,
        recorded_at=T0 + timedelta(hours=alert_id, minutes=after_min),
    )


# Two patients; three red-flag alerts (acknowledged after 10, 20 and 60 min), two same-day analgesic alerts (one
# acknowledged after 120 min, one still open) and one info alert.
COHORT = AlertData(
    patients={1: ("P-1", "main", "standard"), 2: ("P-2", "main", "experimental")},
    alerts=[
        alert(1, 1, "rf_weakness", "urgent", 10),
        alert(2, 2, "rf_weakness", "urgent", 20),
        alert(3, 2, "rf_numbness", "urgent", 60),
        alert(4, 1, "analgesic_increase", "same_day", 120),
        alert(5, 2, "analgesic_increase", "same_day", None),
        alert(6, 1, "se_fatigue_reported", "info", None),
    ],
    suppressed=[
        SuppressedFact(
            id=1,
            patient_id=1,
            instance_id=9,
            rule_id="analgesic_increase",
            reason="acknowledged",
            previous_alert_id=4,
            created_at=T0 + timedelta(days=1),
            fired="{}",
        ),
        SuppressedFact(
            id=2,
            patient_id=2,
            instance_id=10,
            rule_id="analgesic_increase",
            reason="open",
            previous_alert_id=5,
            created_at=T0 + timedelta(days=1),
            fired="{}",
        ),
        SuppressedFact(
            id=3,
            patient_id=1,
            instance_id=11,
            rule_id="se_fatigue_reported",
            reason="open",
            previous_alert_id=6,
            created_at=T0 + timedelta(days=2),
            fired="{}",
        ),
    ],
    followups=[
        followup(1, 1, "action", "emergency", 30),
        followup(2, 1, "outcome", "cord_compression", 3000),
        followup(3, 2, "action", "called", 40),
        followup(4, 2, "outcome", "cord_compression", 4000),
        followup(5, 2, "outcome", "none", 5000),  # corrected: the newest outcome counts
        followup(6, 3, "action", "imaging", 90),
        followup(7, 3, "outcome", "fracture", 6000),
        followup(8, 4, "action", "analgesics", 130),
    ],
)
ACTIVITY = Activity(questionnaires=20, alerting_instances=frozenset({1, 2, 3}), patient_weeks=4.0)


def figures(scope: str) -> dict[str, object]:
    return {metric: value for s, _, metric, value, _, _ in telemonitoring_rows(COHORT, ACTIVITY) if s == scope}


def test_the_report_matches_a_hand_count() -> None:
    every = figures("all")
    assert (every["alerts"], every["acknowledged"]) == (6, 4)
    assert every["ack_minutes_median"] == 40.0  # 10, 20, 60, 120
    assert every["ack_minutes_p90"] == 120.0
    assert every["action_minutes_median"] == 65.0 and every["action_minutes_p90"] == 130.0  # 30, 40, 90, 130
    assert every["actions"] == 4
    assert (every["outcomes"], every["confirmed"]) == (3, 2)  # alert 2's outcome corrected to "none"
    assert every["ppv"] == round(2 / 3, 4)
    assert every["suppressed"] == 3 and every["suppressed:open"] == 2 and every["suppressed:acknowledged"] == 1
    assert every["alerts_per_patient_week"] == 1.5
    assert every["questionnaires_alerting_fraction"] == 0.15

    urgent = figures("severity:urgent")
    assert (urgent["alerts"], urgent["acknowledged"], urgent["ack_minutes_median"]) == (3, 3, 20.0)
    assert (urgent["outcomes"], urgent["confirmed"], urgent["ppv"]) == (3, 2, round(2 / 3, 4))
    assert urgent["alerts_per_patient_week"] == 0.75
    same_day = figures("severity:same_day")
    assert (same_day["alerts"], same_day["acknowledged"], same_day["suppressed"]) == (2, 1, 2)
    assert same_day["ppv"] == "" and same_day["outcomes"] == 0

    weakness = figures("rule:rf_weakness")
    assert (weakness["alerts"], weakness["confirmed"], weakness["outcomes"]) == (2, 1, 2)
    assert weakness["action:emergency"] == 1 and weakness["action:called"] == 1
    [(low, high)] = [
        (lo, hi)
        for s, _, m, _, lo, hi in telemonitoring_rows(COHORT, ACTIVITY)
        if s == "rule:rf_weakness" and m == "ppv"
    ]
    assert (low, high) == tuple(round(x, 4) for x in wilson_interval(1, 2))
    assert figures("rule:analgesic_increase")["suppressed"] == 2


def test_the_alert_exports_carry_every_record_without_telegram_ids() -> None:
    lines = csv_lines(COHORT)
    assert [line[0] for line in lines].count("alert") == 6
    assert [line[0] for line in lines].count("suppressed") == 3
    assert [line[0] for line in lines].count("outcome") == 4
    assert not any(cell == "11" for line in lines for cell in line)  # the clinician's Telegram id
    assert any("clinician:#1" in line for line in lines)
    bundle = fhir_bundle(COHORT)
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]  # type: ignore[index, union-attr]
    assert kinds.count("Flag") == 6 and kinds.count("Communication") == 8 + 3
