"""Re-compute the report's day-30 figures from the export CSV alone (pandas): python docs/day30_from_csv.py export.csv
Prints arm, measure, analysis, n, denominator, as report.csv (docs/clinical/pain-response.md; tests/export/test_report.py)."""

import sys

import pandas as pd

rows = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
current = rows[(rows.superseded == "false") & rows.item.isin(["pain_worst", "omed_mg"]) & (rows.value != "")]
values = current.pivot_table(index=["study_id", "timepoint"], columns="item", values="value", aggfunc="last")
values = values.apply(pd.to_numeric, errors="coerce")
patients = rows.groupby("study_id").arm.first().to_frame()
for prefix, timepoint in (("b_", "baseline"), ("f_", "D30")):
    if timepoint in values.index.get_level_values("timepoint"):
        patients = patients.join(values.xs(timepoint, level="timepoint").add_prefix(prefix))
bp, bo, fp, fo = (
    patients.get(c, pd.Series(float("nan"), patients.index))
    for c in ("b_pain_worst", "b_omed_mg", "f_pain_worst", "f_omed_mg")
)
inc, red, d = ((bo == 0) & (fo > 0)) | ((bo > 0) & (fo >= 1.25 * bo)), (bo > 0) & (fo <= 0.75 * bo), fp - bp
assessed = (bp >= 2) & bp.notna() & bo.notna() & fp.notna() & fo.notna()
patients["responder"] = assessed & (((fp == 0) & ~inc) | ((d <= -2) & ~inc) | (red & (d <= 0)))
not_better = assessed & ~patients.responder
patients["progression"] = not_better & (((d >= 2) & ~red) | (inc & (d >= -1) & (d <= 1)))
patients["progression_strict"] = not_better & (((d >= 2) & ~red & ~inc) | (inc & (d >= 0) & (d <= 1)))
patients["assessed"] = assessed
for arm, g in [*patients.groupby("arm"), ("all", patients)]:
    print(f"{arm},responders,itt,{g.responder.sum()},{len(g)}")
    print(f"{arm},responders,evaluable,{g.responder.sum()},{g.assessed.sum()}")
    print(f"{arm},progression,evaluable,{g.progression.sum()},{g.assessed.sum()}")
    print(f"{arm},progression,evaluable_strict,{g.progression_strict.sum()},{g.assessed.sum()}")
