"""The regimen a clinician records (/traitement, issue 17): reason required, audited, refused to non-clinicians,
confirmed by the patient at the next questionnaire, feeding the OMED (source "clinician", carried forward);
the OMED and alert stamps; ICPRE both ways in the long CSV; earlier answers keep the text they were asked."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from harness import CLINICIAN_CHAT, OUTSIDER, Bench, answer_all, current_prompt, default_answer, give

from bot.domain.omed import compute_omed, load_opioid_catalogue
from bot.domain.questionnaire import load_questionnaire
from bot.domain.team_regimen import RegimenCommandError, describe_regimen, parse_regimen_command
from bot.export.csv_export import CSV_COLUMNS, csv_rows
from bot.export.dataset import load_dataset
from bot.export.fhir_export import build_bundle, responses_in, validate_bundle

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_opioid_catalogue(ROOT / "questionnaires" / "opioids.yaml")
SKENAN_40_TWICE: dict[str, object] = {
    "pain_worst": 6,
    "bg_taking": "yes",
    "bg_product": "skenan",
    "bg_dose": 40,
    "bg_units": "1",
    "bg_per_day": 2,
    "bg_more": "no",
    "rescue_taking": "no",
}


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


# --- the command, pure -------------------------------------------------------------------------------------


def test_the_command_reads_products_doses_and_the_reason() -> None:
    entry = parse_regimen_command("skenan 60x2 ; actiskenan 10 x 3 raison: relais après hospitalisation", CATALOGUE)
    assert entry.reason == "relais après hospitalisation"
    assert [(line.role, line.product, line.dose, line.per_day) for line in entry.regimen.lines] == [
        ("background", "skenan", 60, 2),
        ("rescue", "actiskenan", 10, 3),
    ]
    assert entry.regimen.source == "clinician" and entry.regimen.complete
    assert compute_omed(entry.regimen, CATALOGUE).mg == pytest.approx(150)


def test_a_pump_and_methadone_give_a_number() -> None:
    pump = parse_regimen_command("morphinesc 30 motif : pompe posée en HDJ", CATALOGUE)
    assert compute_omed(pump.regimen, CATALOGUE).mg == pytest.approx(60)  # 30 mg/24 h SC × 2 (fr_sor)
    methadone = parse_regimen_command("Méthadone 10x3 + durogesic 25 raison: équipe douleur", CATALOGUE)
    result = compute_omed(methadone.regimen, CATALOGUE)
    assert result.mg == pytest.approx(30 * 4.7 + 60) and result.to_confirm == ["methadone/oral"]
    assert "Méthadone 10 mg, 3" in describe_regimen(methadone.regimen, CATALOGUE)
    assert compute_omed(parse_regimen_command("aucun raison: arrêt", CATALOGUE).regimen, CATALOGUE).mg == 0


@pytest.mark.parametrize(
    "text",
    [
        "skenan 60x2",  # no reason
        "skenan 60x2 raison:   ",
        "zzz 60x2 raison: essai",  # not in the catalogue
        "autre 10 raison: essai",  # no conversion
        "durogesic 25x2 raison: essai",  # a patch takes its rate only
        "skenan 0x2 raison: essai",
        "raison: rien",
    ],
)
def test_unreadable_commands_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(RegimenCommandError):
        parse_regimen_command(text, CATALOGUE)


# --- end to end --------------------------------------------------------------------------------------------


async def next_daily(bench: Bench, patient: object) -> object:
    for _ in range(60):
        prompt = await current_prompt(bench, patient)  # type: ignore[arg-type]
        if prompt is not None and prompt.instance.questionnaire_id == "daily":
            return prompt
        await bench.advance(timedelta(hours=1))
    raise AssertionError("no daily diary sent")


async def csv_lines(bench: Bench) -> list[dict[str, str]]:
    services = bench.services
    assert services is not None
    dataset = await load_dataset(services.store)
    return [
        dict(zip(CSV_COLUMNS, line))
        for line in csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor", services.schedule)
    ]


async def test_a_clinician_regimen_is_audited_confirmed_by_the_patient_and_feeds_the_omed(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    patient = await bench.join(4401, "P-TR1", date(2027, 3, 3))
    await answer_all(bench, patient, SKENAN_40_TWICE)

    # Refused to anyone but an allowed clinician in the group: the patient, an outsider in the group.
    await bench.patient_says(patient, "/traitement P-TR1 morphinesc 30 raison: pompe")
    await bench.clinician_says("/traitement P-TR1 morphinesc 30 raison: pompe", user_id=OUTSIDER)
    assert "réservée à l'équipe soignante" in (bench.group_messages()[-1].text or "")
    # No reason: refused, with the usage.
    await bench.clinician_says("/traitement P-TR1 morphinesc 30")
    assert "raison" in (bench.group_messages()[-1].text or "")
    assert rows(bench, "SELECT COUNT(*) FROM clinician_regimens") == [(0,)]

    await bench.clinician_says("/traitement P-TR1 morphinesc 30 raison: pompe posée en HDJ")
    reply = bench.group_messages()[-1].text or ""
    assert "Morphine sous-cutanée" in reply and "60 mg/j" in reply
    assert rows(bench, "SELECT reason, recorded_by FROM clinician_regimens") == [
        ("pompe posée en HDJ", "clinician:111")
    ]
    (audit,) = rows(bench, "SELECT actor, details, new_value FROM audit_log WHERE action = 'clinician_regimen'")
    assert audit[0] == "clinician:111" and json.loads(audit[1]) == {"reason": "pompe posée en HDJ"}
    assert json.loads(audit[2])["lines"][0]["product"] == "morphinesc"
    await bench.clinician_says("/traitement P-TR1")  # the study id alone: what was recorded
    assert "pompe posée en HDJ" in (bench.group_messages()[-1].text or "")

    # The next questionnaire shows it, in plain French, and asks for the patient's confirmation first.
    await next_daily(bench, patient)
    while True:
        prompt = await current_prompt(bench, patient)
        if prompt.item.id == "team_regimen_ok":
            break
        assert prompt.item.id not in ("analgesic_same", "bg_taking")
        await give(bench, patient, default_answer(prompt.item))
    question = bench.standin.world.chats[patient.chat_id].find(prompt.instance.question_message_id)
    assert "Morphine sous-cutanée 30 mg, 1 fois par jour" in (question.text or "")
    assert "Est-ce bien ce que vous prenez" in (question.text or "")
    first = prompt.instance.id
    asked = await answer_all(bench, patient, {"team_regimen_ok": "yes", "rescue_doses_24h": 0})
    assert "analgesic_same" not in asked and "bg_taking" not in asked and "team_regimen_ok" in asked

    # The following diary: not asked again; "same as last time" carries the team's regimen forward.
    prompt = await next_daily(bench, patient)
    second = prompt.instance.id  # type: ignore[attr-defined]
    asked = await answer_all(bench, patient, {"analgesic_same": "yes", "rescue_doses_24h": 0})
    assert "team_regimen_ok" not in asked and "analgesic_same" in asked

    omed = {line["instance"]: line for line in await csv_lines(bench) if line["item"] == "omed_mg"}
    for instance_id in (first, second):
        line = omed[str(instance_id)]
        assert line["value"] == "60" and line["derivation"] == "omed:fr_sor@1.1"
        assert line["flags"].split(";") == ["carried_forward", "clinician_regimen"]
        assert line["stamp"].startswith("opioids=1.1;table=fr_sor;rules=1+sha256:")
    baseline = next(line for line in omed.values() if line["timepoint"] == "baseline")
    assert baseline["value"] == "80" and "clinician_regimen" not in baseline["flags"]


async def test_no_sends_the_patient_to_the_regimen_questions(bench: Bench) -> None:
    patient = await bench.join(4402, "P-TR2", date(2027, 3, 3))
    await answer_all(bench, patient, SKENAN_40_TWICE)
    await bench.clinician_says("/traitement P-TR2 oxycontin 20x2 raison: changement en consultation")
    await next_daily(bench, patient)
    asked = await answer_all(
        bench,
        patient,
        {
            "team_regimen_ok": "no",
            "bg_taking": "yes",
            "bg_product": "skenan",
            "bg_dose": 40,
            "bg_units": "1",
            "bg_per_day": 2,
            "bg_more": "no",
            "rescue_taking": "no",
        },
    )
    assert "team_regimen_ok" in asked and "bg_taking" in asked and "analgesic_same" not in asked
    daily = [line for line in await csv_lines(bench) if line["item"] == "omed_mg" and line["questionnaire"] == "daily"]
    assert [(line["value"], line["flags"]) for line in daily] == [("80", "")]  # what the patient said, not 80 × 0


async def test_only_an_allowed_clinician_in_the_group_records_a_regimen(bench: Bench) -> None:
    await bench.join(4403, "P-TR3", date(2027, 3, 3))
    await bench.clinician_says("/traitement P-TR3 skenan 30x2 raison: essai", chat_id=4403, user_id=4403)
    await bench.clinician_says("/traitement P-TR3 skenan 30x2 raison: essai", chat_id=CLINICIAN_CHAT, user_id=OUTSIDER)
    assert rows(bench, "SELECT COUNT(*) FROM clinician_regimens") == [(0,)]
    assert rows(bench, "SELECT COUNT(*) FROM audit_log WHERE action = 'clinician_regimen'") == [(0,)]


# --- stamps ------------------------------------------------------------------------------------------------


async def test_an_omed_keeps_the_table_version_that_derived_it_and_alerts_carry_the_versions(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    patient = await bench.join(4404, "P-TR4", date(2027, 3, 3))
    await answer_all(bench, patient, {**SKENAN_40_TWICE, "pain_worst": 9, "rf_weakness": "yes"})
    stamps = rows(bench, "SELECT table_id, catalogue_version, mg FROM omed_stamps ORDER BY table_id")
    assert stamps == [("cdc_2022", "1.1", 80.0), ("fr_sor", "1.1", 80.0)]
    payloads = [json.loads(p) for (p,) in rows(bench, "SELECT payload FROM alerts")]
    assert payloads and all(
        p["versions"]["opioids"] == "1.1"
        and p["versions"]["table"] == "fr_sor"
        and p["versions"]["rules"].startswith("1+sha256:")
        for p in payloads
    )

    # A later opioids.yaml (morphine oral factor changed, version 2.0) does not re-label the stamped OMED.
    text = (ROOT / "questionnaires" / "opioids.yaml").read_text(encoding="utf-8")
    changed = text.replace('version: "1.1"', 'version: "2.0"', 1).replace(
        '{substance: morphine, route: oral, factor: 1, source: "opioids.md (reference substance)"}',
        '{substance: morphine, route: oral, factor: 1.5, source: "test"}',
        1,
    )
    assert changed.count("2.0") >= 1 and "factor: 1.5" in changed
    path = bench.tmp_path / "opioids.yaml"
    path.write_text(changed, encoding="utf-8")
    catalogue = load_opioid_catalogue(path)
    dataset = await load_dataset(services.store)

    def omed_line(ds: object) -> dict[str, str]:
        lines = [
            dict(zip(CSV_COLUMNS, line))
            for line in csv_rows(
                ds,
                services.questionnaires,
                catalogue,  # type: ignore[arg-type]
                "fr_sor",
                services.schedule,
            )
        ]
        return next(line for line in lines if line["item"] == "omed_mg")

    line = omed_line(dataset)
    assert (line["value"], line["derivation"], line["flags"]) == ("80", "omed:fr_sor@1.1", "")
    # Without the stamp (a questionnaire completed before migration 0008): today's table, and said so.
    with sqlite3.connect(bench.database) as conn:
        conn.execute("DELETE FROM omed_stamps")
    line = omed_line(await load_dataset(services.store))
    assert (line["value"], line["derivation"], line["flags"], line["stamp"]) == (
        "120",
        "omed:fr_sor@2.0",
        "computed_at_export",
        "",
    )


# --- an upgraded questionnaire file, ICPRE in the CSV ------------------------------------------------------


async def test_an_upgraded_questionnaire_file_does_not_change_what_earlier_answers_were_asked(bench: Bench) -> None:
    services = bench.services
    assert services is not None
    patient = await bench.join(4405, "P-TR5", date(2027, 3, 3))
    await answer_all(bench, patient, SKENAN_40_TWICE)
    original = services.questionnaires["baseline"]
    before = await csv_lines(bench)

    text = (ROOT / "questionnaires" / "baseline.yaml").read_text(encoding="utf-8")
    upgraded_text = text.replace('version: "2.0"', 'version: "9.0"', 1).replace(
        original.item("pain_worst").text.split()[0], "NOUVEAU", 1
    )
    path = bench.tmp_path / "baseline.yaml"
    path.write_text(upgraded_text, encoding="utf-8")
    upgraded = load_questionnaire(path)
    assert upgraded.item("pain_worst").text != original.item("pain_worst").text
    services.questionnaires["baseline"] = upgraded  # type: ignore[index]

    after = await csv_lines(bench)
    assert [(r["questionnaire_version"], r["questionnaire_hash"], r["item"], r["value"]) for r in after] == [
        (r["questionnaire_version"], r["questionnaire_hash"], r["item"], r["value"]) for r in before
    ]
    bundle = build_bundle(await load_dataset(services.store), services.questionnaires, services.clock.now())
    validate_bundle(bundle)
    (response,) = responses_in(bundle)
    asked = {item["linkId"]: item.get("text") for item in response["item"]}
    assert asked["pain_worst"] == original.item("pain_worst").text
    definitions = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Questionnaire"]
    assert [(d["id"], d["version"]) for d in definitions] == [("baseline-2.0", "2.0")]
    assert response["questionnaire"].endswith("|2.0")


async def test_both_icpre_readings_are_rows_of_the_long_csv(bench: Bench) -> None:
    """Baseline worst pain 5 at 80 mg/day; day 30 pain 7 with 100 mg/day (+25 %): progression in the project's
    reading, indeterminate in the strict one (docs/clinical/pain-response.md)."""
    services = bench.services
    assert services is not None
    patient = await bench.join(4406, "P-TR6", date(2027, 3, 3))
    await answer_all(bench, patient, {**SKENAN_40_TWICE, "pain_worst": 5})
    for _ in range(24 * 40):
        prompt = await current_prompt(bench, patient)
        if prompt is not None and prompt.instance.timepoint == "D30":
            break
        if prompt is not None:
            await answer_all(bench, patient, {"pain_worst": 5, "analgesic_same": "yes", "rescue_doses_24h": 0})
            continue
        await bench.advance(timedelta(hours=6), step=timedelta(hours=6))
    else:
        raise AssertionError("no D30 questionnaire")
    await answer_all(
        bench,
        patient,
        {
            "pain_worst": 7,
            "analgesic_same": "no",
            "bg_taking": "yes",
            "bg_product": "skenan",
            "bg_dose": 50,
            "bg_units": "1",
            "bg_per_day": 2,
            "bg_more": "no",
            "rescue_taking": "no",
        },
    )
    lines = await csv_lines(bench)
    d30 = {line["item"]: line for line in lines if line["timepoint"] == "D30"}
    assert d30["omed_mg"]["value"] == "100"
    assert (d30["icpre_project"]["value"], d30["icpre_strict"]["value"]) == ("progression", "indeterminate")
    assert d30["icpre_project"]["derivation"] == "icpre:project:omed:fr_sor"
