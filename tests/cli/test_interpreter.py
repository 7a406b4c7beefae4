"""The interpreter settings the bot runs with (issue #18, `bot.interpreter`): the GIL switch interval, and the
heap built at start-up frozen out of the garbage collector's full collections.

The built application has it, and with it the database's thread is not kept waiting for the GIL while the event
loop is busy with Python work (in the `pace` benchmark it made no measurable difference: benchmarks/README.md, history, 2026-12-03).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import Bench

from bot.clock import VirtualClock
from bot.interpreter import GIL_SWITCH_INTERVAL_SECONDS, share_the_gil_quickly
from bot.storage.store import Store

CPYTHON_DEFAULT = 0.005


@pytest.fixture
def default_interval() -> Iterator[None]:
    """Each test starts from CPython's default and leaves the interval as it found it."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(CPYTHON_DEFAULT)
    yield
    sys.setswitchinterval(before)


def test_lowers_the_interval_and_never_raises_it(default_interval: None) -> None:
    share_the_gil_quickly()
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_SECONDS)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS / 2)
    share_the_gil_quickly()
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_SECONDS / 2)


async def test_the_application_as_built_runs_with_the_short_interval(default_interval: None, bench: Bench) -> None:
    from bot.telegram.app import build_application

    sys.setswitchinterval(CPYTHON_DEFAULT)  # whatever the bench's own application set
    assert bench.services is not None
    build_application(bench.services, token="1:x", base_url=bench.standin.base_url, tick=None, rate_limiter=False)
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_SECONDS)


async def _round_trips_while_loop_busy(store: Store, seconds: float = 0.8) -> int:
    """How many database round trips (aiosqlite's thread) complete within `seconds` while other tasks keep the
    event loop running Python code."""
    done = False
    completed = 0

    async def busy() -> None:
        while not done:
            until = time.perf_counter() + 0.0003  # short slices of pure Python, like parsing one update
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    async def reads(deadline: float) -> None:
        nonlocal completed
        while not done:
            async with store.read() as tx:
                await tx.fetchone("SELECT 1")
            if time.perf_counter() <= deadline:
                completed += 1

    workers = [asyncio.create_task(busy()) for _ in range(4)]
    reader = asyncio.create_task(reads(time.perf_counter() + seconds))
    await asyncio.sleep(seconds)
    done = True  # the workers stop, so a read still waiting for the GIL finishes at once (and is not counted)
    await asyncio.gather(reader, *workers)
    return completed


@pytest.mark.sqlite_only
async def test_the_database_thread_is_not_kept_waiting_for_the_gil(default_interval: None, tmp_path: Path) -> None:
    """On a quiet 2-core machine, CPython's 5 ms interval let 0 reads through in 0.8 s here (one `SELECT 1` waited
    3 ms to 35 s for the GIL); the bot's interval lets about 60 through. At least 15 (≤ 50 ms a read) leaves a wide
    margin for a loaded machine, where another process on the second core happens to shorten the waits."""
    store = await Store.open(tmp_path / "gil.sqlite3", VirtualClock(datetime(2026, 12, 1, 9, tzinfo=UTC)))
    try:
        share_the_gil_quickly()
        completed = await _round_trips_while_loop_busy(store)
    finally:
        await store.close()
    assert completed >= 15, completed


_FREEZE_TWICE = """
import gc
from bot.interpreter import settle_the_heap
built_at_start = [[n] for n in range(50_000)]  # objects that live as long as the process, like PTB's (lists:
# always tracked by the collector, unlike a dict of numbers)
assert gc.get_freeze_count() == 0
settle_the_heap()
frozen = gc.get_freeze_count()
assert frozen >= 50_000, frozen
made_later = [[n] for n in range(1_000)]
settle_the_heap()  # once per process: what was made since stays collectable
assert gc.get_freeze_count() == frozen, (gc.get_freeze_count(), frozen)
tracked = {id(o) for o in gc.get_objects()}
assert id(made_later[0]) in tracked and id(built_at_start[0]) not in tracked
print("ok")
"""


def test_the_heap_built_at_start_up_is_frozen_once_per_process() -> None:
    """In a fresh interpreter (freezing this test process's heap would keep its garbage for good): the objects alive
    at `settle_the_heap` leave the collector's generations, and a second call freezes nothing more."""
    done = subprocess.run(
        [sys.executable, "-c", _FREEZE_TWICE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
