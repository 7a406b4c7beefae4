#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: virtualenv in .venv/, install, compile the French catalog.
# Re-running is cheap: the install is skipped while pyproject.toml and setup.py are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  for candidate in python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# `setup.sh` (run.sh): what running needs. `setup.sh test` (test.sh): that plus the test extras (pytest, Playwright).
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
hash="$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)"
stamp=".venv/.installed-$hash${extras:+-test}"
if [ ! -f "$stamp" ] && { [ -n "$extras" ] || [ ! -f ".venv/.installed-$hash-test" ]; }; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".$extras"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
.venv/bin/python -m bot compile-catalog >/dev/null
