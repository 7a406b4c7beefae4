"""Sensitivity per danger group and specificity of the free-text screen on a labelled JSONL file.

Why: the screen's worth is measured on messages written by someone who never saw its vocabulary (see
docs/clinical/free-text-screen.md). Each line holds `text`, `group` and `expected` (urgent | same_day |
not_urgent). A danger message counts as caught when the screen's level is at least the expected one (urgent needs
urgent; same_day needs same_day or urgent); a not_urgent message counts as correct when the level is none or info.
Also prints the cost per message (µs, mean over the file) and the time to load the vocabulary.

    .venv/bin/python scripts/screen_metrics.py FILE.jsonl [--json OUT] [--misses] [--vocabulary FILE] [--rules-only]

The screen is measured as the bot runs it: the rules and the second-opinion classifier (which may only raise a
level); `--rules-only` leaves the classifier out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.free_text_screen import (  # noqa: E402
    DEFAULT_VOCABULARY_PATH,
    load_free_text_vocabulary,
    screen_severity,
)
from bot.domain.screen_classifier import with_second_opinion  # noqa: E402

_RANK = {"none": 0, "info": 1, "same_day": 2, "urgent": 3}


def measure(
    rows: list[dict[str, str]], vocabulary_path: Path, *, rules_only: bool = False
) -> tuple[dict[str, object], list[str]]:
    started = time.perf_counter()
    vocabulary = load_free_text_vocabulary(vocabulary_path)
    if not rules_only:
        vocabulary = with_second_opinion(vocabulary)  # the screen as the bot runs it
    load_ms = (time.perf_counter() - started) * 1000
    per_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    urgent = [0, 0]
    specific = [0, 0]
    misses: list[str] = []
    started = time.perf_counter()
    results = [screen_severity(row["text"], vocabulary) for row in rows]
    cold_us = (time.perf_counter() - started) * 1e6 / max(len(rows), 1)
    started = time.perf_counter()
    for _ in range(5):
        for row in rows:
            screen_severity(row["text"], vocabulary)
    warm_us = (time.perf_counter() - started) * 1e6 / max(5 * len(rows), 1)
    for row, (severity, categories) in zip(rows, results, strict=True):
        expected = row["expected"]
        if expected == "not_urgent":
            specific[1] += 1
            ok = _RANK[severity] <= _RANK["info"]
            specific[0] += ok
        else:
            ok = _RANK[severity] >= _RANK[expected]
            per_group[row["group"]][0] += ok
            per_group[row["group"]][1] += 1
            if expected == "urgent":
                urgent[0] += ok
                urgent[1] += 1
        if not ok:
            misses.append(f"[{row['group']}/{expected} -> {severity} {list(categories)}] {row['text']}")
    figures: dict[str, object] = {
        "messages": len(rows),
        "groups": {
            group: {"caught": c, "total": t, "sensitivity": round(c / t, 3)}
            for group, (c, t) in sorted(per_group.items())
        },
        "urgent_sensitivity": {
            "caught": urgent[0],
            "total": urgent[1],
            "value": round(urgent[0] / urgent[1], 3) if urgent[1] else None,
        },
        "specificity": {
            "correct": specific[0],
            "total": specific[1],
            "value": round(specific[0] / specific[1], 3) if specific[1] else None,
        },
        "us_per_message_first_pass": round(cold_us, 1),
        "us_per_message_warm": round(warm_us, 1),
        "vocabulary_load_ms": round(load_ms, 1),
    }
    return figures, misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--misses", action="store_true", help="list the messages judged wrongly")
    parser.add_argument("--vocabulary", type=Path, default=DEFAULT_VOCABULARY_PATH)
    parser.add_argument("--rules-only", action="store_true", help="without the second-opinion classifier")
    args = parser.parse_args(argv)
    try:
        rows = [json.loads(line) for line in args.jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        print(f"Cannot read {args.jsonl}: {exc}.", file=sys.stderr)
        return 2
    figures, misses = measure(rows, args.vocabulary, rules_only=args.rules_only)
    for group, data in figures["groups"].items():  # type: ignore[attr-defined]
        print(f"{group:22s} {data['caught']:3d}/{data['total']:<3d} {data['sensitivity']:.0%}")
    u, s = figures["urgent_sensitivity"], figures["specificity"]
    print(f"{'urgent sensitivity':22s} {u['caught']:3d}/{u['total']:<3d} {u['value']:.1%}")  # type: ignore[index]
    print(f"{'specificity':22s} {s['correct']:3d}/{s['total']:<3d} {s['value']:.1%}")  # type: ignore[index]
    print(
        f"cost: {figures['us_per_message_first_pass']} µs/message first pass, "
        f"{figures['us_per_message_warm']} µs warm; vocabulary load {figures['vocabulary_load_ms']} ms"
    )
    if args.misses:
        print("\n".join(misses))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
