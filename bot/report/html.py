"""`report.html`: one self-contained page (inline CSS, plots as base64 PNG), every value HTML-escaped.

For the trial team and the statistician, so it is in English like the CSV column names; it says which analysis
each rate uses (ITT or evaluable-only) because pain-response.md asks every table to.

Layout (issue 39): the primary end point per arm (responders / patients, proportion, Wilson 95 % CI in its own
column) and the difference between arms lead; the methods, the plot, the pooled arms, each site (folded in
<details>) and the intercurrent events follow. The numbers are those of report.csv; only its ids become labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Final

from bot.clock import utc_iso
from bot.domain.endpoints import RESPONSE_ORDER, ResponseSummary, wilson_interval
from bot.domain.trial import TrialSpec
from bot.export.metrics import ALL, GroupSummary, ReportPlan, comparison_rows
from bot.services.intercurrent import IntercurrentEvent

__all__ = ["render_html"]

_STYLE: Final[str] = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
tr.primary td { font-weight: bold; }
table.labels td:nth-child(2), table.labels th:nth-child(2) { text-align: left; }
p.note { color: #555; font-size: 0.9em; max-width: 60em; }
details { margin: 0.5em 0; } summary { cursor: pointer; font-weight: bold; }
"""


ANALYSIS_LABELS: Final[dict[str, str]] = {
    "itt": "Intention to treat",
    "evaluable": "Evaluable patients only",
    "itt_strict": "Intention to treat (strict reading)",
    "evaluable_strict": "Evaluable patients only (strict reading)",
}
"""Human labels for the CSV's `analysis` ids: the page is read by the trial team, the ids are for the script."""


def _count(n: int, denominator: int) -> str:
    """ "n/d (p %)", without its interval (that has a column of its own) — or "n/0"."""
    if denominator == 0:
        return f"{n}/0"
    return f"{n}/{denominator} ({100 * n / denominator:.1f} %)"


def _ci(n: int, denominator: int) -> str:
    """The Wilson 95 % interval of n/d as "a–b" (percent), or "—" without a denominator."""
    if denominator == 0:
        return "—"
    low, high = wilson_interval(n, denominator)
    return f"{100 * low:.1f}–{100 * high:.1f}"


def _arm_name(arm: str) -> str:
    return "All arms" if arm == ALL else f"Arm {arm}"


def _group_title(g: GroupSummary) -> str:
    site = "all sites" if g.site == ALL else f"site {g.site}"
    return f"{_arm_name(g.arm)}, {site}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], primary: Sequence[bool] = (), css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td>{escape(c)}</td>" for c in row)
        body.append(f'<tr class="primary">{cells}</tr>' if i < len(primary) and primary[i] else f"<tr>{cells}</tr>")
    opening = f'<table class="{css}">' if css else "<table>"
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _summary_table(g: GroupSummary) -> str:
    rows = [
        ("Enrolled", str(g.enrolled), ""),
        ("Evaluable (baseline worst pain ≥ 2)", _count(g.evaluable, g.enrolled), _ci(g.evaluable, g.enrolled)),
        ("Evaluable with baseline OMED not computable", str(g.baseline_omed_not_computable), ""),
        ("Pain flare (among assessable)", _count(g.flares, g.flare_assessable), _ci(g.flares, g.flare_assessable)),
        ("Unresolved worsening in the flare window", str(g.unresolved_worsening), ""),
        ("Questionnaires completed", str(g.completed), ""),
        ("Questionnaires missed", str(g.missed), ""),
        ("Completion rate (completed / closed)", _count(g.completed, g.closed), _ci(g.completed, g.closed)),
    ]
    return _table(["Measure", "Value", "95 % CI"], rows)


