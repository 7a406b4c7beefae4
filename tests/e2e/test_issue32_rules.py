"""Issue 32, items 3-6: no dangerous answer waits for Monday, no fictional number reaches a patient.

End to end through the real Application, the Bot API stand-in and the virtual clock (tests/harness.py), except the
start-up refusal (a real `python -m bot run` subprocess) and the advice texts at every hour (pure).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import Bench, Patient, answer_all, current_prompt, default_answer, give

from bot.delivery.advice_text import advice_text
from bot.domain.rules import ADVICE_ORDER
from bot.domain.sites import load_sites, parse_sites, same_day_callback

ROOT = Path(__file__).resolve().parents[2]
RT = date(2027, 3, 3)
PARIS = ZoneInfo("Europe/Paris")
ON_CALL = "01 99 00 20 20"  # the example site "main"'s on-call number


async def both_baseline_parts(bench: Bench, patient: Patient, answers: dict[str, object]) -> None:
    """Issue 35: the baseline is in two parts; the side effects, same-day signs and the message item are in the
    second (sent the next day). The clinician pushes it now (/send), so the advice is read at the same hour."""
    await answer_all(bench, patient)
    await bench.clinician_says(f"/send {patient.study_id} baseline_more")
    await answer_all(bench, patient, answers)


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


@asynccontextmanager
async def bench_at(tmp_path: Path, start: datetime, **settings: object) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path, start=start, **settings)
    await bench.start()
    try:
        yield bench
    finally:
        await bench.stop()


async def send(
    bench: Bench, patient: Patient, questionnaire: str, answers: dict[str, object] | None = None
) -> list[str]:
    await bench.clinician_says(f"/send {patient.study_id} {questionnaire}")
    while (prompt := await current_prompt(bench, patient)) is not None and prompt.questionnaire.id == "baseline_more":
        await give(bench, patient, default_answer(prompt.item))  # issue 35: the baseline's second part, due first
    prompt = await current_prompt(bench, patient)
    assert prompt is not None and prompt.questionnaire.id == questionnaire
    asked = await answer_all(bench, patient, answers)
    await bench.tick()
    return asked


def fired(bench: Bench) -> list[tuple[str, str]]:
    return rows(bench, "SELECT rule_id, severity FROM alerts WHERE severity != 'info' ORDER BY id")


def assert_numbers(text: str) -> None:
    assert "15 (SAMU)" in text and "112" in text and "SMS au 114" in text, text


# ------------------------------------------------------------------------------------ 3. same-day means now


async def test_friday_19h_vomiting_everything_gives_the_on_call_number_to_call_now(tmp_path: Path) -> None:
    # Friday 5 March 2027, 19:00 in Paris.
    async with bench_at(tmp_path, datetime(2027, 3, 5, 18, 0, tzinfo=UTC)) as bench:
        patient = await bench.join(3201, "P-32A", date(2027, 3, 10))
        await both_baseline_parts(bench, patient, {"vomit_no_fluids": "yes"})
        (advice,) = [t for t in bench.texts(3201) if "numéro de garde" in t and "maintenant" in t]
        assert f"appelez maintenant le numéro de garde : {ON_CALL}" in advice
        assert "est prévenue" not in advice  # nobody reads it before Monday: it says when it will be read
        assert "lundi 8 mars" in advice and "Elle vous appellera aujourd'hui" not in advice
        assert_numbers(advice)
        assert fired(bench) == [("vomiting_no_fluids", "same_day")]


async def test_friday_19h_night_pain_may_wait_for_monday(tmp_path: Path) -> None:
    async with bench_at(tmp_path, datetime(2027, 3, 5, 18, 0, tzinfo=UTC)) as bench:
        patient = await bench.join(3202, "P-32B", date(2027, 3, 10))
        # Issue 33: night pain at the baseline is what the team knew at inclusion (folded); new in a diary, it alerts.
        await answer_all(bench, patient, {"sp_night_pain": "no"})
        await send(bench, patient, "daily", {"sp_night_pain": "yes"})
        (advice,) = [t for t in bench.texts(3202) if "lundi 8 mars" in t]
        assert "Si cela s'aggrave d'ici là" in advice and "appelez maintenant le numéro de garde" not in advice
        assert_numbers(advice)


async def test_after_the_same_day_cut_off_today_is_not_promised(tmp_path: Path) -> None:
    # Monday 1 March 2027, 16:30 in Paris: open until 17:00, cut-off 16:00 (default: one hour before closing).
    async with bench_at(tmp_path, datetime(2027, 3, 1, 15, 30, tzinfo=UTC)) as bench:
        patient = await bench.join(3203, "P-32C", date(2027, 3, 10))
        await both_baseline_parts(bench, patient, {"cannot_swallow": "yes"})
        (advice,) = [t for t in bench.texts(3203) if "ne pourra peut-être pas vous rappeler aujourd'hui" in t]
        assert "mardi 2 mars" in advice and "appelez maintenant le service de radiothérapie : 01 99 00 10 10" in advice


def test_the_cut_off_is_per_site_and_checked() -> None:
    sites = parse_sites(
        {
            "sites": [
                {
                    "code": "A",
                    "name": "A",
                    "daytime_phone": "01 00 00 00 01",
                    "on_call_phone": "01 00 00 00 02",
                    "same_day_cutoff": "15:30",
                },
                {"code": "B", "name": "B", "daytime_phone": "01 00 00 00 01", "on_call_phone": "01 00 00 00 02"},
            ]
        }
    )
    monday_1545 = datetime(2027, 3, 1, 15, 45, tzinfo=PARIS)
    a, b = sites.get("A"), sites.get("B")
    assert a is not None and b is not None
    assert same_day_callback(a, monday_1545).today is False
    assert same_day_callback(b, monday_1545).open_now is True
    with pytest.raises(Exception, match="same_day_cutoff"):
        parse_sites(
            {
                "sites": [
                    {
                        "code": "C",
                        "name": "C",
                        "daytime_phone": "01 00 00 00 01",
                        "on_call_phone": "01 00 00 00 02",
                        "same_day_cutoff": "18:30",
                    }
                ]
            }
        )


# ------------------------------------------------------------------------------------ 4. rules that missed


async def test_fever_unknown_with_shivers_on_chemotherapy_is_urgent(bench: Bench) -> None:
    patient = await bench.join(3210, "P-32D", RT)
    await answer_all(bench, patient, {"on_chemo": "yes"})
    asked = await send(bench, patient, "daily", {"fever": "_unknown", "fever_unwell": "yes", "fever_chemo": "yes"})
    assert "fever_unwell" in asked
    assert fired(bench) == [("fever_unwell_on_chemo", "urgent")]
    (advice,) = [t for t in bench.texts(3210) if "frissons avec un grand malaise" in t]
    assert "fièvre avec une chimiothérapie" in advice and "Appelez maintenant" in advice and ON_CALL in advice


async def test_fever_unknown_without_shivers_asks_nothing_more_and_is_silent(bench: Bench) -> None:
    patient = await bench.join(3211, "P-32E", RT)
    await answer_all(bench, patient, {"on_chemo": "yes"})
    asked = await send(bench, patient, "daily", {"fever": "_unknown", "fever_unwell": "no"})
    assert "fever_unwell" in asked and "fever_chemo" not in asked
    assert fired(bench) == []
    asked = await send(bench, patient, "daily", {"fever": "no"})
    assert "fever_unwell" not in asked


async def test_fever_advice_says_chemotherapy_only_when_known(bench: Bench) -> None:
    patient = await bench.join(3212, "P-32F", RT)
    await answer_all(bench, patient, {"on_chemo": "no"})
    await send(bench, patient, "daily", {"fever": "yes", "fever_chemo": "_unknown"})
    assert fired(bench) == [("fever_chemo_unknown", "urgent")]
    (advice,) = [t for t in bench.texts(3212) if "Une fièvre, ou des frissons" in t]
    assert "avec une chimiothérapie" not in advice and "peut-être reçu une chimiothérapie" in advice


async def test_the_weekly_check_asks_fever_vomiting_and_swallowing_and_alerts(bench: Bench) -> None:
    patient = await bench.join(3213, "P-32G", RT)
    await answer_all(bench, patient, {"on_chemo": "yes"})
    asked = await send(bench, patient, "weekly", {"fever": "yes"})
    assert {"fever", "fever_chemo", "vomit_no_fluids", "cannot_swallow"} <= set(asked)
    assert fired(bench) == [("fever_on_chemo", "urgent")]
    await send(bench, patient, "weekly", {"vomit_no_fluids": "yes"})
    assert fired(bench)[-1] == ("vomiting_no_fluids", "same_day")


async def test_persistent_nine_out_of_ten_alerts_again_after_a_week(bench: Bench) -> None:
    # Issue 33 (the same news never alerts twice) replaced issue 32's 3 days: the persisting 9/10 is folded, listed
    # in every morning digest, and alerts again once it has lasted a week after the team was told (the plan failed).
    patient = await bench.join(3214, "P-32H", RT)
    await answer_all(bench, patient, {"pain_worst": 8})
    for day in range(8):  # the same 9/10 every day
        await send(bench, patient, "daily", {"pain_worst": 9})
        if day == 6:
            assert fired(bench) == [("pain_severe", "same_day")]  # days 2 to 7: the same news, not alerted
        bench.clock.advance(timedelta(days=1))
    assert fired(bench) == [("pain_severe", "same_day")] * 2  # day 8, a week after the first: alerted again
    first, again = (
        datetime.fromisoformat(at.replace("Z", "+00:00"))
        for (at,) in rows(bench, "SELECT created_at FROM alerts WHERE rule_id = 'pain_severe' ORDER BY id")
    )
    assert again - first == timedelta(days=7)
    assert rows(bench, "SELECT DISTINCT reason FROM suppressed_alerts WHERE rule_id = 'pain_severe'") == [("known",)]


async def test_eight_out_of_ten_from_a_baseline_of_seven_is_not_silent_for_ever(bench: Bench) -> None:
    patient = await bench.join(3215, "P-32I", RT)
    await answer_all(bench, patient, {"pain_worst": 7})
    for _ in range(3):
        await send(bench, patient, "daily", {"pain_worst": 8, "pain_uncontrolled": "no"})
        bench.clock.advance(timedelta(days=1))
    assert fired(bench) == [("pain_high_persistent", "same_day")]


async def test_severe_pain_without_rescue_doses_is_asked_whether_it_is_controlled(bench: Bench) -> None:
    patient = await bench.join(3216, "P-32J", RT)
    await answer_all(bench, patient)
    asked = await send(
        bench,
        patient,
        "daily",
        {"pain_worst": 7, "analgesic_same": "yes", "rescue_doses_24h": 0, "pain_uncontrolled": "yes"},
    )
    assert "pain_uncontrolled" in asked
    assert ("pain_uncontrolled", "same_day") in fired(bench)


async def test_a_change_of_treatment_asks_opioid_toxicity_at_once_without_the_gate(bench: Bench) -> None:
    patient = await bench.join(3217, "P-32K", RT)
    await answer_all(bench, patient)
    asked = await send(bench, patient, "daily", {"analgesic_same": "yes"})
    assert "opioid_signs" not in asked
    asked = await send(bench, patient, "daily", {"analgesic_same": "no", "opioid_signs": "yes"})
    assert asked.index("opioid_signs") < asked.index("new_problem_any")
    assert fired(bench) == [("opioid_toxicity", "urgent")]


async def test_myoclonus_hallucinations_and_new_confusion_are_asked_and_urgent(bench: Bench) -> None:
    patient = await bench.join(3218, "P-32L", RT)
    await answer_all(bench, patient)
    asked = await send(
        bench,
        patient,
        "daily",
        {"new_problem_any": "yes", "jerks_seeing": "yes", "confusion_thirst": "yes", "confusion_new": "yes"},
    )
    assert {"jerks_seeing", "confusion_new", "breathless"} <= set(asked)
    assert sorted(fired(bench)) == [
        ("confusion_new", "urgent"),
        ("hypercalcaemia_symptoms", "same_day"),
        ("opioid_neurotoxicity", "urgent"),
    ]


async def test_a_lot_of_diarrhoea_is_same_day(bench: Bench) -> None:
    patient = await bench.join(3219, "P-32M", RT)
    await answer_all(bench, patient)
    await send(bench, patient, "daily", {"se_diarrhoea": "3"})
    assert fired(bench) == [("diarrhoea_severe", "same_day")]


# ------------------------------------------------------------------------------------ 5. advice that is true


async def test_breathlessness_is_told_15_now_not_the_opioid_advice(bench: Bench) -> None:
    patient = await bench.join(3220, "P-32N", RT)
    await answer_all(bench, patient)
    await send(bench, patient, "daily", {"new_problem_any": "yes", "breathless": "yes"})
    assert fired(bench) == [("breathless", "urgent")]
    (advice,) = [t for t in bench.texts(3220) if "Appelez maintenant le 15 (SAMU) ou le 112" in t]
    assert "doit être vu par un médecin maintenant" in advice
    assert not any("Ne prenez pas d'autre dose" in t for t in bench.texts(3220))


async def test_a_patch_wearer_with_toxicity_signs_is_told_to_take_the_patch_off(bench: Bench) -> None:
    patient = await bench.join(3221, "P-32O", RT)
    await answer_all(bench, patient, {"bg_taking": "yes", "bg_product": "durogesic", "bg_patch": 25, "bg_more": "no"})
    await send(bench, patient, "daily", {"analgesic_same": "yes", "new_problem_any": "yes", "drowsy_breathing": "yes"})
    assert fired(bench) == [("opioid_toxicity_patch", "urgent")]
    (advice,) = [t for t in bench.texts(3221) if "Enlevez" in t]
    assert "Enlevez maintenant votre patch de fentanyl" in advice
    assert_numbers(advice)


async def test_out_of_hours_no_advice_says_the_team_is_informed(tmp_path: Path) -> None:
    # Saturday 6 March 2027, 10:00 in Paris: nobody reads the alert before Monday.
    async with bench_at(tmp_path, datetime(2027, 3, 6, 9, 0, tzinfo=UTC)) as bench:
        patient = await bench.join(3222, "P-32P", date(2027, 3, 10))
        await answer_all(bench, patient)
        await send(bench, patient, "daily", {"rf_weakness": "yes"})
        (advice,) = [t for t in bench.texts(3222) if "Appelez maintenant le 15" in t]
        assert "est prévenue" not in advice and "Elle sera lue lundi 8 mars, à partir de 9 h" in advice


@pytest.mark.parametrize("hour", [3, 10, 16, 19])
def test_every_advice_names_15_112_and_114_at_any_hour(hour: int) -> None:
    site = load_sites(ROOT / "questionnaires" / "sites.yaml").get("main")
    for weekday in (1, 6):  # Monday 1 March 2027, Saturday 6 March 2027
        moment = datetime(2027, 3, weekday, hour, 0, tzinfo=PARIS)
        for kind in ADVICE_ORDER:
            for where in (site, None):
                text = advice_text(kind, where, moment)
                assert "15" in text and "112" in text and "114" in text, (kind, moment, text)


# ------------------------------------------------------------------------------------ 6. no fictional number


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "CLINICIAN_"))}
    settings = {
        "TELEGRAM_BOT_TOKEN": "123456:TEST-token-not-a-real-one_abcdefgh",
        "CLINICIAN_CHAT_ID": "-1001",
        "CLINICIAN_USER_IDS": "1",
        "BOT_DATABASE": str(tmp_path / "bot.sqlite3"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env={**clean, **settings, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_run_with_a_real_token_and_no_sites_file_refuses_to_start_in_one_sentence(tmp_path: Path) -> None:
    # The default API base (api.telegram.org): the check comes before any network call or database access.
    line = _one_sentence(_run(tmp_path))
    assert line.startswith("BOT_SITES_FILE is not set") and "fictional" in line
    assert not (tmp_path / "bot.sqlite3").exists()


def test_run_with_a_real_token_and_an_example_site_refuses_to_start(tmp_path: Path) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        'sites:\n  - {code: NANCY, name: "Nancy", daytime_phone: "03 83 00 00 00", '
        'on_call_phone: "03 83 00 00 01"}\n  - {code: DEMO, name: "Demo", example: true, '
        'daytime_phone: "01 99 00 10 10", on_call_phone: "01 99 00 20 20"}\n',
        encoding="utf-8",
    )
    line = _one_sentence(_run(tmp_path, BOT_SITES_FILE=str(sites)))
    assert "example sites" in line and "DEMO" in line and "NANCY" not in line


SEVERAL_REAL_SITES = (
    'sites:\n  - {code: NANCY, name: "Nancy", daytime_phone: "03 83 00 00 00", '
    'on_call_phone: "03 83 00 00 01"}\n  - {code: main, name: "Main", '
    'daytime_phone: "01 40 00 00 00", on_call_phone: "01 40 00 00 01"}\n'
)


async def test_enrolling_without_a_site_is_refused_when_there_are_several(tmp_path: Path) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(SEVERAL_REAL_SITES, encoding="utf-8")
    async with bench_at(tmp_path, datetime(2027, 3, 1, 9, 0, tzinfo=UTC), BOT_SITES_FILE=str(sites)) as bench:
        await bench.clinician_says("/enroll P-32Q 2027-03-03")
        reply = [m.text or "" for m in bench.group_messages()][-1]
        assert "site=" in reply and "NANCY" in reply and "main" in reply
        assert rows(bench, "SELECT COUNT(*) FROM patients") == [(0,)]
        await bench.clinician_says("/enroll P-32Q 2027-03-03 site=NANCY")
        assert rows(bench, "SELECT site_code FROM patients") == [("NANCY",)]


async def test_enrolling_without_a_site_uses_the_only_site(tmp_path: Path) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        'sites:\n  - {code: NANCY, name: "Nancy", daytime_phone: "03 83 00 00 00", on_call_phone: "03 83 00 00 01"}\n',
        encoding="utf-8",
    )
    async with bench_at(tmp_path, datetime(2027, 3, 1, 9, 0, tzinfo=UTC), BOT_SITES_FILE=str(sites)) as bench:
        await bench.clinician_says("/enroll P-32R 2027-03-03")
        assert rows(bench, "SELECT site_code FROM patients") == [("NANCY",)]
        assert "inclus (Nancy, bras standard" in [m.text or "" for m in bench.group_messages()][-1]  # its name
