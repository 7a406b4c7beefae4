"""Shared fixtures: the integration bench (real PTB + stand-in + SQLite file + virtual clock), and the PostgreSQL
pass (`BOT_TEST_DATABASE=postgresql://…`: every test's SQLite file becomes a PostgreSQL database, tests/pg_support.py;
tests marked `sqlite_only` are about the SQLite file itself and are skipped there, with their reason)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg_support  # noqa: E402
from harness import Bench  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the PostgreSQL pass, skip the tests about the SQLite file, saying why."""
    if not pg_support.ENABLED:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about the SQLite file itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[None]:
    pg_support.create_template()
    try:
        yield
    finally:
        pg_support.drop_template()


@pytest.fixture(autouse=True)
def _postgres_pass(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """With BOT_TEST_DATABASE set, this test's `Store.open(<file>)` opens a fresh PostgreSQL database (named after
    the file, so a restart on the same file finds its data), dropped when the test ends."""
    if not pg_support.ENABLED or request.node.get_closest_marker("sqlite_only") is not None:
        yield
        return
    request.getfixturevalue("_pg_template")
    databases = pg_support.TestDatabases()
    pg_support.install(databases, monkeypatch)
    try:
        yield
    finally:
        databases.drop_all()


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    b = Bench(tmp_path)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()
