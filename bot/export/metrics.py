"""Trial-report numbers, as pure functions over a `Dataset` snapshot (no I/O, no plotting).

What is counted, and why this way (clinical definitions: `docs/clinical/pain-response.md`, implemented in
`bot.domain.endpoints`, which this module only feeds):
- baseline = the baseline instance's current `pain_worst` and the OMED of its regimen; evaluable = baseline worst
  pain ≥ 2 (`is_evaluable`);
- a follow-up (D15, D30 primary, D60, D90 — read from the schedule, not hard-coded) is *assessed* when that
  instance has a worst-pain score and a computable OMED and the baseline OMED is computable; otherwise it is
  missing (an unconverted opioid such as methadone makes the OMED, hence the category, unknowable — counted
  separately as `baseline_omed_not_computable`, never guessed);
- categories, responders and both denominators (ITT, evaluable-only) come from `summarise_responses`, Wilson 95 %
  intervals from `wilson_interval`;
- pain flare (Hird 2009): `detect_pain_flare` over the daily diary, each day with that day's worst pain and that
  day's OMED; a patient is assessable when baseline pain and OMED are known and at least one diary day has both;
- completion rate = completed / (completed + missed): only instances whose window is over count, so an open
  questionnaire neither helps nor hurts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from bot.domain.endpoints import (
    PAIN_SCALE_MAX,
    PAIN_SCALE_MIN,
    RESPONSE_ORDER,
    DiaryDay,
    FlareResult,
    PainResponse,
    ResponseSummary,
    detect_pain_flare,
    is_evaluable,
    newcombe_difference,
    pain_response,
    summarise_responses,
    wilson_interval,
)
from bot.domain.models import ARMS, Instance, Patient
from bot.domain.omed import OmedResult, OpioidCatalogue
from bot.domain.questionnaire import MARKERS, Questionnaire, Value
from bot.domain.schedule import ScheduleSpec, fraction_days
from bot.domain.trial import TrialSpec
from bot.export.dataset import Dataset, instance_omeds

__all__ = [
    "PAIN_ITEM",
    "ALL",
    "BASELINE_PLOT_DAY",
    "REPORT_COLUMNS",
    "ReportPlan",
    "PatientOutcome",
    "GroupSummary",
    "patient_outcome",
    "outcomes",
    "summarise_group",
    "group_keys",
    "summaries",
    "report_rows",
    "comparison_rows",
    "STRICT_SUFFIX",
    "mean_pain_by_day",
]

log = logging.getLogger(__name__)

PAIN_ITEM: Final[str] = "pain_worst"
"""Worst pain in the last 24 h at the treated site, 0–10 (pain-response.md, "Inputs")."""
ALL: Final[str] = "all"
"""Arm or site value of a pooled group."""
BASELINE_PLOT_DAY: Final[int] = -1
"""Where the baseline (before day 0, no study day) is drawn on the study-day axis of the plot."""
REPORT_COLUMNS: Final[tuple[str, ...]] = (
    "arm",
    "site",
    "timepoint",
    "measure",
    "analysis",
    "n",
    "denominator",
    "percent",
    "ci95_low",
    "ci95_high",
)


@dataclass(frozen=True)
class ReportPlan:
    """Which instances play which role, read from the protocol schedule so a trial with other time points works."""

    baseline_timepoint: str
    daily_questionnaire: str
    followups: tuple[str, ...]
    primary: str | None

    @classmethod
    def from_schedule(cls, spec: ScheduleSpec) -> ReportPlan:
        labels = tuple(spec.followups.label.format(day=tp.day) for tp in spec.followups.timepoints)
        primary = next(
            (spec.followups.label.format(day=tp.day) for tp in spec.followups.timepoints if tp.primary), None
        )
        return cls(spec.baseline.label, spec.daily.questionnaire, labels, primary)


@dataclass(frozen=True)
class PatientOutcome:
    """Everything the report needs about one patient."""

    study_id: str
    site: str
    arm: str
    baseline_pain: int | None
    baseline_omed: float | None
    evaluable: bool
    responses: Mapping[str, PainResponse | None]
    """Follow-up timepoint → category, or None when missing / not assessable (evaluable patients only): the
    project's reading of the consensus."""
    flare: FlareResult | None
    """None when the flare cannot be assessed (no baseline pain or OMED, or no complete diary day)."""
    completed: int
    missed: int
    pain_points: tuple[tuple[int, int], ...]
    """(study day, worst pain) of every answered instance, for the plot; the baseline at BASELINE_PLOT_DAY."""
    responses_strict: Mapping[str, PainResponse | None] = field(default_factory=dict)
    """The same with the strict reading (`bot.domain.endpoints.Reading`)."""
    caregiver_timepoints: frozenset[str] = frozenset()
    """Follow-up time points whose worst pain a caregiver gave (issue 36: analysed with and without them)."""

    @property
    def baseline_omed_missing(self) -> bool:
        return self.evaluable and self.baseline_omed is None


