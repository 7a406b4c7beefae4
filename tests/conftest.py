"""Shared fixtures: the integration bench (real PTB + stand-in + SQLite file + virtual clock)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench  # noqa: E402


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    b = Bench(tmp_path)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()
