"""The interpreter settings the bot runs with: a short GIL switch interval, and a garbage collector that leaves
what start-up built alone (issue #18).

The bot is one event loop plus the database's thread (aiosqlite runs every SQLite call in a thread of its own, and
`/patient` renders its chart in a worker thread). SQLite releases the GIL while it works, so every statement ends
with that thread asking for the GIL back — and while the event loop runs Python code (PTB parsing an update, httpx
sending a reply), CPython makes it wait up to the *switch interval*, 5 ms by default, before handing it over. An
answer's transaction is about ten statements under one write lock, so every wait for the GIL is a wait for every
other answer queued behind that lock.

With a 0.5 ms interval the database thread gets the GIL back almost at once. What it guards against is
measured by `tests/test_interpreter.py`: with four tasks keeping the loop busy in short slices of Python, CPython's
5 ms let no `SELECT 1` through in 0.8 s (one waited 35 s), the bot's interval about 60. In the `pace` benchmark
(100 patients at 1–2 s per question, the loop 80–85 % busy) the two gave the same figures within run-to-run noise
(medians of 3 runs, 2026-12-03: p99 press → next question 586 ms with it, 554 ms without): the setting removes a
stall that the test shows when the loop never idles, not the tail of that benchmark (a saturated load with and
without it was not compared). The cost is more GIL hand-offs when two threads are busy at once.
"""

from __future__ import annotations

import gc
import sys

#: CPython's default is 0.005 s; the interpreter's docs leave the value to the application. 0.001 and 0.0002 s
#: gave the same pace figures as 0.0005 s within noise (one run each).
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def share_the_gil_quickly() -> None:
    """Lower the GIL switch interval to `GIL_SWITCH_INTERVAL_SECONDS` (never raise one set lower already)."""
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_SECONDS:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


_heap_settled = False


def settle_the_heap() -> None:
    """Once the bot is built and started, before the first update: collect, then move every object alive now (the
    modules, python-telegram-bot, the questionnaires, rules and catalogs) out of the garbage collector's sight.

    Why: CPython's full collection walks every tracked object, and it holds the GIL while it does, so the event loop
    and the database's thread both stop. Under the `pace` load it ran every 6–7 s and took 120–180 ms each time
    (`SPB_BENCH_TRACE`, 2026-12-04): every answer in flight then waited that long, which is most of the tail above
    the p99 target of 250 ms once the first answers' burst is over. `gc.freeze` (CPython ≥ 3.7, the documented
    use: objects that live as long as the process) leaves the collector what the bot creates while it runs.

    What it costs: an object frozen here is never collected as part of a cycle; it is still freed by reference
    counting. Start-up objects live until exit anyway. Once per process: the test suite builds many bots in one
    interpreter, and freezing each one's objects would keep their cycles for good.
    """
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()