def _pain(value: Value | None, where: str) -> int | None:
    """A stored worst-pain answer as a 0–10 int; anything else (skipped, unknown, corrupt) is a missing score."""
    if value is None or (isinstance(value, str) and value in MARKERS):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not PAIN_SCALE_MIN <= value <= PAIN_SCALE_MAX:
        log.warning("%s: worst pain %r is not a 0-10 score; counted as missing", where, value)
        return None
    return value


def _mg(result: OmedResult | None) -> float | None:
    return result.mg if result is not None else None


def patient_outcome(
    patient: Patient, dataset: Dataset, omeds: Mapping[int, OmedResult], plan: ReportPlan
) -> PatientOutcome:
    """The patient's baseline, follow-up categories, flare and questionnaire counts."""
    history = dataset.answered_history(patient.id)
    by_timepoint: dict[str, tuple[Instance, dict[str, Value | None]]] = {i.timepoint: (i, a) for i, a in history}

    baseline_pain: int | None = None
    baseline_omed: float | None = None
    if plan.baseline_timepoint in by_timepoint:
        inst, answers = by_timepoint[plan.baseline_timepoint]
        baseline_pain = _pain(answers.get(PAIN_ITEM), f"{patient.study_id}/{inst.timepoint}")
        baseline_omed = _mg(omeds.get(inst.id))
    evaluable = is_evaluable(baseline_pain)

    responses: dict[str, PainResponse | None] = {}
    responses_strict: dict[str, PainResponse | None] = {}
    by_caregiver: set[str] = set()
    if evaluable:
        for label in plan.followups:
            category: PainResponse | None = None
            strict: PainResponse | None = None
            if label in by_timepoint and baseline_pain is not None and baseline_omed is not None:
                inst, answers = by_timepoint[label]
                pain = _pain(answers.get(PAIN_ITEM), f"{patient.study_id}/{label}")
                omed = _mg(omeds.get(inst.id))
                if pain is not None and omed is not None:
                    row = dataset.current_rows(inst.id).get(PAIN_ITEM)
                    if row is not None and row.caregiver is not None:
                        by_caregiver.add(label)
                    category = pain_response(baseline_pain, baseline_omed, pain, omed)
                    strict = pain_response(baseline_pain, baseline_omed, pain, omed, reading="strict")
            responses[label] = category
            responses_strict[label] = strict

    flare: FlareResult | None = None
    if baseline_pain is not None and baseline_omed is not None:
        diary = [
            DiaryDay(
                inst.study_day,
                _pain(answers.get(PAIN_ITEM), f"{patient.study_id}/{inst.timepoint}"),
                _mg(omeds.get(inst.id)),
            )
            for inst, answers in history
            if inst.questionnaire_id == plan.daily_questionnaire and inst.study_day is not None
        ]
        if any(day.worst_pain is not None and day.omed is not None for day in diary):
            last_fraction = patient.last_fraction_on or fraction_days(patient.rt_start, patient.fractions)[-1]
            last_fraction_day = (last_fraction - patient.rt_start).days  # the recorded one first (/fraction)
            flare = detect_pain_flare(baseline_pain, baseline_omed, diary, last_fraction_day=last_fraction_day)

    points: list[tuple[int, int]] = []
    for inst, answers in history:
        pain = _pain(answers.get(PAIN_ITEM), f"{patient.study_id}/{inst.timepoint}")
        if pain is None:
            continue
        day = inst.study_day if inst.study_day is not None else BASELINE_PLOT_DAY
        points.append((day, pain))

    statuses = [inst.status for inst in dataset.instances_of(patient.id)]
    return PatientOutcome(
        study_id=patient.study_id,
        site=patient.site_code,
        arm=patient.arm,
        baseline_pain=baseline_pain,
        baseline_omed=baseline_omed,
        evaluable=evaluable,
        responses=responses,
        flare=flare,
        completed=statuses.count("completed"),
        missed=statuses.count("missed"),
        pain_points=tuple(points),
        responses_strict=responses_strict,
        caregiver_timepoints=frozenset(by_caregiver),
    )


