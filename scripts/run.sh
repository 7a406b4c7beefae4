#!/usr/bin/env bash
# Run the bot. With TELEGRAM_BOT_TOKEN set (environment or .env): the real bot. Without: the offline sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m bot run "$@"