def _primary_arms(groups: Sequence[GroupSummary], plan: ReportPlan, trial: TrialSpec | None) -> str:
    """The lead table: responders / denominator at the primary time point per arm (then all arms), with the
    proportion and its 95 % CI, for the trial's primary reading, ITT then evaluable-only."""
    if plan.primary is None:
        return ""
    strict = trial is not None and trial.primary_reading == "strict"
    rows, primary = [], []
    for g in [g for g in groups if g.site == ALL]:
        s = (g.responses_strict if strict else g.responses).get(plan.primary)
        if s is None:
            continue
        for analysis, denominator in (("itt", s.n_itt), ("evaluable", s.n_evaluable)):
            rows.append(
                (
                    _arm_name(g.arm),
                    ANALYSIS_LABELS[analysis + ("_strict" if strict else "")],
                    _count(s.responders, denominator),
                    _ci(s.responders, denominator),
                )
            )
            primary.append(analysis == "itt" and g.arm != ALL)
    reading = "strict" if strict else "project's"
    return (
        f"<h2>Primary end point: pain response at {escape(plan.primary)}</h2>"
        f"<p>International consensus pain response (complete + partial), {reading} reading. "
        "Responders / patients, proportion, Wilson 95 % CI.</p>"
        + _table(["Arm", "Analysis", "Responders", "95 % CI (%)"], rows, primary, css="labels")
    )


def _caregivers(groups: Sequence[GroupSummary], plan: ReportPlan) -> str:
    """Issue 36: the share of primary end points a caregiver gave, per arm, and the evaluable-only result without
    them (docs/clinical/caregivers.md); shown only when a caregiver gave one."""
    pooled = [g for g in groups if g.site == ALL]
    if plan.primary is None or not any(g.from_caregiver.get(plan.primary, 0) for g in pooled):
        return ""
    rows = []
    for g in pooled:
        s, p = g.responses.get(plan.primary), g.responses_patient_only.get(plan.primary)
        if s is None or p is None:
            continue
        rows.append(
            (
                _arm_name(g.arm),
                _count(g.from_caregiver.get(plan.primary, 0), s.n_evaluable),
                _count(s.responders, s.n_evaluable),
                _count(p.responders, p.n_evaluable),
            )
        )
    return (
        f"<h2>Answers from caregivers at {escape(plan.primary)}</h2>"
        "<p>End points a caregiver gave (proxy reports, labelled: FDA PRO guidance 2009), and the evaluable "
        "analysis with them and without them (counted as missing).</p>"
        + _table(["Arm", "From a caregiver", "Responders (all answers)", "Responders (patients' own)"], rows)
    )


def _comparison(groups: Sequence[GroupSummary], plan: ReportPlan, trial: TrialSpec | None) -> str:
    """The between-arm difference at the primary time point, both readings (the primary one first), and the trial
    file's margin."""
    if trial is None:
        return ""
    rows = comparison_rows(groups, plan, trial)
    differences = [r for r in rows if r[3] == "responders_difference"]
    if trial.primary_reading == "strict":
        differences.sort(key=lambda r: not r[4].endswith("_strict"))
    c = trial.comparison
    text = (
        f"<h2>Difference between arms at {escape(plan.primary or '')}</h2><p>Primary reading of the consensus: "
        f"<b>{escape(trial.primary_reading)}</b> (questionnaires/trial.yaml). Responders, "
        f"{escape(c.experimental_arm)} − {escape(c.reference_arm)}, in percentage points, Newcombe hybrid score "
        f"95 % CI (Stat Med 1998;17:873-890). Non-inferiority margin: −{100 * c.non_inferiority_margin:.1f} "
        f"points ({escape(c.margin_source)})</p>"
    )
    if not differences:
        return text + "<p>Both arms are needed for a difference.</p>"
    table_rows = [
        (ANALYSIS_LABELS.get(r[4], r[4]), r[7], f"{r[8]} to {r[9]}")
        if r[7]
        else (ANALYSIS_LABELS.get(r[4], r[4]), "—", "not estimable: an arm has no patient in this analysis")
        for r in differences
    ]
    return text + _table(["Analysis", "Difference (points)", "95 % CI (points)"], table_rows, [True])


