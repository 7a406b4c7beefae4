"""A tiny terminal progress bar on stderr, hand-written so the report needs no new dependency.

Drawn only on a terminal: redirected to a file or a CI log, a carriage-return animation is noise, so it stays
silent there.
"""

from __future__ import annotations

import sys
from typing import Final, TextIO

__all__ = ["ProgressBar"]

BAR_WIDTH: Final[int] = 30


class ProgressBar:
    """`bar = ProgressBar(total, "patients")`, then `bar.advance()` per step and `bar.close()` at the end."""

    def __init__(self, total: int, label: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled and bool(isatty and isatty())

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.label}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
