"""Measuring from inside the bot process: the dispatcher's due query, process memory and CPU.

The due query is the storage module's own constant (`bot.storage.due.DUE_PATIENTS_SQL`, which
`due.due_patients` runs for every tick), so the benchmark times exactly the statement the product runs.
"""

from __future__ import annotations

import os
from typing import Any

from bot.storage import due

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def due_query_sql() -> str:
    """The SQL of the "what is due" SELECT the dispatcher's tick runs (`bot.storage.due.DUE_PATIENTS_SQL`)."""
    return due.DUE_PATIENTS_SQL


def memory_kb(pid: int) -> dict[str, int]:
    """Resident set size now and its peak (VmRSS, VmHWM), in KiB, from /proc (Linux)."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by process `pid` (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds spent non-idle by all the machine's cores since boot (/proc/stat, Linux)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def explain(rows: list[Any]) -> list[str]:
    """EXPLAIN QUERY PLAN rows → their `detail` column, for the results file."""
    return [str(row[3]) for row in rows]
