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
# Types of the modules listed in pyproject.toml ([tool.mypy] files); the others are followed silently.
.venv/bin/mypy || { echo "mypy found problems: .venv/bin/mypy" >&2; exit 1; }
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
