"""A clock that starts at a chosen instant and then runs at real speed, shared by two processes.

The bot must believe it is a weekday morning (the dispatcher sends nothing in quiet hours, and a study day must be
a given day), while latencies are real elapsed time. `BenchClock(start, origin)` reads `start + (time.time() -
origin)`: the bot process and the driver process build it from the same two numbers, so they agree on "now" and
the stand-in can date messages and record requests on the same time line as the driver's injections.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass
class BenchClock:
    """`bot.clock.Clock` running at real speed from `start` (UTC-aware), counted from epoch second `origin`."""

    start: datetime
    origin: float

    @classmethod
    def starting_at(cls, start: datetime) -> BenchClock:
        if start.tzinfo is None:
            raise ValueError("BenchClock needs a timezone-aware start")
        return cls(start.astimezone(UTC), time.time())

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.time() - self.origin)

    def timestamp(self) -> float:
        """Epoch seconds of `now()`: what the stand-in records and what the driver stamps its injections with."""
        return self.start.timestamp() + (time.time() - self.origin)

    def jump(self, moment: datetime) -> None:
        """Make `now()` read `moment` from here on (both processes must be told)."""
        self.start = moment.astimezone(UTC)
        self.origin = time.time()
