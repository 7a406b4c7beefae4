"""Sites: numbers required, working hours and French public holidays decide what the same-day advice promises."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap import QUESTIONNAIRES_DIR, build_services
from bot.clock import VirtualClock
from bot.config import load_settings
from bot.delivery.advice_text import advice_text, callback_promise
from bot.domain.sites import SitesFileError, load_sites, next_callback, parse_sites
from bot.storage import patients
from bot.storage.store import Store

PARIS = ZoneInfo("Europe/Paris")
SITES = load_sites(QUESTIONNAIRES_DIR / "sites.yaml")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("moment", "today", "expected"),
    [
        (paris(2027, 3, 1, 10, 0), True, paris(2027, 3, 1, 10, 0)),  # Monday, open
        (paris(2027, 3, 1, 7, 30), True, paris(2027, 3, 1, 9, 0)),  # Monday before opening
        (paris(2027, 3, 5, 19, 30), False, paris(2027, 3, 8, 9, 0)),  # Friday evening → Monday
        (paris(2027, 3, 6, 12, 0), False, paris(2027, 3, 8, 9, 0)),  # Saturday → Monday
        (paris(2027, 5, 6, 11, 0), False, paris(2027, 5, 7, 9, 0)),  # Ascension Thursday → Friday
        (paris(2027, 12, 24, 18, 0), False, paris(2027, 12, 27, 9, 0)),  # Christmas Eve evening → Monday 27
    ],
)
def test_next_callback_knows_evenings_weekends_and_public_holidays(
    moment: datetime, today: bool, expected: datetime
) -> None:
    callback = next_callback(SITES.get("main"), moment)  # type: ignore[arg-type]
    assert (callback.today, callback.at) == (today, expected)


def test_alsace_moselle_keeps_good_friday() -> None:
    good_friday = paris(2027, 3, 26, 10, 0)
    assert next_callback(SITES.get("main"), good_friday).open_now  # type: ignore[arg-type]
    metz = next_callback(SITES.get("METZ"), good_friday)  # type: ignore[arg-type]
    assert not metz.today and metz.at == paris(2027, 3, 30, 9, 0)  # Easter Monday is a holiday everywhere


def test_the_same_day_promise_never_says_today_when_nobody_works_today() -> None:
    site = SITES.get("main")
    assert "aujourd'hui" not in callback_promise(site, paris(2027, 3, 6, 10, 0))
    assert "samedi" not in callback_promise(site, paris(2027, 3, 6, 10, 0))
    assert "lundi 8 mars" in callback_promise(site, paris(2027, 3, 6, 10, 0))
    assert "aujourd'hui, à partir de 9 h" in callback_promise(site, paris(2027, 3, 8, 7, 0))


@pytest.mark.parametrize("advice", ["neuro", "toxicity", "fever", "urgent", "inclusion", "same_day"])
def test_every_advice_names_the_emergency_numbers_and_the_sites_numbers(advice: str) -> None:
    text = advice_text(advice, SITES.get("LYON"), paris(2027, 3, 6, 2, 0))
    assert "15 (SAMU)" in text and "112" in text and "114" in text
    assert "04 65 71 10 10" in text and "04 65 71 20 20" in text
    assert "Si ce symptôme est présent" not in text


def test_a_site_without_numbers_is_refused_naming_it() -> None:
    with pytest.raises(SitesFileError, match="site NANCY: a daytime_phone and an on_call_phone are required"):
        parse_sites({"sites": [{"code": "NANCY", "name": "Nancy", "daytime_phone": "03 83 00 00 00"}]})
    with pytest.raises(SitesFileError, match="not a phone number"):
        parse_sites({"sites": [{"code": "X", "name": "X", "daytime_phone": "call us", "on_call_phone": "1"}]})


async def test_start_up_refuses_patients_at_a_site_missing_from_the_file(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("UTC")))
    database = tmp_path / "bot.sqlite3"
    store = await Store.open(database, clock)
    async with store.transaction() as tx:
        await patients.ensure_site(tx, "NANCY", clock.now())
        await patients.create_patient(
            tx,
            study_id="P-1",
            site_code="NANCY",
            arm="standard",
            rt_start=clock.now().date(),
            fractions=1,
            now=clock.now(),
        )
        await tx.commit()
    await store.close()
    settings = load_settings(BOT_DATABASE=str(database))
    with pytest.raises(SitesFileError, match="site 'NANCY' has patients but no entry"):
        await build_services(settings, clock)


def test_run_with_a_site_missing_its_numbers_stops_with_one_sentence_naming_it(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    sites = tmp_path / "sites.yaml"
    sites.write_text('sites:\n  - {code: NANCY, name: "Nancy", daytime_phone: "03 83 00 00 00"}\n', encoding="utf-8")
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": "123456:TEST-token-not-a-real-one_abcdefgh",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        "CLINICIAN_CHAT_ID": "-1001",
        "CLINICIAN_USER_IDS": "1",
        "BOT_DATABASE": str(tmp_path / "bot.sqlite3"),
        "BOT_SITES_FILE": str(sites),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "NANCY" in lines[0] and "on_call_phone" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
