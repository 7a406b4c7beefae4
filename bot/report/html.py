"""`report.html`: one self-contained page (inline CSS, plots as base64 PNG), every value HTML-escaped.

For the trial team and the statistician, so it is in English like the CSV column names; it says which analysis
each rate uses (ITT or evaluable-only) because pain-response.md asks every table to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Final

from bot.clock import utc_iso
from bot.domain.endpoints import RESPONSE_ORDER, ResponseSummary, wilson_interval
from bot.domain.trial import TrialSpec
from bot.services.intercurrent import IntercurrentEvent
from bot.report.metrics import ALL, GroupSummary, ReportPlan, comparison_rows

__all__ = ["render_html"]

_STYLE: Final[str] = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
tr.primary td { font-weight: bold; }
p.note { color: #555; font-size: 0.9em; max-width: 60em; }
"""


def _pct_ci(n: int, denominator: int) -> str:
    """"n/d (p %, 95 % CI a–b)" — or "n/0" when there is no denominator."""
    if denominator == 0:
        return f"{n}/0"
    low, high = wilson_interval(n, denominator)
    return f"{n}/{denominator} ({100 * n / denominator:.1f} %, 95 % CI {100 * low:.1f}–{100 * high:.1f})"


def _group_title(g: GroupSummary) -> str:
    arm = "All arms" if g.arm == ALL else f"Arm {g.arm}"
    site = "all sites" if g.site == ALL else f"site {g.site}"
    return f"{arm}, {site}"


def _summary_table(g: GroupSummary) -> str:
    rows = [
        ("Enrolled", str(g.enrolled)),
        ("Evaluable (baseline worst pain ≥ 2)", _pct_ci(g.evaluable, g.enrolled)),
        ("Evaluable with baseline OMED not computable", str(g.baseline_omed_not_computable)),
        ("Pain flare (among assessable)", _pct_ci(g.flares, g.flare_assessable)),
        ("Unresolved worsening in the flare window", str(g.unresolved_worsening)),
        ("Questionnaires completed", str(g.completed)),
        ("Questionnaires missed", str(g.missed)),
        ("Completion rate (completed / closed)", _pct_ci(g.completed, g.closed)),
    ]
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def _response_cells(s: ResponseSummary) -> list[str]:
    cells = [_pct_ci(s.count(c), s.n_evaluable) for c in RESPONSE_ORDER]
    cells.append(str(s.n_missing))
    cells.append(str(s.n_not_evaluable))
    cells.append(_pct_ci(s.responders, s.n_itt))
    cells.append(_pct_ci(s.responders, s.n_evaluable))
    return cells


def _comparison(groups: Sequence[GroupSummary], plan: ReportPlan, trial: TrialSpec | None) -> str:
    """The between-arm difference at the primary time point, both readings, and the trial file's margin."""
    if trial is None:
        return ""
    rows = comparison_rows(groups, plan, trial)
    differences = [r for r in rows if r[3] == "responders_difference"]
    c = trial.comparison
    text = (f"<h2>Between arms at {escape(plan.primary or '')}</h2><p>Primary reading of the consensus: "
            f"<b>{escape(trial.primary_reading)}</b> (questionnaires/trial.yaml). Responders, "
            f"{escape(c.experimental_arm)} − {escape(c.reference_arm)}, in percentage points, Newcombe hybrid score "
            f"95 % CI (Stat Med 1998;17:873-890). Non-inferiority margin: −{100 * c.non_inferiority_margin:.1f} "
            f"points ({escape(c.margin_source)})</p>")
    if not differences:
        return text + "<p>Both arms are needed for a difference.</p>"
    body = "".join(
        f"<tr><td>{escape(r[4])}</td><td>{escape(r[7])}</td><td>{escape(r[8])} to {escape(r[9])}</td></tr>"
        for r in differences
    )
    return text + ("<table><thead><tr><th>Analysis</th><th>Difference</th><th>95 % CI</th></tr></thead>"
                   f"<tbody>{body}</tbody></table>")


def _response_table(g: GroupSummary, plan: ReportPlan, strict: bool = False) -> str:
    headers = ["Time point", *(c.value.capitalize() for c in RESPONSE_ORDER), "Missing", "Not evaluable",
               "Responders (ITT)", "Responders (evaluable)"]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for label in plan.followups:
        primary = label == plan.primary
        name = f"{label} (primary)" if primary else label
        summary = (g.responses_strict if strict else g.responses)[label]
        cells = "".join(f"<td>{escape(c)}</td>" for c in [name, *_response_cells(summary)])
        body.append(f'<tr class="primary">{cells}</tr>' if primary else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _events(events: Sequence[IntercurrentEvent]) -> str:
    """Intercurrent events recorded by clinicians (/event), per patient."""
    if not events:
        return "<h2>Intercurrent events</h2><p>None recorded.</p>"
    body = "".join(
        f"<tr><td>{escape(e.study_id)}</td><td>{escape(e.occurred_on.isoformat())}</td><td>{escape(e.kind)}</td>"
        f"<td>{escape(e.note or '')}</td></tr>"
        for e in events
    )
    return ("<h2>Intercurrent events</h2><table><thead><tr><th>Patient</th><th>Date</th><th>Event</th>"
            f"<th>Note</th></tr></thead><tbody>{body}</tbody></table>")


def render_html(groups: Sequence[GroupSummary], plan: ReportPlan, plot_png: str, *, generated: datetime,
                table: str, trial: TrialSpec | None = None, events: Sequence[IntercurrentEvent] = ()) -> str:
    """The whole page."""
    sections = [_comparison(groups, plan, trial)]
    for g in groups:
        sections.append(
            f"<h2>{escape(_group_title(g))}</h2>"
            f"{_summary_table(g)}"
            f"<h3>Pain response (project's reading)</h3>{_response_table(g, plan)}"
            + (f"<h3>Pain response (strict reading)</h3>{_response_table(g, plan, strict=True)}"
               if g.responses_strict else "")
        )
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
<p class="note">Pain response: International Bone Metastases Consensus (Chow E. et al., Int J Radiat Oncol Biol Phys
2012;82(5):1730-1737), categories among evaluable patients assessed at that time point. Responders = complete +
partial; ITT counts every enrolled patient, non-evaluable and missing ones as non-responders; the evaluable
analysis counts only assessed evaluable patients. Pain flare: Hird A. et al., Int J Radiat Oncol Biol Phys
2009;75(1):193-197, from the daily diary with daily OMED. 95 % CI: Wilson score interval. Two readings of the
progression category (docs/clinical/pain-response.md): the project's counts a rise of 2 or more with an analgesic
increase, and a fall of 1 with an analgesic increase, as progression; the strict one as indeterminate.</p>
<img alt="Mean worst pain by study day and arm" src="data:image/png;base64,{plot_png}">
{''.join(sections)}
{_events(events)}
</body>
</html>
"""
