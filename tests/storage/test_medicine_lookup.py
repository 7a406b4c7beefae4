"""Issue 37, look-up layer: BDPM import (both encodings, twice), CIP13 → product → the catalogue's product id."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import VirtualClock
from bot.domain.omed import load_opioid_catalogue
from bot.medicines.bdpm import decode_bdpm, read_directory
from bot.medicines.matching import match_product
from bot.resources import data_path
from bot.storage import medicines
from bot.storage.engines import open_store

FIXTURE = Path(__file__).parents[1] / "fixtures" / "bdpm"
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
TABLES = ("bdpm_products", "bdpm_presentations", "bdpm_compositions")
CATALOGUE = load_opioid_catalogue(data_path("questionnaires") / "opioids.yaml")


def cip(n: int) -> str:
    from bot.medicines.synthetic import ean_check_digit

    body = f"3400999{n:05d}"
    return body + ean_check_digit(body)


async def _dump(store: object) -> dict[str, list[tuple[object, ...]]]:
    async with store.read() as tx:  # type: ignore[attr-defined]
        return {t: [tuple(r) for r in await tx.fetchall(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in TABLES}


async def _import(store: object, folder: str) -> None:
    async with store.transaction() as tx:  # type: ignore[attr-defined]
        await medicines.replace_bdpm(tx, read_directory(FIXTURE / folder), now=NOW)
        await tx.commit()


def test_encoding_is_detected() -> None:
    assert decode_bdpm("gélule".encode("cp1252")) == ("gélule", "cp1252")
    assert decode_bdpm("gélule".encode()) == ("gélule", "utf-8")
    assert decode_bdpm(b"\xef\xbb\xbfg\xc3\xa9lule") == ("gélule", "utf-8")
    assert decode_bdpm(b"\x81") == ("\x81", "latin-1")  # undefined in cp1252
    assert {f.encoding for f in read_directory(FIXTURE / "cp1252").files} == {"cp1252"}
    assert {f.encoding for f in read_directory(FIXTURE / "utf8").files} == {"utf-8"}


async def test_import_twice_gives_the_same_table_and_the_other_encoding_the_same_names(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db", VirtualClock(NOW))
    try:
        await _import(store, "utf8")
        first = await _dump(store)
        assert len(first["bdpm_presentations"]) == 9
        await _import(store, "utf8")
        assert await _dump(store) == first
        await _import(store, "cp1252")
        assert await _dump(store) == first  # same names, accents included
        async with store.read() as tx:
            box = await medicines.lookup(tx, cip(1))
            assert await medicines.lookup(tx, cip(99)) is None
            files = await tx.fetchall("SELECT name, encoding, row_count FROM bdpm_files ORDER BY name")
        assert box is not None and box.facts.display == "Skenan LP 30 mg, gélule"
        assert box.bdpm_date is not None and len(box.bdpm_date) == 10
        assert [tuple(f) for f in files] == [
            ("CIS_CIP_bdpm.txt", "cp1252", 9),
            ("CIS_COMPO_bdpm.txt", "cp1252", 13),
            ("CIS_bdpm.txt", "cp1252", 9),
        ]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "skenan"),
        (2, "actiskenan"),
        (3, "klipal600"),
        (4, "klipal300"),
        (5, "oxycodonelp"),
        (6, "fentapatch"),
        (7, None),  # Doliprane: not an opioid
        (8, "abstral"),  # sublingual fentanyl is the catalogue's "buccal"
        (9, None),  # immediate-release oxycodone generic: no such catalogue product (never a guess)
    ],
)
async def test_cip13_to_catalogue_product(tmp_path: Path, n: int, expected: str | None) -> None:
    store = await open_store(tmp_path / "bot.db", VirtualClock(NOW))
    try:
        await _import(store, "cp1252")
        async with store.read() as tx:
            box = await medicines.lookup(tx, cip(n))
        assert box is not None
        assert match_product(box.facts, CATALOGUE) == expected
    finally:
        await store.close()


async def test_only_the_open_questions_products_match(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db", VirtualClock(NOW))
    try:
        await _import(store, "utf8")
        async with store.read() as tx:
            box = await medicines.lookup(tx, cip(2))
        assert box is not None
        assert match_product(box.facts, CATALOGUE, among=["skenan", "oxycontin", "autre"]) is None
    finally:
        await store.close()


@pytest.mark.sqlite_only("runs the command-line import on the test's SQLite file")
def test_command_line_import(tmp_path: Path) -> None:
    folder = tmp_path / "bdpm"
    shutil.copytree(FIXTURE / "cp1252", folder)
    env = {"BOT_DATABASE": str(tmp_path / "bot.db"), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "medicines", "import", str(folder)],
            env=env,
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[2],
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "CIS_CIP_bdpm.txt: 9 rows, cp1252" in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "bot", "medicines", "import", str(tmp_path / "nowhere")],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert missing.returncode == 2 and "CIS_bdpm.txt" in missing.stderr


def test_the_product_questions_are_recognised_without_a_flag() -> None:
    """bot/services/medicine_photos.is_product_item finds exactly the opioid product choices of the questionnaires."""
    from bot.domain.questionnaire import load_questionnaires
    from bot.services.medicine_photos import is_product_item

    questionnaires = load_questionnaires(data_path("questionnaires"))
    found = {item.id for q in questionnaires.values() for item in q.items if is_product_item(item, CATALOGUE)}
    assert found == {"bg_product", "bg2_product", "rescue_product"}