def outcomes(
    dataset: Dataset,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    plan: ReportPlan,
    *,
    table: str | None = None,
) -> Iterable[PatientOutcome]:
    """One outcome per patient, lazily (so a caller can show progress)."""
    for patient in dataset.patients:
        omeds = instance_omeds(dataset, patient.id, questionnaires, catalogue, table)
        yield patient_outcome(patient, dataset, omeds, plan)


@dataclass(frozen=True)
class GroupSummary:
    """The report's numbers for one arm × site group (either may be ALL)."""

    arm: str
    site: str
    enrolled: int
    evaluable: int
    baseline_omed_not_computable: int
    responses: Mapping[str, ResponseSummary]
    flare_assessable: int
    flares: int
    unresolved_worsening: int
    completed: int
    missed: int
    responses_strict: Mapping[str, ResponseSummary] = field(default_factory=dict)
    """`responses` with the strict reading of the consensus."""
    responses_patient_only: Mapping[str, ResponseSummary] = field(default_factory=dict)
    """`responses` with every caregiver's answer counted as missing (issue 36: the sensitivity analysis)."""
    from_caregiver: Mapping[str, int] = field(default_factory=dict)
    """Follow-up time point → assessed end points a caregiver gave."""

    @property
    def closed(self) -> int:
        """Questionnaires whose window is over (completed or missed): the completion-rate denominator."""
        return self.completed + self.missed


def summarise_group(arm: str, site: str, members: Sequence[PatientOutcome], plan: ReportPlan) -> GroupSummary:
    """Counts and rates for a group of patients."""
    not_evaluable = sum(1 for m in members if not m.evaluable)
    responses = {
        label: summarise_responses(
            [m.responses.get(label) for m in members if m.evaluable],
            n_enrolled=len(members),
            n_not_evaluable=not_evaluable,
        )
        for label in plan.followups
    }
    responses_strict = {
        label: summarise_responses(
            [m.responses_strict.get(label) for m in members if m.evaluable],
            n_enrolled=len(members),
            n_not_evaluable=not_evaluable,
        )
        for label in plan.followups
    }
    responses_patient_only = {
        label: summarise_responses(
            [None if label in m.caregiver_timepoints else m.responses.get(label) for m in members if m.evaluable],
            n_enrolled=len(members),
            n_not_evaluable=not_evaluable,
        )
        for label in plan.followups
    }
    from_caregiver = {
        label: sum(1 for m in members if m.evaluable and label in m.caregiver_timepoints and m.responses.get(label))
        for label in plan.followups
    }
    assessable = [m for m in members if m.flare is not None]
    return GroupSummary(
        arm=arm,
        site=site,
        enrolled=len(members),
        evaluable=len(members) - not_evaluable,
        baseline_omed_not_computable=sum(1 for m in members if m.baseline_omed_missing),
        responses=responses,
        flare_assessable=len(assessable),
        flares=sum(1 for m in assessable if m.flare is not None and m.flare.flare),
        unresolved_worsening=sum(1 for m in assessable if m.flare is not None and m.flare.unresolved_worsening),
        completed=sum(m.completed for m in members),
        missed=sum(m.missed for m in members),
        responses_strict=responses_strict,
        responses_patient_only=responses_patient_only,
        from_caregiver=from_caregiver,
    )


