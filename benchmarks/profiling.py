"""Sampling the bot process with py-spy during a measured phase, and summarising where its CPU time went.

py-spy attaches to the running bot process from outside (no code change, every thread seen: the event loop and
aiosqlite's database thread), so a profiled run differs from a plain one only by the sampling overhead
(`--nonblocking`: the bot is not paused to sample). py-spy is a development tool, not a dependency: install it in
the venv (`.venv/bin/pip install py-spy`) to use `--profile`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

SAMPLING_RATE = 200  # per second


def py_spy_executable() -> str | None:
    beside_python = Path(sys.executable).parent / "py-spy"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("py-spy")


class PySpy:
    """`async with PySpy(pid, raw_path):` records collapsed stacks of `pid` to `raw_path`."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self.output = output
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> PySpy:
        executable = py_spy_executable()
        if executable is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        self._process = await asyncio.create_subprocess_exec(
            executable,
            "record",
            "--pid",
            str(self.pid),
            "--format",
            "raw",
            "--output",
            str(self.output),
            "--rate",
            str(SAMPLING_RATE),
            "--nonblocking",
            "--threads",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # let it attach before the phase starts
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
        _out, err = await self._process.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


def _function(frame: str) -> str:
    """ "name (path/to/file.py:123)" → "name (path/to/file.py)": relative to sys.path (py-spy's), line dropped."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    marker = f"{os.sep}bot{os.sep}"
    if not os.path.isabs(path):  # py-spy already made it relative to its sys.path entry
        pass
    elif marker in path:
        path = "bot/" + path.split(marker, 1)[1]
    elif "site-packages" in path:
        path = path.split("site-packages" + os.sep, 1)[1]
    else:
        path = os.path.basename(path)
    return f"{name} ({path})"


def _queue_wait_frame() -> str:
    """aiosqlite's worker thread waiting for work: the `tx.get()` line of `_connection_worker_thread` (found in
    the installed aiosqlite, so another version's line numbers do not matter). Its other lines run SQLite."""
    try:
        from aiosqlite import core

        lines, first = inspect.getsourcelines(core._connection_worker_thread)
        number = next(first + k for k, line in enumerate(lines) if ".get()" in line)
    except (ImportError, AttributeError, OSError, StopIteration):
        return "_connection_worker_thread (aiosqlite/core.py:?)"
    return f"_connection_worker_thread (aiosqlite/core.py:{number})"


#: Leaf frames that are waiting, not working. With --nonblocking py-spy cannot ask the kernel whether a thread is
#: idle, so the event loop's epoll wait and aiosqlite's queue wait would otherwise count as busy.
IDLE_LEAVES = ("EpollSelector.select (selectors.py:", _queue_wait_frame())


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    """Where the busy samples went: per thread (seconds), and per function as % of busy samples — `self` (on top
    of the stack), `inclusive` (anywhere in it) for the project's code and for libraries."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        thread = frames[0].split(": ", 1)[-1] if frames and frames[0].startswith("thread ") else "?"
        frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += count
            continue
        leaf = _function(frames[-1])
        total += count
        threads[thread] += count
        self_counts[leaf] += count
        for function in {_function(f) for f in frames}:
            inclusive[function] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)] if total else []

    ours = Counter({name: n for name, n in inclusive.items() if name.split(" (", 1)[1].startswith("bot/")})
    libraries = Counter({name: n for name, n in inclusive.items() if _is_library(name)})
    return {
        "busy_samples": total,
        "idle_samples": idle,
        "rate_per_s": SAMPLING_RATE,
        "busy_seconds_by_thread": {name: round(n / SAMPLING_RATE, 2) for name, n in threads.most_common()},
        "self_pct": share(self_counts),
        "inclusive_bot_pct": share(ours),
        "inclusive_libraries_pct": share(libraries),
    }


#: Frames that are on every stack (event loop, PTB's dispatch wrappers): they say nothing about where time goes.
_PLUMBING = (
    "asyncio/",
    "benchmarks/",
    "telegram/ext/_application.py",
    "telegram/ext/_baseupdateprocessor.py",
    "telegram/ext/_handlers/basehandler.py",
    "telegram/ext/_jobqueue.py",
    "apscheduler/",
)


def _is_library(name: str) -> bool:
    path = name.split(" (", 1)[1].rstrip(")")
    return "/" in path and not path.startswith(("bot/",) + _PLUMBING)


if __name__ == "__main__":  # `python -m benchmarks.profiling RAW_FILE`: the summary of a kept profile
    print(json.dumps(summarize(Path(sys.argv[1]), top=25), indent=2, ensure_ascii=False))
