"""The one interpreter setting the bot runs with: a short GIL switch interval (issue #18).

The bot is one event loop plus the database's thread (aiosqlite runs every SQLite call in a thread of its own, and
`/patient` renders its chart in a worker thread). SQLite releases the GIL while it works, so every statement ends
with that thread asking for the GIL back — and while the event loop runs Python code (PTB parsing an update, httpx
sending a reply), CPython makes it wait up to the *switch interval*, 5 ms by default, before handing it over. An
answer's transaction is about ten statements under one write lock, so at 60 answers/s the lock was held 9 ms
(p50) to 94 ms (p99) per transaction for about 1–2 ms of database work, every other answer queued behind it, and a
patient waited 0.5 s for the next question at p99 where the bare PTB app (no thread) answered in 40 ms.

With a 0.5 ms interval the database thread gets the GIL back almost at once: same load, same machine, p99 press →
next question 552 → 151 ms, p50 80 → 18 ms, the write lock held 3 ms (p50) instead of 9 ms
(`python -m benchmarks --only pace`; figures in the README). The cost is more GIL hand-offs when two threads are
busy at once, which is exactly when the event loop must not sit on the lock.
"""

from __future__ import annotations

import sys

#: CPython's default is 0.005 s. Measured on 2 cores (benchmarks/README.md, "pace"): 0.0005 s removes the
#: database thread's wait without measurable cost; the interpreter's own docs leave the value to the application.
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def share_the_gil_quickly() -> None:
    """Lower the GIL switch interval to `GIL_SWITCH_INTERVAL_SECONDS` (never raise one set lower already)."""
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_SECONDS:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
