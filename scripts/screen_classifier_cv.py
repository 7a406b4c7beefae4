"""Leave-one-set-out cross-validation of the screen's second opinion (the classifier), rules alone vs rules+classifier.

Why: each corpus in docs/clinical/screen-corpora/ was written by a different blind writer, so the honest estimate
of how the classifier does on a NEW writer's words is to train on every other set and score the one left out,
never training on the set scored. Figures follow scripts/screen_metrics.py's conventions (a danger message is
caught at its level or above; specificity counts not-urgent messages left at none or info).

    .venv/bin/python scripts/screen_classifier_cv.py [--predictions DIR] [--json OUT] [--only SET,SET]
        [--thresholds 0.0,0.5,0.7,0.9] [--vetoes 0.9,0.97]

Variants scored per set and pooled: the rules alone; rules + classifier at each threshold (raise-only, the shipped
combination at 0.9); rules + classifier at 0.5 + a veto (the specificity experiment, not shipped); and on the
formal held-out sets D to G the same with the rules as first measured on them (today's rules were tuned on every
set, so only those levels are blind).

The predictions (rules' verdict and the left-out classifier's probabilities per message) are cached per set in the
--predictions folder so the combinations can be re-scored without retraining (20 trainings take 10-40 minutes on a
busy 2-core machine; `--only A,B` computes some folds, e.g. in two processes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.free_text_screen import DEFAULT_VOCABULARY_PATH, load_free_text_vocabulary, screen_severity  # noqa: E402
from bot.domain.screen_classifier import CLASSES, features, load_corpora, train  # noqa: E402
from bot.domain.screen_classifier import probabilities as class_probabilities  # noqa: E402

_FIRST_SIGHT = (
    Path(__file__).resolve().parents[1] / "docs/clinical/screen-corpora/2026-12-07-rules-first-sight-d-to-g.json"
)
"""The rules' levels on held-out sets D to G as first measured (rounds 5 to 8), from their `python -m bot screen
--jsonl` outputs: today's rules were tuned on these sets since, so only these levels are blind."""
_RANK = {"none": 0, "info": 1, "not_urgent": 1, "same_day": 2, "urgent": 3}


def predict(corpora: dict[str, list[dict[str, str]]], cache: Path, only: list[str] | None = None) -> None:
    """For each set (or those in `only`): train on every other set, then write the rules' verdict and the
    classifier's probabilities for each of its messages to `cache`/<set>.json (skipped when already there)."""
    vocabulary = load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)
    ids = {name: [features(row["text"]) for row in rows] for name, rows in corpora.items()}
    cache.mkdir(parents=True, exist_ok=True)
    for name in only or list(corpora):
        rows = corpora[name]
        if (cache / f"{name}.json").exists():
            continue
        started = time.perf_counter()
        train_rows = [row for other, rs in corpora.items() if other != name for row in rs]
        train_ids = [i for other, isets in ids.items() if other != name for i in isets]
        model = train(train_rows, train_ids)
        out = []
        for row in rows:
            severity, categories = screen_severity(row["text"], vocabulary)
            p = class_probabilities(row["text"], model)
            out.append({"severity": severity, "categories": list(categories), "p": [round(float(x), 5) for x in p]})
        (cache / f"{name}.json").write_text(json.dumps(out))
        print(f"{name}: trained on {len(train_rows)} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def combine(severity: str, p: list[float], threshold: float) -> str:
    """Raise-only: the classifier's class level replaces the rules' when higher and its probability >= threshold."""
    best = max(range(len(p)), key=p.__getitem__)
    group, level = CLASSES[best]
    if group != "not_urgent" and p[best] >= threshold and _RANK[level] > _RANK[severity]:
        return level
    return severity


PROTECTED = frozenset({"suicidal", "overdose", "cry_for_help", "unconscious", "bleeding", "chest_breathing"})
"""Rule categories a veto may never lower, whatever the classifier says."""


def veto(severity: str, categories: list[str], p: list[float], threshold: float) -> str:
    """The specificity experiment: a rule hit is dropped to "none" when the classifier is at least `threshold`
    sure the message is calm and none of the rules' categories is PROTECTED. Not shipped (see the docs)."""
    if severity in ("urgent", "same_day") and p[0] >= threshold and not PROTECTED & set(categories):
        return "none"
    return severity


def score(rows: list[dict[str, str]], levels: list[str]) -> dict[str, object]:
    per_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    urgent, specific = [0, 0], [0, 0]
    for row, level in zip(rows, levels, strict=True):
        if row["expected"] == "not_urgent":
            specific[1] += 1
            specific[0] += _RANK[level] <= _RANK["info"]
            continue
        ok = _RANK[level] >= _RANK[row["expected"]]
        per_group[row["group"]][0] += ok
        per_group[row["group"]][1] += 1
        if row["expected"] == "urgent":
            urgent[0] += ok
            urgent[1] += 1
    return {
        "groups": {g: [c, t] for g, (c, t) in sorted(per_group.items())},
        "urgent": urgent,
        "specificity": specific,
    }


def _pct(pair: list[int]) -> str:
    return f"{pair[0]}/{pair[1]} {100 * pair[0] / pair[1]:.1f} %" if pair[1] else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=Path, default=Path("/tmp/screen_classifier_cv"), help="cache folder")
    parser.add_argument("--only", help="comma-separated set names: only compute these folds (to run in parallel)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--thresholds", default="0.0,0.5,0.7,0.9")
    parser.add_argument("--vetoes", default="0.9,0.97", help="veto thresholds to try (the specificity experiment)")
    args = parser.parse_args(argv)
    corpora = load_corpora()
    predict(corpora, args.predictions, args.only.split(",") if args.only else None)
    if args.only:
        return 0
    predictions = {name: json.loads((args.predictions / f"{name}.json").read_text()) for name in corpora}
    thresholds = [float(t) for t in args.thresholds.split(",")]
    vetoes = [float(t) for t in args.vetoes.split(",") if t]
    figures: dict[str, dict[str, object]] = {}
    pooled_rows: list[dict[str, str]] = []
    pooled: dict[str, list[str]] = defaultdict(list)
    first_sight = json.loads(_FIRST_SIGHT.read_text(encoding="utf-8"))
    fs_rows: list[dict[str, str]] = []
    fs_pooled: dict[str, list[str]] = defaultdict(list)
    for name, rows in corpora.items():
        preds = predictions[name]
        variants = {"rules": [str(p["severity"]) for p in preds]}
        for t in thresholds:
            variants[f"rules+classifier@{t}"] = [combine(str(p["severity"]), p["p"], t) for p in preds]  # type: ignore[arg-type]
        for v in vetoes:
            variants[f"rules+classifier@0.5,veto@{v}"] = [
                veto(combine(str(p["severity"]), p["p"], 0.5), p["categories"], p["p"], v)  # type: ignore[arg-type]
                for p in preds
            ]
        if name in first_sight:
            # The rules as they were when this set was first measured (before anyone tuned on it).
            seen = first_sight[name]["severity"]
            variants["first-sight rules"] = list(seen)
            for t in thresholds:
                variants[f"first-sight rules+classifier@{t}"] = [
                    combine(level, p["p"], t)  # type: ignore[arg-type]
                    for level, p in zip(seen, preds, strict=True)
                ]
        figures[name] = {v: score(rows, levels) for v, levels in variants.items()}
        pooled_rows += rows
        for v, levels in variants.items():
            if not v.startswith("first-sight"):
                pooled[v] += levels
        if name in first_sight:
            fs_rows += rows
            for v, levels in variants.items():
                if v.startswith("first-sight"):
                    fs_pooled[v] += levels
    figures["pooled"] = {v: score(pooled_rows, levels) for v, levels in pooled.items()}
    figures["pooled D-G"] = {v: score(fs_rows, levels) for v, levels in fs_pooled.items()}
    for name, by_variant in figures.items():
        print(f"== {name}")
        for v, f in by_variant.items():
            worst = min(f["groups"].items(), key=lambda kv: kv[1][0] / kv[1][1])  # type: ignore[union-attr]
            print(
                f"  {v:26s} urgent {_pct(f['urgent']):18s} spec {_pct(f['specificity']):18s} "  # type: ignore[arg-type]
                f"worst group {worst[0]} {_pct(worst[1])}"
            )
    if args.json:
        body = ",\n".join(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in figures.items())
        args.json.write_text("{\n" + body + "\n}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
