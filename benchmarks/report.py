"""Targets of issue #8, verdicts, and the Markdown results table (printed by `run.py`, pasted in benchmarks/README.md)."""

from __future__ import annotations

from typing import Any

#: Issue #8's targets, in one place.
TARGETS: dict[str, float] = {
    "answers_ratio_to_bare_min": 0.60,
    "answers_p99_ms_max": 100.0,
    "fanout_rate_vs_30_min": 0.95,
    "fanout_429_max": 0,
    "due_query_s_max": 1.0,
    "bot_rss_mb_max": 200.0,
    "alert_p99_s_max": 1.0,
    # issue #18
    "pace_ratio_to_bare_min": 0.90,
    "pace_p99_ms_max": 250.0,
    "live_p99_ms_max": 250.0,
    "live_429_max": 0,
}


def verdicts(scenarios: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Target → met, for the scenarios that ran (on their medians)."""
    met: dict[str, bool] = {}
    if "answers" in scenarios:
        m = scenarios["answers"]["median"]
        met["answers_ratio_to_bare"] = m["ratio_to_bare"] >= TARGETS["answers_ratio_to_bare_min"]
        met["answers_p99"] = m["product"]["latency"]["p99_ms"] <= TARGETS["answers_p99_ms_max"]
    if "fanout" in scenarios:
        m = scenarios["fanout"]["median"]
        met["fanout_rate"] = m["rate_vs_30"] >= TARGETS["fanout_rate_vs_30_min"]
        met["fanout_no_429"] = m["http_429"] <= TARGETS["fanout_429_max"]
        met["fanout_all_delivered"] = all(r["delivered"] == r["patients"] for r in scenarios["fanout"]["runs"])
    if "scale" in scenarios:
        m = scenarios["scale"]["median"]
        met["due_query"] = m["due_query_s"] <= TARGETS["due_query_s_max"]
        met["bot_rss"] = m["bot_peak_rss_mb"] <= TARGETS["bot_rss_mb_max"]
    if "alerts" in scenarios:
        m = scenarios["alerts"]["median"]
        met["alert_p99"] = m["idle"]["latency"]["p99_s"] <= TARGETS["alert_p99_s_max"]
        met["alert_p99_during_fanout"] = m["during_fanout"]["latency"]["p99_s"] <= TARGETS["alert_p99_s_max"]
    if "pace" in scenarios:
        m = scenarios["pace"]["median"]
        met["pace_ratio_to_bare"] = m["ratio_to_bare"] >= TARGETS["pace_ratio_to_bare_min"]
        met["pace_p99"] = m["product"]["latency"]["p99_ms"] <= TARGETS["pace_p99_ms_max"]
    if "live_fanout" in scenarios:
        m = scenarios["live_fanout"]["median"]
        met["live_p99"] = m["press_to_next"]["p99_ms"] <= TARGETS["live_p99_ms_max"]
        met["live_alert_p99"] = m["alert_to_group"]["p99_s"] <= TARGETS["alert_p99_s_max"]
        met["live_no_429"] = m["http_429"] <= TARGETS["live_429_max"]
    return met


def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("✅" if ok else "❌")


def markdown(results: dict[str, Any]) -> str:
    """The results table and the machine line."""
    s = results["scenarios"]
    v = results.get("verdicts", {})
    rows: list[tuple[str, str, str, bool | None]] = []
    if "answers" in s:
        m = s["answers"]["median"]
        p, b = m["product"], m["bare"]
        rows += [
            (
                f"Answers/s, {m['patients']} patients at once: bot / bare PTB",
                "—",
                f"{p['answers_per_s']} / {b['answers_per_s']}",
                None,
            ),
            (
                "Bot throughput / bare PTB (same run)",
                "≥ 60 %",
                f"{m['ratio_to_bare']:.0%}",
                v.get("answers_ratio_to_bare"),
            ),
            (
                "Press → next question, p50 / p99 (bot)",
                "p99 ≤ 100 ms",
                f"{p['latency']['p50_ms']:.0f} / {p['latency']['p99_ms']:.0f} ms",
                v.get("answers_p99"),
            ),
            (
                "Press → next question, p50 / p99 (bare PTB)",
                "—",
                f"{b['latency']['p50_ms']:.0f} / {b['latency']['p99_ms']:.0f} ms",
                None,
            ),
        ]
        if "product_with_rate_limiter" in m:
            limited = m["product_with_rate_limiter"]
            rows.append(
                (
                    "Same load through the production rate limiter: answers/s, p50 / p99",
                    "—",
                    f"{limited['answers_per_s']}/s, {limited['latency']['p50_ms']:.0f} / "
                    f"{limited['latency']['p99_ms']:.0f} ms",
                    None,
                )
            )
        if "paced" in m:
            low, high = results["sizes"]["answer_think_seconds"]
            pp, pb = m["paced"]["product"]["latency"], m["paced"]["bare"]["latency"]
            rows.append(
                (
                    f"Same, patients reading {low:g}–{high:g} s per question: p50 / p99, bot (bare PTB)",
                    "—",
                    f"{pp['p50_ms']:.0f} / {pp['p99_ms']:.0f} ms ({pb['p50_ms']:.0f} / {pb['p99_ms']:.0f} ms)",
                    None,
                )
            )
    if "fanout" in s:
        m = s["fanout"]["median"]
        rows += [
            (
                f"Fan-out, {m['patients']} due at once: send rate",
                "≥ 95 % of 30/s",
                f"{m['rate_per_s']}/s ({m['rate_vs_30']:.0%})",
                v.get("fanout_rate"),
            ),
            ("Fan-out: HTTP 429 received", "0", f"{m['http_429']:g}", v.get("fanout_no_429")),
            (
                "Fan-out: questionnaires delivered",
                f"{m['patients']}",
                f"{m['delivered']:g}",
                v.get("fanout_all_delivered"),
            ),
            ("Fan-out: tick duration", "—", f"{m['tick_seconds']:.0f} s", None),
        ]
        other = s["fanout"]["runs"][0].get("alternative_pacing")
        if other:
            rows.append(
                (
                    f"Fan-out through PTB's AIORateLimiter at {other['messages_per_second']:g}/s instead (run 1 only): rate, 429s",
                    "≥ 95 %, 0",
                    f"{other['rate_per_s']}/s ({other['rate_vs_30']:.0%}), {other['http_429']} × 429",
                    other["rate_vs_30"] >= TARGETS["fanout_rate_vs_30_min"] and other["http_429"] == 0,
                )
            )
    if "scale" in s:
        m = s["scale"]["median"]
        rows += [
            (
                f"Due query, {m['patients']} patients due, {m['answers_in_db']:,} answers in DB",
                "≤ 1 s",
                f"{m['due_query_s'] * 1000:.0f} ms",
                v.get("due_query"),
            ),
            (
                "Tick, nothing due / all questionnaires open",
                "—",
                f"{m['tick_nothing_due_s'] * 1000:.0f} ms / {m['tick_all_open_s'] * 1000:.0f} ms",
                None,
            ),
            (
                f"Bot RSS now / peak ({m['db_mb']:.0f} MB database)",
                "≤ 200 MB",
                f"{m['bot_rss_mb']:.0f} / {m['bot_peak_rss_mb']:.0f} MB",
                v.get("bot_rss"),
            ),
        ]
    if "alerts" in s:
        m = s["alerts"]["median"]
        for variant, key in (("idle", "alert_p99"), ("during_fanout", "alert_p99_during_fanout")):
            v_m = m[variant]
            label = (
                f"while {v_m['fanout_patients']:g} other diaries go out"
                if v_m["fanout_patients"]
                else "bot otherwise idle"
            )
            rows.append(
                (
                    f"Red flag → clinicians' group, p50 / p99, {label} (tick {v_m['tick_seconds']:g} s)",
                    "p99 ≤ 1 s",
                    f"{v_m['latency']['p50_s']:.2f} / {v_m['latency']['p99_s']:.2f} s",
                    v.get(key),
                )
            )
            emergency = v_m["patient_emergency_message"]
            rows.append(
                (
                    f"Red flag → emergency advice shown to the patient, p50 / p99, {label}",
                    "—",
                    f"{emergency['p50_ms']:.0f} / {emergency['p99_ms']:.0f} ms",
                    None,
                )
            )
    if "pace" in s:
        m = s["pace"]["median"]
        p, b = m["product"], m["bare"]
        low, high = results["sizes"]["pace_think_seconds"]
        rows += [
            (
                f"{m['patients']:g} patients reading {low:g}–{high:g} s per question: answers/s, bot (as deployed, "
                "Telegram's limits on) / bare PTB",
                "—",
                f"{p['answers_per_s']} / {b['answers_per_s']}",
                None,
            ),
            (
                "Same: bot answers/s ÷ bare PTB's (same run)",
                "≥ 0.9",
                f"{m['ratio_to_bare']:.2f}",
                v.get("pace_ratio_to_bare"),
            ),
            (
                "Same: press → next question, p50 / p99, bot (bare PTB)",
                "p99 ≤ 250 ms",
                f"{p['latency']['p50_ms']:.0f} / {p['latency']['p99_ms']:.0f} ms "
                f"({b['latency']['p50_ms']:.0f} / {b['latency']['p99_ms']:.0f} ms)",
                v.get("pace_p99"),
            ),
            ("Same: HTTP 429 received by the bot", "0", f"{p['http_429']:g}", None),
        ]
        if "latency_after_first_answers" in p:
            pa, ba = p["latency_after_first_answers"], b["latency_after_first_answers"]
            rows.append(
                (
                    "Same, each patient's first answer left out (all first answers come in the same second): "
                    "p50 / p99, bot (bare PTB)",
                    "—",
                    f"{pa['p50_ms']:.0f} / {pa['p99_ms']:.0f} ms ({ba['p50_ms']:.0f} / {ba['p99_ms']:.0f} ms)",
                    None,
                )
            )
    if "live_fanout" in s:
        m = s["live_fanout"]["median"]
        lat, bare = m["press_to_next"], m["bare_press_to_next"]
        rows += [
            (
                f"During a {m['fanout_patients']:g}-diary fan-out ({m['fanout_sends_during_answers']:g} sent while "
                f"{m['answering']:g} patients answer): press → next question p50 / p99 (bare PTB, no fan-out)",
                "p99 ≤ 250 ms",
                f"{lat['p50_ms']:.0f} / {lat['p99_ms']:.0f} ms ({bare['p50_ms']:.0f} / {bare['p99_ms']:.0f} ms)",
                v.get("live_p99"),
            ),
            (
                f"Same: red flag → clinicians' group, p50 / p99 ({m['red_flags']:g} red flags)",
                "p99 ≤ 1 s",
                f"{m['alert_to_group']['p50_s']:.2f} / {m['alert_to_group']['p99_s']:.2f} s",
                v.get("live_alert_p99"),
            ),
            ("Same: HTTP 429 from the stand-in's flood control", "0", f"{m['http_429']:g}", v.get("live_no_429")),
            ("Same: bot CPU / RSS", "—", f"{m['bot_cpu_pct']:.0f} % of a core / {m['bot_rss_mb']:.0f} MB", None),
        ]
    if "crowd" in s:
        m = s["crowd"]["median"]
        p, b = m["product"], m["bare"]
        low, high = results["sizes"]["crowd_think_seconds"]
        rows += [
            (
                f"{m['patients']:g} patients reading {low:g}–{high:g} s per question, at once: answers/s, bot (as "
                f"deployed) / bare PTB (offered ≈ {m['offered_answers_per_s']:g}/s)",
                "—",
                f"{p['answers_per_s']} / {b['answers_per_s']} ({m['ratio_to_bare']:.2f})",
                None,
            ),
            (
                "Same: press → next question, p50 / p99, bot (bare PTB)",
                "—",
                f"{p['latency']['p50_ms']:.0f} / {p['latency']['p99_ms']:.0f} ms "
                f"({b['latency']['p50_ms']:.0f} / {b['latency']['p99_ms']:.0f} ms)",
                None,
            ),
            (
                "Same: CPU of the bot / of the driver (stand-in and patients), bot (bare PTB)",
                "—",
                f"{p['bot_cpu_pct']:.0f} / {p['driver_cpu_pct']:.0f} % ({b['bot_cpu_pct']:.0f} / "
                f"{b['driver_cpu_pct']:.0f} %) of a core",
                None,
            ),
            (
                "Same: bot RSS, peak; HTTP 429",
                "—",
                f"{p['bot_rss_mb']:.0f} MB, {p['bot_peak_rss_mb']:.0f} MB; {p['http_429']:g}",
                None,
            ),
        ]
    if "calls" in s:
        m = s["calls"]["median"]
        methods = ", ".join(f"{name} {n:g}" for name, n in m["per_questionnaire_by_method"].items())
        rows += [
            (
                f"Bot API calls per answered question / per completed diary ({m['answers_per_patient']:g} answers, "
                "getUpdates apart)",
                "—",
                f"{m['per_answer']:g} / {m['per_questionnaire']:g} ({methods})",
                None,
            ),
            (
                "Same: calls that count in the chat's budget, per answer; getUpdates per answer",
                "—",
                f"{m['chat_budget_per_answer']:g}; {m['get_updates_per_answer']:g}",
                None,
            ),
        ]
    lines = [
        f"Median of {results['repeat']} runs ({results['mode']} sizes). {machine_line(results['machine'])}",
        "",
        "| Measure | Target | Result | Met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {target} | {value} | {_mark(ok)} |" for name, target, value, ok in rows]
    return "\n".join(lines)


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB RAM, "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, python-telegram-bot {machine['ptb']}, "
        f"database on {machine['filesystem']}."
    )
