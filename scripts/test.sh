#!/usr/bin/env bash
# Run the whole test suite (set-up included). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test || exit 1
# The browser test drives Debian's Chromium (Playwright cannot download its own browser here).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's chromium for the browser test…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
    || echo "chromium could not be installed: the browser test will be skipped" >&2
fi
# Lint first (a second or two): pyflakes, pycodestyle and the logging rules, configured in pyproject.toml.
.venv/bin/ruff check . || { echo "ruff found problems: .venv/bin/ruff check . (many fix themselves with --fix)" >&2; exit 1; }
.venv/bin/ruff format --check . >/dev/null || { echo "ruff format would change files: .venv/bin/ruff format ." >&2; exit 1; }
# Types of the whole package (pyproject.toml [tool.mypy] files = ["bot"]; bot.domain under strict flags).
.venv/bin/mypy || { echo "mypy found problems: .venv/bin/mypy" >&2; exit 1; }
# Where the time went (docs/operations.md, "Test suite"): waiting, not computing. Every commit of the bot's SQLite
# file is fsynced (synchronous=FULL, as in production), and the disk made the test process idle most of the run. So
# the tests' files go to a scratch folder in memory (/dev/shm, a tmpfs: fsync costs nothing there), through TMPDIR,
# which pytest's tmp_path, tempfile and the `python -m bot` children all follow. Removed at the end.
scratch_root=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_root=/dev/shm
scratch="$(mktemp -d "$scratch_root/spinal-pro-bot-tests.XXXXXX")"
pg_dir=""
cleanup() {
  if [ -n "$pg_dir" ]; then bash scripts/pg_test_cluster.sh stop "$pg_dir"; rm -rf "$pg_dir"; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
export TMPDIR="$scratch"
# Both passes run on every core through pytest-xdist (`-n auto`; TEST_WORKERS=1 runs in one process). Extra arguments
# come last, so `-n 0` or `-x` given to test.sh win.
workers=()
if [ "${TEST_WORKERS:-auto}" != 1 ] && .venv/bin/python -c 'import xdist' 2>/dev/null; then
  workers=(-n "${TEST_WORKERS:-auto}" --dist worksteal)  # worksteal: an idle worker takes over queued tests
fi
# Pass 1: SQLite, the default engine. It lists the tests that ran without opening a database (tests/conftest.py).
pure="$scratch/pure-tests.txt"
.venv/bin/python -m pytest -q -p no:cacheprovider "${workers[@]}" --list-pure="$pure" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
# Pass 2: on PostgreSQL (bot/storage/postgres.py), on a private cluster started for this run and stopped at the end,
# the tests that open a database: those that ran in pass 1 without opening one (domain, parsing, rendering, CLI
# text…) are left out (--skip-pure), as they would run exactly the same. Tests about the SQLite file itself are
# skipped there (marker sqlite_only, with their reason).
pg_skip() { echo "PostgreSQL could not be started: the PostgreSQL pass is skipped ($1)" >&2; }
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's postgresql for the PostgreSQL pass…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
    || echo "postgresql could not be installed" >&2
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pg_skip "no PostgreSQL server installed, and apt-get could not install Debian's postgresql"
  exit "$status"
fi
pg_dir="$(mktemp -d "$scratch_root/spinal-pro-bot-pg.XXXXXX")"  # beside $scratch: the server's user must reach it
if ! pg_url="$(bash scripts/pg_test_cluster.sh start "$pg_dir" 2>"$pg_dir/start.err")"; then
  pg_skip "$(tr '\n' ' ' <"$pg_dir/start.err" | cut -c1-300)"
  exit "$status"
fi
echo "PostgreSQL pass on a private cluster ($pg_url)" >&2
# And, of the database tests, it runs those that together send every product SQL statement the SQLite pass saw
# (--skip-covered: the storage and export tests, those marked postgres_too and those that start a `python -m bot`
# child always run; TEST_PG_ALL=1 runs every database test).
covered=(--skip-covered)
[ "${TEST_PG_ALL:-0}" = 1 ] && covered=()
BOT_TEST_DATABASE="$pg_url" .venv/bin/python -m pytest -q -p no:cacheprovider "${workers[@]}" --skip-pure="$pure" \
  "${covered[@]}" -m "not alone" "$@"
pg_status=$?
# The tests marked `alone` (two bot processes sharing a clock, tests/e2e/test_replicas.py) run with no other test
# beside them (the two replica journeys side by side, one per worker).
BOT_TEST_DATABASE="$pg_url" .venv/bin/python -m pytest -q -p no:cacheprovider "${workers[@]}" -m alone "$@"
alone_status=$?
if [ "$alone_status" -ne 0 ] && [ "$alone_status" -ne 5 ] && { [ "$pg_status" -eq 0 ] || [ "$pg_status" -eq 5 ]; }; then
  pg_status=$alone_status
fi
if [ -s "${pure%.txt}.covered.txt" ]; then
  echo "PostgreSQL pass: $(wc -l <"${pure%.txt}.covered.txt") database tests left out, their SQL run there by the others" >&2
fi
if [ "$pg_status" -eq 5 ]; then
  if [ -s "$pure" ]; then  # every selected test is pure: nothing for PostgreSQL to add
    echo "PostgreSQL pass: none of the selected tests opens a database" >&2; pg_status=0
  else
    echo "pytest collected no tests in the PostgreSQL pass: that is a failure" >&2; pg_status=1
  fi
fi
[ "$status" -ne 0 ] && exit "$status"
exit "$pg_status"
