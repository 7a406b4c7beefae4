"""Smoke run of the benchmarks (issue #8) with tiny sizes: every scenario runs end to end and checks its work.

The figures of a tiny run mean nothing; what is tested is that the harness measures the real bot doing real work
(answers stored, questionnaires delivered, alerts in the group) and writes a complete results document.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.policy import answer_path  # noqa: E402
from benchmarks.probes import due_query_sql  # noqa: E402
from benchmarks.report import markdown  # noqa: E402
from benchmarks.run import SCENARIOS, run_benchmarks  # noqa: E402
from benchmarks.scenarios import Sizes, _questionnaire  # noqa: E402
from benchmarks.stats import median_of_runs, percentile  # noqa: E402

TINY = Sizes(
    answer_patients=3,
    answer_think_seconds=(0.0, 0.01),
    answer_with_rate_limiter=False,
    fanout_patients=12,
    fanout_alternative_pacing=False,
    scale_patients=8,
    due_query_repeats=2,
    alert_patients=2,
    alert_fanout_patients=10,
    alert_tick_seconds=1.0,
    alert_spread_ticks=1.0,
    pace_patients=3,
    pace_think_seconds=(0.0, 0.01),
    pace_join_seconds=0.2,
    live_fanout_patients=20,
    live_answering=2,
    live_red_flags=1,
    live_tick_seconds=1.0,
    crowd_patients=3,
    crowd_think_seconds=(0.0, 0.01),
    calls_patients=2,
)


@pytest.mark.slow
@pytest.mark.sqlite_only(
    "the benchmarks fill a SQLite file directly (sqlite3 bulk inserts, PRAGMAs) to time the bot on it"
)
async def test_a_tiny_run_of_every_scenario_measures_real_work_and_writes_complete_results(tmp_path: Path) -> None:
    # The scenarios are independent (own database, stand-in and bot process): run them side by side to stay fast.
    documents = await asyncio.gather(
        *(
            run_benchmarks(TINY, repeat=1, only=(name,), workdir=tmp_path / name, mode="smoke", verbose=False)
            for name in SCENARIOS
        )
    )
    results = {**documents[0], "scenarios": {}, "verdicts": {}}
    for document in documents:
        results["scenarios"].update(document["scenarios"])
        results["verdicts"].update(document["verdicts"])
    json.dumps(results)  # the results file must be writable as JSON
    s = {name: results["scenarios"][name]["median"] for name in SCENARIOS}

    steps = len(answer_path(_questionnaire("daily")))
    for kind in ("product", "bare"):
        assert s["answers"][kind]["answers"] == TINY.answer_patients * steps
        assert s["answers"][kind]["api_errors"] == 0
        assert 0 < s["answers"][kind]["latency"]["p50_ms"] <= s["answers"][kind]["latency"]["p99_ms"]
    assert s["answers"]["ratio_to_bare"] > 0
    assert s["answers"]["paced"]["product"]["answers"] == TINY.answer_patients * steps

    assert s["fanout"]["delivered"] == s["fanout"]["opened_by_tick"] == TINY.fanout_patients
    assert s["fanout"]["messages_accepted"] >= TINY.fanout_patients
    assert s["fanout"]["rate_per_s"] > 0

    assert s["scale"]["due_rows"] == TINY.scale_patients and s["scale"]["answers_in_db"] > 0
    assert 0 < s["scale"]["bot_rss_mb"] <= s["scale"]["bot_peak_rss_mb"]

    for variant in ("idle", "during_fanout"):
        assert s["alerts"][variant]["alerts"] == TINY.alert_patients
        assert s["alerts"][variant]["latency"]["max_s"] < TINY.alert_tick_seconds + 10
    assert s["alerts"]["during_fanout"]["fanout_patients"] == TINY.alert_fanout_patients

    for kind in ("product", "bare"):
        assert s["pace"][kind]["answers"] == TINY.pace_patients * steps
    assert s["pace"]["ratio_to_bare"] > 0
    for kind in ("product", "bare"):  # issue 38: CPU time per answer, the robust figure on a shared machine
        assert s["pace"][kind]["bot_cpu_ms_per_answer"] > 0
    assert s["pace"]["cpu_per_answer_ratio_to_bare"] > 0
    assert s["pace"]["join_seconds"] == TINY.pace_join_seconds
    assert s["live_fanout"]["answers"] == TINY.live_answering * steps
    assert s["live_fanout"]["alert_to_group"]["n"] == TINY.live_red_flags
    for kind in ("product", "bare"):
        assert s["crowd"][kind]["answers"] == TINY.crowd_patients * steps
        assert s["crowd"][kind]["bot_rss_mb"] > 0
    assert s["crowd"]["product"]["http_429"] == 0
    assert s["calls"]["by_method"]["sendMessage"] == TINY.calls_patients * steps  # next questions and summary
    assert s["calls"]["by_method"]["answerCallbackQuery"] == TINY.calls_patients * s["calls"]["presses_per_patient"]

    assert set(results["verdicts"]) >= {
        "answers_p99",
        "fanout_no_429",
        "due_query",
        "bot_rss",
        "alert_p99",
        "pace_p99",
        "live_p99",
        "live_no_429",
    }
    table = markdown(results)
    assert "| Measure | Target | Result | Met |" in table and "Fan-out" in table and "Red flag" in table


def test_the_timed_due_query_is_the_one_the_dispatcher_runs() -> None:
    sql = due_query_sql()
    assert "status = 'planned'" in sql and "opens_at <= ?" in sql and "FROM instances" in sql


def test_a_percentile_is_a_measured_sample_never_an_interpolation() -> None:
    samples = [0.010, 0.020, 0.030, 0.040]
    assert percentile(samples, 50) == 0.020
    assert percentile(samples, 99) == 0.040
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0


def test_the_median_of_runs_is_taken_field_by_field_and_keeps_text() -> None:
    runs = [
        {"rate": 10.0, "plan": ["a"], "latency": {"p99_ms": 5.0}},
        {"rate": 30.0, "plan": ["b"], "latency": {"p99_ms": 1.0}},
        {"rate": 20.0, "plan": ["c"], "latency": {"p99_ms": 9.0}},
    ]
    assert median_of_runs(runs) == {"rate": 20.0, "plan": ["a"], "latency": {"p99_ms": 5.0}}
