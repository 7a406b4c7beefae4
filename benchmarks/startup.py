"""Start-up cost of the bot's data and database, in a fresh process (issue 31: what the screen adds at start-up).

`python -m benchmarks.startup` imports the Telegram adapter, then loads and validates every data file (questionnaires,
rules, schedule, opioids, sites, the free-text vocabulary) and opens a fresh SQLite database (migrations included),
as `python -m bot run` does before it talks to Telegram, and prints the seconds of each step as one JSON line. Run it
under `farm-bench` for medians over whole processes (the interpreter's own start is in farm-bench's figure, not in
this one's).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path


async def _build(database: Path) -> float:
    from bot.bootstrap import build_services
    from bot.clock import SystemClock
    from bot.config import load_settings

    started = time.perf_counter()
    settings = load_settings(BOT_DATABASE=str(database))
    services = await build_services(settings, SystemClock())
    elapsed = time.perf_counter() - started
    await services.store.close()
    return elapsed


def main() -> None:
    started = time.perf_counter()
    import bot.telegram.app  # noqa: F401  (the adapter and everything it imports)

    imported = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        built = asyncio.run(_build(Path(folder) / "bot.sqlite3"))
    print(json.dumps({"import_s": round(imported, 3), "data_and_database_s": round(built, 3)}))


if __name__ == "__main__":
    main()