def _arm_order(arm: str) -> tuple[int, str]:
    return (ARMS.index(arm) if arm in ARMS else len(ARMS), arm)


def group_keys(members: Sequence[PatientOutcome]) -> list[tuple[str, str]]:
    """(arm, site) groups in report order: each arm by site then the arm pooled, then everyone pooled."""
    keys: list[tuple[str, str]] = []
    for arm in sorted({m.arm for m in members}, key=_arm_order):
        for site in sorted({m.site for m in members if m.arm == arm}):
            keys.append((arm, site))
        keys.append((arm, ALL))
    keys.append((ALL, ALL))
    return keys


def summaries(members: Sequence[PatientOutcome], plan: ReportPlan) -> list[GroupSummary]:
    """Every group's summary, in `group_keys` order."""
    result = []
    for arm, site in group_keys(members):
        chosen = [m for m in members if arm in (ALL, m.arm) and site in (ALL, m.site)]
        result.append(summarise_group(arm, site, chosen, plan))
    return result


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _row(
    g: GroupSummary, timepoint: str, measure: str, analysis: str, n: int, denominator: int | None, ci: bool = False
) -> tuple[str, ...]:
    """One tidy line; percent (and the Wilson 95 % interval when `ci`) of n over the denominator."""
    if denominator is None:
        return (g.arm, g.site, timepoint, measure, analysis, str(n), "", "", "", "")
    percent = _pct(n / denominator) if denominator else ""
    low, high = wilson_interval(n, denominator) if ci and denominator else (None, None)
    return (g.arm, g.site, timepoint, measure, analysis, str(n), str(denominator), percent, _pct(low), _pct(high))


STRICT_SUFFIX: Final[str] = "_strict"
"""Suffix of the `analysis` of rows computed with the strict reading ("itt_strict", "evaluable_strict"); rows
without it use the project's reading. `trial.yaml` says which is primary (the "primary_reading" row)."""


PATIENT_ONLY_SUFFIX: Final[str] = "_patient_only"
"""Suffix of the `analysis` of rows computed with every caregiver's answer counted as missing (issue 36;
docs/clinical/caregivers.md): the sensitivity analysis of the proxy reports."""
PATIENT_ONLY: Final[str] = "evaluable" + PATIENT_ONLY_SUFFIX


def comparison_rows(groups: Sequence[GroupSummary], plan: ReportPlan, trial: TrialSpec) -> list[tuple[str, ...]]:
    """The between-arm difference in responders at the primary time point (experimental − reference), both
    analyses and both readings, with the Newcombe 95 % interval, and the non-inferiority margin of the trial file.
    `percent` is the difference in percentage points; `n`/`denominator` are left empty."""
    if plan.primary is None:
        return []
    c = trial.comparison
    pooled = {g.arm: g for g in groups if g.site == ALL and g.arm != ALL}
    label = f"{c.experimental_arm}-{c.reference_arm}"
    margin = _pct(c.non_inferiority_margin)
    rows: list[tuple[str, ...]] = [
        (label, ALL, plan.primary, "primary_reading", trial.primary_reading, "", "", "", "", ""),
        (label, ALL, plan.primary, "non_inferiority_margin", "", "", "", margin, "", ""),
    ]
    experimental, reference = pooled.get(c.experimental_arm), pooled.get(c.reference_arm)
    if experimental is None or reference is None:
        return rows
    for suffix, attribute in (("", "responses"), (STRICT_SUFFIX, "responses_strict")):
        e = getattr(experimental, attribute)[plan.primary]
        r = getattr(reference, attribute)[plan.primary]
        for analysis, (n_e, d_e, n_r, d_r) in (
            ("itt", (e.responders, e.n_itt, r.responders, r.n_itt)),
            ("evaluable", (e.responders, e.n_evaluable, r.responders, r.n_evaluable)),
        ):
            result = newcombe_difference(n_e, d_e, n_r, d_r)
            cells = ("", "", "") if result is None else tuple(_pct(v) for v in result)
            rows.append((label, ALL, plan.primary, "responders_difference", analysis + suffix, "", "", *cells))
    return rows


