"""Where the slowest answers spent their time (issue 38), from a traced run (`SPB_BENCH_TRACE=DIR`).

`python -m benchmarks.tail DIR/pace-product-0.json [--top 0.01]` reads the bot's trace (`benchmarks.tracing`) and
the driver's presses beside it (`NAME.presses.json`: chat, press time, latency), picks the slowest `top` share of
the answers, and splits each one's wait, from the press to the arrival of the next question at the stand-in, into
steps: reaching the bot (getUpdates), the inbox's commit, waiting for a handler, then inside the handler the write
lock, the database, the pacer (a chat's budget or the bulk window), other Bot API calls awaited, garbage collections,
and the rest (the handler's own CPU and the event loop's lag), and last the sendMessage request itself.

Each instant of an answer's wait is given to one step (the first that applies, in the order of `STEPS`), so the
steps add up to the latency. A development aid: nothing of it ships.
"""

from __future__ import annotations

import argparse
import json
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import Any

STEPS = (
    "gc",  # a collection holds the GIL: everything waits, whatever it was doing
    "to the bot (getUpdates)",
    "inbox commit",
    "waiting for a handler",
    "pacing (chat budget)",
    "write lock",
    "read connection",
    "database",
    "other Bot API calls",
    "handler CPU / loop lag",
    "sendMessage request",
)
RESOLUTION = 0.0005  # seconds per instant


def _intervals(events: list[tuple[float, int | None, str, str]]) -> dict[int, dict[str, Any]]:
    """Per update: its step times and its intervals (db waits, db, pacing, API calls)."""
    per: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    open_db: dict[tuple[int, str], list[float]] = defaultdict(list)
    open_in: dict[tuple[int, str], list[float]] = defaultdict(list)
    open_pace: dict[tuple[int, str], list[float]] = defaultdict(list)
    open_api: dict[tuple[int, str], list[float]] = defaultdict(list)
    for at, update, step, detail in events:
        if update is None:
            continue
        u = per[update]
        if step in ("arrived", "kept", "handle_start", "handle_end") and step not in u:
            u[step] = at
            if step == "arrived":
                u["chat"] = detail
        elif step == "db_ask":
            open_db[(update, detail)].append(at)
        elif step == "db_in" and open_db[(update, detail)]:
            asked = open_db[(update, detail)].pop()
            kind = "write lock" if detail in ("transaction", "single_statement") else "read connection"
            u["intervals"].append((asked, at, kind))
            open_in[(update, detail)].append(at)
        elif step == "db_out" and open_in[(update, detail)]:
            u["intervals"].append((open_in[(update, detail)].pop(), at, "database"))
        elif step == "pace_ask":
            open_pace[(update, detail)].append(at)
        elif step == "pace_go" and open_pace[(update, detail)]:
            asked = open_pace[(update, detail)].pop()
            u["intervals"].append((asked, at, "pacing (chat budget)"))
            if at - asked > 0.001:
                u["held"].append((round((at - asked) * 1000, 1), detail))
        elif step == "api_start":
            open_api[(update, detail)].append(at)
            if detail == "sendMessage" and "send_start" not in u:
                u["send_start"] = at
        elif step == "api_end" and open_api[(update, detail)]:
            u["intervals"].append((open_api[(update, detail)].pop(), at, "other Bot API calls"))
    return per


def _collections(events: list[tuple[float, int | None, str, str]]) -> list[tuple[float, float]]:
    spans = []
    for at, _update, step, detail in events:
        if step == "gc":
            ms = float(detail.split()[1])
            spans.append((at - ms / 1000, at))
    return spans


def breakdown(trace: Path, top: float = 0.01, skip_first: bool = False) -> dict[str, Any]:
    """The slowest `top` share of the traced answers, step by step (mean ms per answer and share of the wait)."""
    events = [tuple(e) for e in json.loads(trace.read_text())]
    presses = json.loads(Path(f"{trace}.presses.json").read_text())
    per = _intervals(events)  # type: ignore[arg-type]
    gcs = _collections(events)  # type: ignore[arg-type]
    arrivals: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for update, u in per.items():
        if "arrived" in u:
            arrivals[u["chat"]].append((u["arrived"], update))
    for chat in arrivals:
        arrivals[chat].sort()
    if skip_first:
        firsts: dict[int, float] = {}
        for chat, at, _latency in presses:
            firsts[chat] = min(firsts.get(chat, at), at)
        presses = [p for p in presses if p[1] != firsts[p[0]]]
    presses.sort(key=lambda p: p[2], reverse=True)
    count = max(1, round(len(presses) * top))
    totals: dict[str, float] = dict.fromkeys(STEPS, 0.0)
    held: list[Any] = []
    matched = 0
    for chat, pressed, latency in presses[:count]:
        found = arrivals.get(str(chat), [])
        k = bisect_left(found, (pressed - 0.002, -1))
        if k == len(found):
            continue
        update = found[k][1]
        u = per[update]
        replied = pressed + latency
        matched += 1
        held.extend(u.get("held", []))
        t = pressed
        while t < replied:
            totals[_step_at(t, u, gcs)] += RESOLUTION
            t += RESOLUTION
    latencies = sorted(p[2] for p in presses)
    return {
        "answers": len(presses),
        "slowest": count,
        "matched": matched,
        "threshold_ms": round(presses[count - 1][2] * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 1),
        "mean_ms": {step: round(1000 * v / max(matched, 1), 1) for step, v in totals.items()},
        "share_pct": {step: round(100 * v / max(sum(totals.values()), 1e-9), 1) for step, v in totals.items()},
        "held_by_pacer_ms": held,
    }


def _step_at(t: float, u: dict[str, Any], gcs: list[tuple[float, float]]) -> str:
    if any(start <= t < end for start, end in gcs):
        return "gc"
    if t < u.get("arrived", t):
        return "to the bot (getUpdates)"
    if t < u.get("kept", t):
        return "inbox commit"
    if t < u.get("handle_start", t):
        return "waiting for a handler"
    if "send_start" in u and t >= u["send_start"]:
        return "sendMessage request"
    for step in ("pacing (chat budget)", "write lock", "read connection", "database", "other Bot API calls"):
        if any(start <= t < end and kind == step for start, end, kind in u["intervals"]):
            return step
    return "handler CPU / loop lag"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--top", type=float, default=0.01)
    args = parser.parse_args()
    result = {
        "all answers": breakdown(args.trace, args.top),
        "without each patient's first answer": breakdown(args.trace, args.top, skip_first=True),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