def _response_table(g: GroupSummary, plan: ReportPlan, strict: bool = False) -> str:
    """Categories per follow-up as "n/d (p %)" (their intervals are in report.csv); responders with their CI in
    the next column."""
    headers = [
        "Time point",
        *(c.value.capitalize() for c in RESPONSE_ORDER),
        "Missing",
        "Not evaluable",
        "Responders (ITT)",
        "95 % CI",
        "Responders (evaluable)",
        "95 % CI",
    ]
    rows, primary = [], []
    for label in plan.followups:
        s: ResponseSummary = (g.responses_strict if strict else g.responses)[label]
        rows.append(
            [
                f"{label} (primary)" if label == plan.primary else label,
                *(_count(s.count(c), s.n_evaluable) for c in RESPONSE_ORDER),
                str(s.n_missing),
                str(s.n_not_evaluable),
                _count(s.responders, s.n_itt),
                _ci(s.responders, s.n_itt),
                _count(s.responders, s.n_evaluable),
                _ci(s.responders, s.n_evaluable),
            ]
        )
        primary.append(label == plan.primary)
    return _table(headers, rows, primary)


def _group_section(g: GroupSummary, plan: ReportPlan) -> str:
    return f"{_summary_table(g)}<h3>Pain response (project's reading)</h3>{_response_table(g, plan)}" + (
        f"<h3>Pain response (strict reading)</h3>{_response_table(g, plan, strict=True)}" if g.responses_strict else ""
    )


def _events(events: Sequence[IntercurrentEvent]) -> str:
    """Intercurrent events recorded by clinicians (/event), per patient."""
    if not events:
        return "<h2>Intercurrent events</h2><p>None recorded.</p>"
    body = "".join(
        f"<tr><td>{escape(e.study_id)}</td><td>{escape(e.occurred_on.isoformat())}</td><td>{escape(e.kind)}</td>"
        f"<td>{escape(e.note or '')}</td></tr>"
        for e in events
    )
    return (
        "<h2>Intercurrent events</h2><table><thead><tr><th>Patient</th><th>Date</th><th>Event</th>"
        f"<th>Note</th></tr></thead><tbody>{body}</tbody></table>"
    )


def render_html(
    groups: Sequence[GroupSummary],
    plan: ReportPlan,
    plot_png: str,
    *,
    generated: datetime,
    table: str,
    trial: TrialSpec | None = None,
    events: Sequence[IntercurrentEvent] = (),
) -> str:
    """The whole page: the primary end point per arm and the difference between arms first, then the plot, the
    pooled arms, each site (folded), the intercurrent events (issue 39: the team looks for the result first)."""
    pooled = [g for g in groups if g.site == ALL]
    by_site = [g for g in groups if g.site != ALL]
    sections = [f"<h2>Details: {escape(_group_title(g))}</h2>{_group_section(g, plan)}" for g in pooled]
    sections += [
        f"<details><summary>{escape(_group_title(g))}</summary>{_group_section(g, plan)}</details>" for g in by_site
    ]
    if by_site:
        sections.insert(len(pooled), "<h2>Details per site</h2>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>spinal-pro-bot trial report</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>spinal-pro-bot trial report</h1>
<p>Generated {escape(utc_iso(generated))} (UTC). OMED conversion table: {escape(table)}.</p>
{_primary_arms(groups, plan, trial)}
{_caregivers(groups, plan)}
{_comparison(groups, plan, trial)}
<h2>Methods</h2>
<p class="note">Pain response: International Bone Metastases Consensus (Chow E. et al., Int J Radiat Oncol Biol Phys
2012;82(5):1730-1737), categories among evaluable patients assessed at that time point. Responders = complete +
partial; ITT counts every enrolled patient, non-evaluable and missing ones as non-responders; the evaluable
analysis counts only assessed evaluable patients. Pain flare: Hird A. et al., Int J Radiat Oncol Biol Phys
2009;75(1):193-197, from the daily diary with daily OMED. 95 % CI: Wilson score interval. Two readings of the
progression category (docs/clinical/pain-response.md): the project's counts a rise of 2 or more with an analgesic
increase, and a fall of 1 with an analgesic increase, as progression; the strict one as indeterminate.</p>
<img alt="Mean worst pain by study day and arm" src="data:image/png;base64,{plot_png}">
{"".join(sections)}
{_events(events)}
</body>
</html>
"""
