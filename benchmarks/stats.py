"""Small statistics for the results: nearest-rank percentiles and medians of repeated runs.

Nearest rank (the smallest sample with at least p % of the samples at or below it) never interpolates between two
measurements, so a reported p99 is a latency that some patient actually waited.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile, p in (0, 100]."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds and the sample count."""
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p90_ms": round(percentile(samples, 90) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field by field median of numeric values across runs (nested dicts recursed, other values from run 1)."""
    if not runs:
        return {}
    merged: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs if key in run]
        if isinstance(first, bool) or not isinstance(first, (int, float, dict)):
            merged[key] = first
        elif isinstance(first, dict):
            merged[key] = median_of_runs([v for v in values if isinstance(v, dict)])
        else:
            merged[key] = round(statistics.median(values), 4)
    return merged
