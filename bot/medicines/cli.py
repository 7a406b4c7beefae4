"""`python -m bot medicines import DIR`: load the BDPM files a site downloaded into the database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.clock import SystemClock
from bot.config import Settings
from bot.medicines.bdpm import BdpmError, read_directory


def add_command(sub: argparse._SubParsersAction) -> None:
    medicines = sub.add_parser("medicines", help="the French public drug database (BDPM) for box photos")
    actions = medicines.add_subparsers(dest="medicines_command", required=True)
    load = actions.add_parser(
        "import",
        help="load CIS_bdpm.txt, CIS_CIP_bdpm.txt and CIS_COMPO_bdpm.txt from DIR (replaces the previous import)",
    )
    load.add_argument("directory", help="folder holding the three files")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        data = read_directory(Path(args.directory))
    except BdpmError as exc:
        print(exc, file=sys.stderr)
        return 2
    asyncio.run(_import(settings, data))
    for f in data.files:
        print(f"{f.name}: {f.rows} rows, {f.encoding}, dated {f.file_date}")
    return 0


async def _import(settings: Settings, data: object) -> None:
    from bot.medicines.bdpm import BdpmData
    from bot.storage import audit, medicines
    from bot.storage.engines import open_store

    assert isinstance(data, BdpmData)
    clock = SystemClock()
    store = await open_store(settings.bot_database, clock)
    try:
        async with store.transaction() as tx:
            await medicines.replace_bdpm(tx, data, now=clock.now())
            await audit.record(
                tx,
                at=clock.now(),
                actor="cli",
                action="bdpm_import",
                entity="bdpm",
                new_value={f.name: {"rows": f.rows, "encoding": f.encoding, "date": f.file_date} for f in data.files},
            )
            await tx.commit()
    finally:
        await store.close()
