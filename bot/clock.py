"""Injectable time source.

Everything that asks "what time is it" (schedule, reminders, expiry, audit) takes a `Clock`, so tests and the
sandbox can run 90 days in seconds with `VirtualClock` while production uses `SystemClock`. Times are always
timezone-aware UTC; conversion to Europe/Paris happens only where a human reads or chooses a time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to (tests, sandbox, demo)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (not earlier than now)."""
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError("time does not go backwards")
        self._now = moment


def utc_iso(moment: datetime) -> str:
    """Format a timezone-aware time as UTC ISO-8601 (how every time is stored)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every stored time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """Parse a stored UTC ISO-8601 time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
