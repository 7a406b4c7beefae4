"""Shared fixtures: the integration bench (real PTB + stand-in + SQLite file + virtual clock), and the PostgreSQL
pass (`BOT_TEST_DATABASE=postgresql://…`: every test's SQLite file becomes a PostgreSQL database, tests/pg_support.py;
tests marked `sqlite_only` are about the SQLite file itself and are skipped there, with their reason).

Which tests the PostgreSQL pass runs (scripts/test.sh): the SQLite pass, given `--list-pure=FILE`, writes there the
tests that passed or failed without opening a database (no `Store.open`, no database handed to a `python -m bot`
child: domain, parsing, rendering, CLI text…); the PostgreSQL pass, given `--skip-pure=FILE`, leaves them out, since
they would run exactly as they did. Everything else runs on both: the tests that open a database, the ones skipped
in the SQLite pass (PostgreSQL-only tests), and any test the list does not know. Without these options every test
runs, as before.

With `--skip-covered` too, the PostgreSQL pass also leaves out the database tests whose SQL other tests already run
there: the SQLite pass notes, per test, the product statements it sent through the storage port and its duration
(FILE with the suffix `.sql.json`), and the PostgreSQL pass keeps every test of tests/storage/ and tests/export/,
every test marked `postgres_too` or that hands its database to a `python -m bot` child, then, greedily, the tests
that run the most statements not yet run per second, until every statement is run at least once on PostgreSQL
(`pg_support.select_covering`; the left-out ids go to FILE with the suffix `.covered.txt`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg_support  # noqa: E402
from harness import Bench  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spinal-pro-bot", "which tests the PostgreSQL pass runs (scripts/test.sh)")
    group.addoption(
        "--list-pure",
        metavar="FILE",
        default=None,
        help="SQLite pass: write to FILE the ids of the tests that ran without opening a database",
    )
    group.addoption(
        "--skip-pure",
        metavar="FILE",
        default=None,
        help="PostgreSQL pass: leave out the tests listed in FILE (written by --list-pure)",
    )
    group.addoption(
        "--skip-covered",
        action="store_true",
        default=False,
        help="PostgreSQL pass, with --skip-pure: also leave out the database tests whose SQL statements the kept "
        "tests already run (from the SQLite pass's FILE.sql.json)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not pg_support.ENABLED:
        pg_support.note_database_openings()
        pg_support.note_statements()


_outcomes: dict[str, str] = {}
"""Test id → "pure" (ran without opening a database), "database", or "skipped"."""

_database_tests: dict[str, dict[str, object]] = {}
"""Test id → {"seconds": its setup + call + teardown time, "sql": statement keys, "child": gave a child its database}."""

_seconds: dict[str, float] = {}

# Directories whose every test runs in the PostgreSQL pass whatever its SQL: the storage adapters themselves, and the
# exports, whose output depends on the values each engine's driver returns (dates, numbers).
ALWAYS_ON_POSTGRES = ("tests/storage/", "tests/export/")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    pg_support.opened_database = False
    pg_support.statements.clear()
    pg_support.gave_child = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if call.when == "teardown":  # on the report, so that it reaches the controller under pytest-xdist too
        properties = outcome.get_result().user_properties
        properties.append(("opened_database", pg_support.opened_database))
        properties.append(("sql", sorted(pg_support.statements)))
        properties.append(("child", pg_support.gave_child))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration
    if report.skipped:
        _outcomes[report.nodeid] = "skipped"
    elif report.when == "teardown" and _outcomes.get(report.nodeid) != "skipped":
        properties = dict(report.user_properties)
        opened = properties.get("opened_database", True)
        _outcomes[report.nodeid] = "database" if opened else "pure"
        if opened:
            _database_tests[report.nodeid] = {
                "seconds": round(_seconds[report.nodeid], 3),
                "sql": properties.get("sql", []),
                "child": bool(properties.get("child", True)),
            }


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--list-pure")
    if path is None or hasattr(session.config, "workerinput"):  # written once, by the controller
        return
    pure = sorted(nodeid for nodeid, what in _outcomes.items() if what == "pure")
    Path(path).write_text("".join(f"{nodeid}\n" for nodeid in pure), encoding="utf-8")
    database = {nodeid: _database_tests[nodeid] for nodeid, what in _outcomes.items() if what == "database"}
    Path(path).with_suffix(".sql.json").write_text(json.dumps(database, sort_keys=True), encoding="utf-8")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the PostgreSQL pass, leave out the pure tests (`--skip-pure`) and skip the tests about the SQLite file,
    saying why."""
    skip_pure = config.getoption("--skip-pure")
    if skip_pure is not None and Path(skip_pure).is_file():
        pure = set(Path(skip_pure).read_text(encoding="utf-8").split("\n"))
        kept = [item for item in items if item.nodeid not in pure]
        left_out = [item for item in items if item.nodeid in pure]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = kept
        if config.getoption("--skip-covered"):
            _leave_out_covered(config, items, Path(skip_pure))
    if not pg_support.ENABLED:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about the SQLite file itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


def _leave_out_covered(config: pytest.Config, items: list[pytest.Item], pure_file: Path) -> None:
    """Leave out the database tests whose statements the kept ones already run (`pg_support.select_covering`)."""
    sql_file = pure_file.with_suffix(".sql.json")
    if not sql_file.is_file():
        return
    known: dict[str, dict[str, object]] = json.loads(sql_file.read_text(encoding="utf-8"))
    always = {
        item.nodeid
        for item in items
        if item.nodeid.startswith(ALWAYS_ON_POSTGRES)
        or item.get_closest_marker("postgres_too") is not None
        or known.get(item.nodeid, {}).get("child", True)
    }
    kept_ids, left_ids = pg_support.select_covering([item.nodeid for item in items], known, always)
    if left_ids:
        left = set(left_ids)
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in left])
        items[:] = [item for item in items if item.nodeid not in left]
        # Every xdist worker computes the same list; each writes it whole, then renames (no half-written file).
        scratch = pure_file.with_suffix(f".covered.{os.getpid()}")
        scratch.write_text("".join(f"{n}\n" for n in left_ids), encoding="utf-8")
        scratch.replace(pure_file.with_suffix(".covered.txt"))


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
