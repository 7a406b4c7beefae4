"""`python -m benchmarks [--quick] [--repeat N] [--only answers,fanout,scale,alerts] [--profile SCENARIO]`.

Runs each scenario `--repeat` times (fresh database, stand-in and bot process every time), writes every run and
the field-by-field medians to a JSON file (`benchmarks/results.json` for full sizes, not tracked by git: a run worth
keeping is copied to `benchmarks/results/YYYY-MM-DD-<commit>-<scenarios>.json`), and prints the Markdown table of
benchmarks/README.md. A full run takes about an hour, most of it the fan-out, which Telegram's 30 messages/s make last
at least 2 × 10,000 / 30 ≈ 11 minutes per run; `--quick` takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import scenarios
from benchmarks.probes import machine_busy_seconds
from benchmarks.report import TARGETS, markdown, verdicts
from benchmarks.scenarios import FULL, QUICK, Context, Sizes
from benchmarks.stats import median_of_runs

SCENARIOS = ("answers", "fanout", "scale", "alerts", "pace", "live_fanout", "crowd", "calls")
RESULTS = Path(__file__).resolve().parent / "results.json"
#: Below this many cores used by other processes, the machine counts as quiet enough to measure.
QUIET_CORES = 0.3


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "ptb": version("python-telegram-bot"),
        "aiohttp": version("aiohttp"),
        "aiosqlite": version("aiosqlite"),
        "platform": platform.platform(),
        "filesystem": filesystem(Path(tempfile.gettempdir())),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the bot's code or data differed from it (a dirty tree is still measured,
    but the figures then belong to no commit)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "bot", "questionnaires", "pyproject.toml")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "uncommitted_changes": changed.splitlines()}


def filesystem(path: Path) -> str:
    """The type of the file system holding `path` (fsync costs differ by orders of magnitude between them)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 2 and str(path.resolve()).startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


async def run_benchmarks(
    sizes: Sizes,
    *,
    repeat: int,
    only: tuple[str, ...] = SCENARIOS,
    workdir: Path,
    mode: str,
    profile: str | None = None,
    verbose: bool = True,
    quiet_wait: float = 0.0,
) -> dict[str, Any]:
    """Run the chosen scenarios `repeat` times each; return the results document."""
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(workdir=workdir, sizes=sizes, profile=profile, verbose=verbose)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "issue": 8,
        "mode": mode,
        "repeat": repeat,
        "sizes": asdict(sizes),
        "machine": machine(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "targets": TARGETS,
        "scenarios": {},
    }
    for name in only:
        runner: Callable[[Context, int], Awaitable[dict[str, Any]]]
        if name == "scale":
            database, generated = await scenarios.scale_database(ctx)

            async def runner(c: Context, run: int) -> dict[str, Any]:
                return await scenarios.scale(c, run, database, generated)
        else:
            runner = getattr(scenarios, name)
        code = code_version()
        runs = []
        for run in range(repeat):
            background = await wait_for_quiet(ctx, quiet_wait) if quiet_wait else await background_cores()
            result = await runner(ctx, run)
            result["background_cores_before"] = background
            runs.append(result)
        results["scenarios"][name] = {"runs": runs, "median": median_of_runs(runs), "code": code}
        if code_version() != code:  # the tree changed under the runs: say so rather than mix versions silently
            results["scenarios"][name]["code_changed_during_runs"] = code_version()
    results["verdicts"] = verdicts(results["scenarios"])
    results["duration_s"] = round(time.perf_counter() - started, 1)
    return results


async def background_cores(sample: float = 3.0) -> float:
    """Cores kept busy by other processes right now (this driver is idle while it samples)."""
    before = machine_busy_seconds()
    await asyncio.sleep(sample)
    return round((machine_busy_seconds() - before) / sample, 2)


async def wait_for_quiet(ctx: Context, max_wait: float) -> float:
    """Wait (at most `max_wait` s) until other processes use less than QUIET_CORES; return the last sample."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = await background_cores()
        if busy < QUIET_CORES or time.monotonic() > deadline:
            return busy
        ctx.say("machine busy (%.2f cores used by other processes): waiting", busy)
        await asyncio.sleep(15)


def merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`previous` with the scenarios of `new` replaced (same mode and repeat only: medians must be comparable)."""
    if (previous.get("mode"), previous.get("repeat")) != (new["mode"], new["repeat"]):
        raise SystemExit("--merge: the results file was made with other sizes or another --repeat")
    scenarios_ = {**previous["scenarios"], **new["scenarios"]}
    merged = {**previous, "scenarios": scenarios_, "verdicts": verdicts(scenarios_)}
    merged["rerun"] = sorted(set(previous.get("rerun", [])) | set(new["scenarios"]))
    merged["rerun_at"] = new["started_at"]
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Performance benchmarks of spinal-pro-bot (issue #8)."
    )
    parser.add_argument("--quick", action="store_true", help="development sizes (600-patient fan-out, …)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (medians are reported)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--output", type=Path, help="results file (default: benchmarks/results.json, full only)")
    parser.add_argument("--workdir", type=Path, help="where databases go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, profiles)")
    parser.add_argument("--profile", choices=SCENARIOS, help="py-spy the bot process during this scenario's 1st run")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other scenarios already in the results file (re-run one scenario)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for other processes to leave the cores idle",
    )
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown or args.repeat < 1:
        parser.error(f"unknown scenario(s) {unknown}" if unknown else "--repeat must be at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spinal-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    try:
        results = asyncio.run(
            run_benchmarks(
                QUICK if args.quick else FULL,
                repeat=args.repeat,
                only=only,
                workdir=workdir,
                mode=mode,
                profile=args.profile,
                quiet_wait=args.wait_quiet,
            )
        )
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    output = args.output or (RESULTS if mode == "full" else None)
    if output is not None and args.merge and output.exists():
        results = merge(json.loads(output.read_text(encoding="utf-8")), results)
    if output is not None:
        output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"results written to {output}", file=sys.stderr)
    print(markdown(results))
    return 0