def report_rows(
    groups: Sequence[GroupSummary], plan: ReportPlan, trial: TrialSpec | None = None
) -> list[tuple[str, ...]]:
    """The tidy table of `report.csv` (columns `REPORT_COLUMNS`); percentages are 0–100. Each follow-up gives the
    project's reading and the strict one (`STRICT_SUFFIX`); with `trial`, the between-arm comparison follows."""
    rows: list[tuple[str, ...]] = []
    for g in groups:
        rows.append(_row(g, "", "enrolled", "", g.enrolled, None))
        rows.append(_row(g, "", "evaluable", "", g.evaluable, g.enrolled))
        rows.append(_row(g, "", "baseline_omed_not_computable", "", g.baseline_omed_not_computable, g.evaluable))
        for label in plan.followups:
            s = g.responses[label]
            for category in RESPONSE_ORDER:
                rows.append(_row(g, label, category.value, "evaluable", s.count(category), s.n_evaluable, ci=True))
            rows.append(_row(g, label, "missing", "evaluable", s.n_missing, s.n_missing + s.n_evaluable))
            rows.append(_row(g, label, "not_evaluable", "itt", s.n_not_evaluable, s.n_itt))
            rows.append(_row(g, label, "responders", "itt", s.responders, s.n_itt, ci=True))
            rows.append(_row(g, label, "responders", "evaluable", s.responders, s.n_evaluable, ci=True))
            p = g.responses_patient_only.get(label)
            if p is not None:  # issue 36: who gave the end point, and the result without the caregivers' answers
                assessed = s.n_evaluable
                rows.append(
                    _row(g, label, "answered_by_caregiver", "evaluable", g.from_caregiver.get(label, 0), assessed)
                )
                rows.append(_row(g, label, "missing", PATIENT_ONLY, p.n_missing, p.n_missing + p.n_evaluable))
                rows.append(_row(g, label, "responders", "itt" + PATIENT_ONLY_SUFFIX, p.responders, p.n_itt, ci=True))
                rows.append(_row(g, label, "responders", PATIENT_ONLY, p.responders, p.n_evaluable, ci=True))
            t = g.responses_strict.get(label)
            if t is not None:
                for category in RESPONSE_ORDER:
                    rows.append(
                        _row(
                            g,
                            label,
                            category.value,
                            "evaluable" + STRICT_SUFFIX,
                            t.count(category),
                            t.n_evaluable,
                            ci=True,
                        )
                    )
                rows.append(_row(g, label, "responders", "itt" + STRICT_SUFFIX, t.responders, t.n_itt, ci=True))
                rows.append(
                    _row(g, label, "responders", "evaluable" + STRICT_SUFFIX, t.responders, t.n_evaluable, ci=True)
                )
        rows.append(_row(g, "", "pain_flare", "", g.flares, g.flare_assessable, ci=True))
        rows.append(_row(g, "", "unresolved_worsening", "", g.unresolved_worsening, g.flare_assessable))
        rows.append(_row(g, "", "questionnaires_completed", "", g.completed, None))
        rows.append(_row(g, "", "questionnaires_missed", "", g.missed, None))
        rows.append(_row(g, "", "completion_rate", "", g.completed, g.closed, ci=True))
    if trial is not None:
        rows.extend(comparison_rows(groups, plan, trial))
    return rows


def mean_pain_by_day(members: Iterable[PatientOutcome]) -> dict[str, list[tuple[int, float, int]]]:
    """arm → [(study day, mean worst pain, number of patients)] sorted by day, for the plot."""
    values: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for m in members:
        for day, pain in m.pain_points:
            values[m.arm][day].append(pain)
    return {
        arm: [(day, sum(v) / len(v), len(v)) for day, v in sorted(days.items())]
        for arm, days in sorted(values.items(), key=lambda kv: _arm_order(kv[0]))
    }
