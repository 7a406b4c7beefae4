"""The telemonitoring yield (issue 15; NCT06884332's secondary objective): does the bot find the patients who need care?

`telemonitoring.csv`, written next to the trial report by `python -m bot report` and by `python -m bot simulate`:
tidy, one number per line (`scope`, `metric`, `value`, `ci_low`, `ci_high`). Scopes: `all`, `severity:<s>` and
`rule:<id>` (with its severity in `severity`). Per scope:
- `alerts`, `acknowledged`; `ack_minutes_median` / `ack_minutes_p90` (raised → "Pris en charge") and
  `action_minutes_median` / `action_minutes_p90` (raised → first action recorded), nearest-rank p90;
- `actions` (alerts with an action recorded) and `action:<code>` (current action of each alert);
- `outcomes` (alerts with an outcome recorded), `confirmed` (current outcome other than "none",
  `bot.domain.followup.CONFIRMED_OUTCOMES`) and `ppv` = confirmed / outcomes, with a Wilson 95 % interval
  (`bot.domain.endpoints.wilson_interval`); alerts without an outcome are not in the denominator;
- `suppressed` (firings that did not alert) and, for `all`, `suppressed:<reason>`;
- `alerts_per_patient_week` (patient-weeks: for each patient, first to last questionnaire opened, plus one day);
- the ladder of urgent alerts (issue 32, `bot.domain.ladder`), for alerts taken care of whose posts were recorded
  (migration 0011): per rung `<step>` (first, reminder, on_call, patient) the rung an alert had reached when it was
  taken care of, `ack_at_step:<step>` (how many), and the time from that rung's post to "Pris en charge",
  `ack_minutes_from_step:<step>_median` / `_p90`; so a site sees whether its alerts are taken at the first post,
  after reminders, only once the on-call clinicians are named, or only after the patient was told.
For `all` only: `questionnaires` (completed), `questionnaires_alerting` (completed questionnaires that raised at
least one alert) and `questionnaires_alerting_fraction`, and `patient_weeks`.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from bot.domain.endpoints import wilson_interval
from bot.domain.followup import CONFIRMED_OUTCOMES
from bot.domain.ladder import STEPS
from bot.export.alerts_export import AlertData, AlertFact, load_alert_data
from bot.export.dataset import atomic_write
from bot.storage import alerts as alert_repo
from bot.storage import reports as report_repo
from bot.storage.store import Store, Tx

__all__ = [
    "TELEMONITORING_CSV",
    "Activity",
    "build_telemonitoring",
    "load_activity",
    "load_ladders",
    "telemonitoring_rows",
]

TELEMONITORING_CSV: Final[str] = "telemonitoring.csv"
COLUMNS: Final[tuple[str, ...]] = ("scope", "severity", "metric", "value", "ci_low", "ci_high")


@dataclass(frozen=True)
class Activity:
    """What the rates are divided by: completed questionnaires, the alerting ones, and patient-weeks."""

    questionnaires: int
    alerting_instances: frozenset[int]  # completed instances that raised at least one alert
    patient_weeks: float


async def load_activity(tx: Tx) -> Activity:
    opened = await report_repo.opened_instances(tx)
    completed = {i.id for i in opened if i.status == "completed"}
    spans: dict[int, list[datetime]] = defaultdict(list)
    for i in opened:
        spans[i.patient_id].append(i.opens_at)
    weeks = sum(((max(t) - min(t)) + timedelta(days=1)) / timedelta(days=7) for t in spans.values())
    alerting = await report_repo.alerting_instance_ids(tx) & completed
    return Activity(questionnaires=len(completed), alerting_instances=frozenset(alerting), patient_weeks=weeks)


def _p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _minutes(start: datetime, end: datetime) -> float:
    return round((end - start) / timedelta(minutes=1), 1)


#: Per alert, its rungs (step, when posted), oldest first.
Ladders = Mapping[int, Sequence[tuple[str, datetime]]]


def _step_at_ack(alert: AlertFact, ladders: Ladders) -> tuple[str, datetime] | None:
    """The last rung an acknowledged alert reached before it was taken care of (None: no rung recorded)."""
    if alert.acknowledged_at is None:
        return None
    reached = [(step, at) for step, at in ladders.get(alert.id, ()) if at <= alert.acknowledged_at]
    return reached[-1] if reached else None


def _scope_rows(
    scope: str,
    severity: str,
    alerts: list[AlertFact],
    data: AlertData,
    suppressed: int,
    patient_weeks: float,
    ladders: Ladders | None = None,
) -> Iterable[tuple[object, ...]]:
    ids = {a.id for a in alerts}
    first_action: dict[int, datetime] = {}
    current: dict[tuple[int, str], str] = {}
    for f in data.followups:  # id order: the newest of a kind wins
        if f.alert_id in ids:
            current[(f.alert_id, f.kind)] = f.code
            if f.kind == "action":
                first_action.setdefault(f.alert_id, f.recorded_at)
    ack = [_minutes(a.created_at, a.acknowledged_at) for a in alerts if a.acknowledged_at]
    act = [_minutes(a.created_at, first_action[a.id]) for a in alerts if a.id in first_action]
    outcomes = [code for (alert_id, kind), code in current.items() if kind == "outcome"]
    confirmed = sum(code in CONFIRMED_OUTCOMES for code in outcomes)

    def row(metric: str, value: object, ci: tuple[float, float] | None = None) -> tuple[object, ...]:
        return (
            scope,
            severity,
            metric,
            value,
            "" if ci is None else round(ci[0], 4),
            "" if ci is None else round(ci[1], 4),
        )

    yield row("alerts", len(alerts))
    yield row("acknowledged", len(ack))
    for name, values in (("ack_minutes", ack), ("action_minutes", act)):
        yield row(f"{name}_median", statistics.median(values) if values else "")
        yield row(f"{name}_p90", _p90(values) if values else "")
    yield row("actions", len(first_action))
    actions = sorted(code for (alert_id, kind), code in current.items() if kind == "action")
    for code in sorted(set(actions)):
        yield row(f"action:{code}", actions.count(code))
    yield row("outcomes", len(outcomes))
    yield row("confirmed", confirmed)
    yield row("ppv", round(confirmed / len(outcomes), 4) if outcomes else "", wilson_interval(confirmed, len(outcomes)))
    yield row("suppressed", suppressed)
    yield row("alerts_per_patient_week", round(len(alerts) / patient_weeks, 4) if patient_weeks else "")
    if not ladders:
        return
    by_step: dict[str, list[float]] = defaultdict(list)
    for a in alerts:
        reached = _step_at_ack(a, ladders)
        if reached is not None and a.acknowledged_at is not None:
            by_step[reached[0]].append(_minutes(reached[1], a.acknowledged_at))
    for step in STEPS:
        values = by_step.get(step, [])
        if not values:
            continue
        yield row(f"ack_at_step:{step}", len(values))
        yield row(f"ack_minutes_from_step:{step}_median", statistics.median(values))
        yield row(f"ack_minutes_from_step:{step}_p90", _p90(values))


def telemonitoring_rows(
    data: AlertData, activity: Activity, ladders: Ladders | None = None
) -> list[tuple[object, ...]]:
    """The report's lines (pure): `all`, then each severity, then each rule (most alerts first, then by id).
    `ladders`: each alert's rungs (`load_ladders`), for the time to acknowledgement per rung."""
    rows: list[tuple[object, ...]] = []
    rows += _scope_rows("all", "", data.alerts, data, len(data.suppressed), activity.patient_weeks, ladders)
    reasons = sorted({s.reason for s in data.suppressed})
    rows += [("all", "", f"suppressed:{r}", sum(s.reason == r for s in data.suppressed), "", "") for r in reasons]
    rows.append(("all", "", "questionnaires", activity.questionnaires, "", ""))
    rows.append(("all", "", "questionnaires_alerting", len(activity.alerting_instances), "", ""))
    rows.append(
        (
            "all",
            "",
            "questionnaires_alerting_fraction",
            round(len(activity.alerting_instances) / activity.questionnaires, 4) if activity.questionnaires else "",
            "",
            "",
        )
    )
    rows.append(("all", "", "patient_weeks", round(activity.patient_weeks, 2), "", ""))
    severity_of = {a.rule_id: a.severity for a in data.alerts}
    for severity in ("urgent", "same_day", "info"):
        chosen = [a for a in data.alerts if a.severity == severity]
        quiet = sum(severity_of.get(s.rule_id) == severity for s in data.suppressed)
        rows += _scope_rows(f"severity:{severity}", severity, chosen, data, quiet, activity.patient_weeks, ladders)
    counts: dict[str, int] = defaultdict(int)
    for a in data.alerts:
        counts[a.rule_id] += 1
    for s in data.suppressed:
        counts.setdefault(s.rule_id, 0)
    for rule_id in sorted(counts, key=lambda r: (-counts[r], r)):
        chosen = [a for a in data.alerts if a.rule_id == rule_id]
        quiet = sum(s.rule_id == rule_id for s in data.suppressed)
        rows += _scope_rows(
            f"rule:{rule_id}", severity_of.get(rule_id, ""), chosen, data, quiet, activity.patient_weeks, ladders
        )
    return rows


async def load_ladders(tx: Tx) -> dict[int, list[tuple[str, datetime]]]:
    """Every alert's rungs as posted (migration 0011), oldest first."""
    ladders: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for step in await alert_repo.steps_of(tx):
        ladders[step.alert_id].append((step.step, step.at))
    return dict(ladders)


async def build_telemonitoring(store: Store, out_dir: str | Path, name: str = TELEMONITORING_CSV) -> Path:
    """Write `telemonitoring.csv` (or `name`) into `out_dir`, which exists (the trial report made it); its path."""
    async with store.read() as tx:
        data = await load_alert_data(tx)
        activity = await load_activity(tx)
        ladders = await load_ladders(tx)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(telemonitoring_rows(data, activity, ladders))
    path = Path(out_dir) / name
    atomic_write(path, buffer.getvalue())
    return path
