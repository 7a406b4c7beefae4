"""Exports on a small database built through the storage repositories (CSV long format, FHIR R4, audit trail)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import VirtualClock, utc_iso
from bot.config import load_settings
from bot.domain.omed import OpioidCatalogue, load_opioid_catalogue
from bot.domain.questionnaire import Questionnaire, load_questionnaires
from bot.export import ExportError, export, export_audit, export_csv, export_fhir, open_existing_store
from bot.export.cli import QUESTIONNAIRES_DIR, add_commands, run_command
from bot.export.csv_export import CSV_COLUMNS, plain_text
from bot.export.dataset import load_dataset
from bot.export.fhir_export import build_bundle, questionnaire_resource, responses_in, validate_bundle
from bot.storage import audit, instances, patients
from bot.storage.store import Store

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
RT_START = date(2027, 3, 2)
PATIENT_TELEGRAM_ID = 987654321987
PATIENT_CHAT_ID = 987654321988
CLINICIAN_TELEGRAM_ID = 555000111222
TRICKY_TEXT = 'J\'ai mal, "beaucoup"\net la nuit'

BASELINE_1 = {  # oxycodone 20 mg x 2: 80 mg/day with fr_sor (factor 2), 60 with cdc_2022 (1.5), opioids.yaml
    "pain_worst": 7,
    "bg_taking": "yes",
    "bg_product": "oxycontin",
    "bg_dose": 20,
    "bg_per_day": 2,
    "rescue_taking": "no",
    "other_analgesics": ["ains", "paracetamol"],
    "message_team": TRICKY_TEXT,
}
DIARY_1 = {"pain_worst": 9, "analgesic_same": "yes", "rescue_doses_24h": 0}
BASELINE_2 = {  # methadone: converted with a factor to confirm by the site pharmacist (opioids.md)
    "pain_worst": 5,
    "bg_taking": "yes",
    "bg_product": "methadone",
    "bg_dose": 10,
    "bg_per_day": 2,
    "rescue_taking": "no",
    "message_team": "_skip",
}


@pytest.fixture(scope="module")
def questionnaires() -> dict[str, Questionnaire]:
    """The shipped questionnaires, with the baseline in one part (1.2, frozen before issue 35 split it): the
    cohort below answers the baseline's message item, which the baseline 2.0 moved to its second part."""
    from bot.domain.questionnaire import load_questionnaire

    loaded = load_questionnaires(QUESTIONNAIRES_DIR)
    frozen = Path(__file__).resolve().parents[1] / "data" / "questionnaires_before_baseline_split" / "baseline.yaml"
    return {**loaded, "baseline": load_questionnaire(frozen)}


@pytest.fixture(scope="module")
def catalogue() -> OpioidCatalogue:
    return load_opioid_catalogue(QUESTIONNAIRES_DIR / "opioids.yaml")


async def add_instance(
    store: Store,
    clock: VirtualClock,
    patient_id: int,
    questionnaire: str,
    timepoint: str,
    day: int | None,
    answers: dict[str, Any],
    *,
    status: str = "completed",
) -> int:
    """An instance answered item by item, one minute apart, then given `status`."""
    async with store.transaction() as tx:
        instance_id = await instances.create_instance(
            tx,
            patient_id=patient_id,
            questionnaire_id=questionnaire,
            questionnaire_version="1.0",
            timepoint=timepoint,
            study_day=day,
            is_primary=timepoint == "D30",
            opens_at=clock.now(),
            closes_at=clock.now() + timedelta(days=2),
        )
        await instances.set_status(tx, instance_id, "open", clock.now())
        for item, value in answers.items():
            clock.advance(timedelta(minutes=1))
            await instances.add_answer(
                tx,
                instance_id=instance_id,
                item_id=item,
                value=value,
                answered_at=clock.now() - timedelta(seconds=5),
                received_at=clock.now(),
                is_correction=False,
            )
        if status != "open":
            await instances.set_status(tx, instance_id, status, clock.now())
        await tx.commit()
    return instance_id


async def correct(store: Store, clock: VirtualClock, instance_id: int, item: str, value: Any) -> None:
    clock.advance(timedelta(minutes=3))
    async with store.transaction() as tx:
        await instances.add_answer(
            tx,
            instance_id=instance_id,
            item_id=item,
            value=value,
            answered_at=clock.now(),
            received_at=clock.now(),
            is_correction=True,
        )
        await tx.commit()


async def build_cohort(path: Path) -> dict[str, int]:
    """Two patients at two sites; returns instance ids by name. The database file is closed afterwards."""
    clock = VirtualClock(T0)
    store = await Store.open(path, clock)
    ids: dict[str, int] = {}
    try:
        async with store.transaction() as tx:
            p1 = await patients.create_patient(
                tx,
                study_id="SPB-001",
                site_code="LYON",
                arm="standard",
                rt_start=RT_START,
                fractions=1,
                now=clock.now(),
            )
            p2 = await patients.create_patient(
                tx,
                study_id="SPB-002",
                site_code="PARIS",
                arm="experimental",
                rt_start=RT_START,
                fractions=5,
                now=clock.now(),
            )
            await patients.link_telegram(
                tx, patient_id=p1, telegram_user_id=PATIENT_TELEGRAM_ID, chat_id=PATIENT_CHAT_ID, now=clock.now()
            )
            await audit.record(
                tx,
                at=clock.now(),
                actor=f"stranger:{PATIENT_TELEGRAM_ID}",
                action="start_refused",
                details={"reason": "unknown"},
            )
            await audit.record(
                tx,
                at=clock.now(),
                actor="patient:SPB-001",
                action="join",
                patient_id=p1,
                entity="invitation",
                entity_id=1,
            )
            await audit.record(
                tx,
                at=clock.now(),
                actor=f"clinician:{CLINICIAN_TELEGRAM_ID}",
                action="command:patient",
                details={"study_id": "SPB-001"},
            )
            await tx.commit()
        ids["p1_baseline"] = await add_instance(store, clock, p1, "baseline", "baseline", None, BASELINE_1)
        await correct(store, clock, ids["p1_baseline"], "pain_worst", 8)
        ids["p1_dd0"] = await add_instance(store, clock, p1, "daily", "DD0", 0, DIARY_1)
        ids["p1_dd1"] = await add_instance(store, clock, p1, "daily", "DD1", 1, {"pain_worst": 6}, status="missed")
        ids["p1_d15"] = await add_instance(store, clock, p1, "followup", "D15", 15, {"pain_worst": 4}, status="open")
        ids["p1_w22"] = await add_instance(store, clock, p1, "weekly", "W22", 22, {}, status="open")
        ids["p2_baseline"] = await add_instance(store, clock, p2, "baseline", "baseline", None, BASELINE_2)
    finally:
        await store.close()
    return ids


async def open_store(path: Path) -> Store:
    return await open_existing_store(path, VirtualClock(T0 + timedelta(days=100)))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
async def cohort(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    database = tmp_path / "bot.sqlite3"
    return database, await build_cohort(database)


async def stored_answers(database: Path) -> list[dict[str, Any]]:
    store = await open_store(database)
    try:
        async with store.read() as tx:
            return [dict(r) for r in await tx.fetchall("SELECT * FROM answers ORDER BY id")]
    finally:
        await store.close()


# ---------------------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------------------
async def test_csv_header_is_exactly_the_documented_columns(cohort, tmp_path, questionnaires, catalogue):
    database, _ = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        await export_csv(store, out, questionnaires, catalogue)
    finally:
        await store.close()
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(CSV_COLUMNS)
    assert out.read_bytes().split(b"\n")[0].endswith(b"\r")  # RFC 4180 section 2.1: CRLF line breaks


async def test_every_stored_answer_row_appears_exactly_once_in_the_csv(cohort, tmp_path, questionnaires, catalogue):
    database, _ = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        written = await export_csv(store, out, questionnaires, catalogue)
    finally:
        await store.close()
    rows = read_csv(out)
    assert written == len(rows)
    answer_rows = Counter(
        (r["instance"], r["item"], r["answered_at"], r["received_at"]) for r in rows if r["derivation"] == ""
    )
    stored = Counter(
        (str(a["instance_id"]), a["item_id"], a["answered_at"], a["received_at"])
        for a in await stored_answers(database)
    )
    assert answer_rows == stored
    assert max(answer_rows.values()) == 1


async def test_a_correction_keeps_both_rows_and_only_the_older_one_is_superseded(
    cohort, tmp_path, questionnaires, catalogue
):
    database, ids = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        await export_csv(store, out, questionnaires, catalogue)
    finally:
        await store.close()
    pain = [r for r in read_csv(out) if r["instance"] == str(ids["p1_baseline"]) and r["item"] == "pain_worst"]
    assert [(r["value"], r["superseded"]) for r in pain] == [("7", "true"), ("8", "false")]
    others = [r for r in read_csv(out) if r["item"] != "pain_worst" and r["derivation"] == ""]
    assert {r["superseded"] for r in others} == {"false"}


async def test_each_completed_instance_gets_one_omed_row_labelled_with_its_table(
    cohort, tmp_path, questionnaires, catalogue
):
    database, ids = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        await export_csv(store, out, questionnaires, catalogue)
    finally:
        await store.close()
    omed = {r["instance"]: r for r in read_csv(out) if r["item"] == "omed_mg"}
    # Completed instances only: the baseline of each patient and DD0 (DD1 is missed, D15 and W22 are open).
    assert set(omed) == {str(ids["p1_baseline"]), str(ids["p1_dd0"]), str(ids["p2_baseline"])}
    assert omed[str(ids["p1_baseline"])]["value"] == "80"  # oxycodone 40 mg/day x 2 (fr_sor)
    assert omed[str(ids["p1_dd0"])]["value"] == "80"  # "same as before" carries the regimen forward
    assert omed[str(ids["p2_baseline"])]["value"] == "94"  # methadone 20 mg/day x 4.7, flagged to confirm
    # This cohort is written straight into the database (no stamp taken at completion): computed at export.
    assert omed[str(ids["p2_baseline"])]["flags"] == "computed_at_export;to_confirm:methadone/oral"
    assert omed[str(ids["p1_dd0"])]["flags"] == "carried_forward;computed_at_export"
    assert omed[str(ids["p1_baseline"])]["flags"] == "computed_at_export"
    assert {r["derivation"] for r in omed.values()} == {"omed:fr_sor@1.1"}
    assert omed[str(ids["p1_dd0"])]["questionnaire"] == "daily"
    assert all(
        r["derivation"] in ("", "instance")
        for r in read_csv(out)
        if r["item"] not in ("omed_mg", "icpre_project", "icpre_strict")
    )


async def test_omed_rows_follow_the_requested_conversion_table(cohort, tmp_path, questionnaires, catalogue):
    database, ids = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        await export_csv(store, out, questionnaires, catalogue, table="cdc_2022")
    finally:
        await store.close()
    omed = {r["instance"]: r for r in read_csv(out) if r["item"] == "omed_mg"}
    assert omed[str(ids["p1_baseline"])]["value"] == "60"  # oxycodone x 1.5 (CDC 2022)
    assert omed[str(ids["p1_baseline"])]["derivation"] == "omed:cdc_2022@1.1"


async def test_an_unknown_conversion_table_is_an_export_error(cohort, tmp_path, questionnaires, catalogue):
    database, _ = cohort
    store = await open_store(database)
    try:
        with pytest.raises(ExportError, match="nope"):
            await export_csv(store, tmp_path / "x.csv", questionnaires, catalogue, table="nope")
    finally:
        await store.close()
    assert not (tmp_path / "x.csv").exists()


async def test_lists_are_joined_with_semicolons_and_text_survives_rfc4180_quoting(
    cohort, tmp_path, questionnaires, catalogue
):
    database, _ = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        await export_csv(store, out, questionnaires, catalogue)
    finally:
        await store.close()
    by_item = {(r["study_id"], r["item"]): r["value"] for r in read_csv(out) if r["timepoint"] == "baseline"}
    assert by_item[("SPB-001", "other_analgesics")] == "ains;paracetamol"
    assert by_item[("SPB-001", "message_team")] == TRICKY_TEXT
    assert by_item[("SPB-002", "message_team")] == "_skip"
    assert '"J\'ai mal, ""beaucoup""' in out.read_text(encoding="utf-8")


def test_plain_text_writes_numbers_without_float_noise_and_keeps_markers():
    assert plain_text(60) == "60"
    assert plain_text(7.5) == "7.5"
    assert plain_text(60.0) == "60"
    assert plain_text(["a", "b"]) == "a;b"
    assert plain_text("_unknown") == "_unknown"
    assert plain_text(None) == ""


async def test_no_telegram_id_appears_in_any_export(cohort, tmp_path, questionnaires, catalogue):
    database, _ = cohort
    store = await open_store(database)
    try:
        for fmt in ("csv", "fhir", "audit"):
            await export(fmt, store, tmp_path / f"out.{fmt}", questionnaires, catalogue)
    finally:
        await store.close()
    for fmt in ("csv", "fhir", "audit"):
        text = (tmp_path / f"out.{fmt}").read_text(encoding="utf-8")
        assert "SPB-001" in text  # the file is a real export…
        for secret in (PATIENT_TELEGRAM_ID, PATIENT_CHAT_ID, CLINICIAN_TELEGRAM_ID):
            assert str(secret) not in text, f"{fmt} export leaks Telegram id {secret}"


# ---------------------------------------------------------------------------------------------------------------
# Audit trail
# ---------------------------------------------------------------------------------------------------------------
async def test_audit_export_has_every_column_in_id_order_with_telegram_actors_pseudonymised(cohort, tmp_path):
    database, _ = cohort
    out = tmp_path / "audit.csv"
    store = await open_store(database)
    try:
        count = await export_audit(store, out)
    finally:
        await store.close()
    rows = read_csv(out)
    assert list(rows[0]) == [
        "id",
        "at",
        "actor",
        "action",
        "patient_id",
        "entity",
        "entity_id",
        "old_value",
        "new_value",
        "telegram_date",
        "details",
    ]
    assert count == len(rows) == 3
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    assert [r["actor"] for r in rows] == ["stranger:#1", "patient:SPB-001", "clinician:#1"]
    assert rows[0]["details"] == '{"reason": "unknown"}'
    assert rows[0]["patient_id"] == ""


async def test_audit_export_can_keep_actors_as_stored_when_asked(cohort, tmp_path):
    database, _ = cohort
    store = await open_store(database)
    try:
        await export_audit(store, tmp_path / "audit.csv", pseudonymise=False)
    finally:
        await store.close()
    assert read_csv(tmp_path / "audit.csv")[0]["actor"] == f"stranger:{PATIENT_TELEGRAM_ID}"


# ---------------------------------------------------------------------------------------------------------------
# FHIR
# ---------------------------------------------------------------------------------------------------------------
async def fhir_bundle(database: Path, tmp_path: Path, questionnaires: dict[str, Questionnaire]) -> dict[str, Any]:
    out = tmp_path / "bundle.json"
    store = await open_store(database)
    try:
        await export_fhir(store, out, questionnaires, now=T0 + timedelta(days=100))
    finally:
        await store.close()
    return json.loads(out.read_text(encoding="utf-8"))


async def test_fhir_bundle_validates_with_fhir_resources_and_has_one_response_per_answered_instance(
    cohort, tmp_path, questionnaires
):
    from fhir.resources.R4B.bundle import Bundle

    database, ids = cohort
    bundle = await fhir_bundle(database, tmp_path, questionnaires)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    responses = responses_in(bundle)
    answered = {a["instance_id"] for a in await stored_answers(database)}
    assert len(responses) == len(answered) == 5  # W22 has no answer
    assert {r["identifier"]["value"] for r in responses} == {
        "SPB-001/baseline",
        "SPB-001/DD0",
        "SPB-001/DD1",
        "SPB-001/D15",
        "SPB-002/baseline",
    }
    definitions = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Questionnaire"]
    assert sorted(d["url"].rsplit(":", 1)[1] for d in definitions) == ["baseline", "daily", "followup"]


async def test_fhir_response_carries_status_subject_authored_and_current_answers_only(cohort, tmp_path, questionnaires):
    database, ids = cohort
    responses = {
        r["identifier"]["value"]: r for r in responses_in(await fhir_bundle(database, tmp_path, questionnaires))
    }
    baseline = responses["SPB-001/baseline"]
    assert baseline["status"] == "completed"
    assert responses["SPB-001/D15"]["status"] == "in-progress"
    assert responses["SPB-001/DD1"]["status"] == "stopped"  # missed after one answer (R4: stopped)
    assert baseline["subject"] == {"identifier": {"system": "urn:spinal-pro-bot:study-id", "value": "SPB-001"}}
    assert baseline["questionnaire"] == "urn:spinal-pro-bot:questionnaire:baseline|1.0"
    last = max(a["answered_at"] for a in await stored_answers(database) if a["instance_id"] == ids["p1_baseline"])
    assert baseline["authored"] == last
    items = {i["linkId"]: i["answer"] for i in baseline["item"]}
    assert items["pain_worst"] == [{"valueInteger": 8}]  # the correction, not the superseded 7
    assert [i["linkId"] for i in baseline["item"]][:2] == ["pain_worst", "bg_taking"]  # questionnaire order


async def test_fhir_answers_follow_the_item_type_mapping(cohort, tmp_path, questionnaires):
    database, _ = cohort
    bundle = await fhir_bundle(database, tmp_path, questionnaires)
    responses = {r["identifier"]["value"]: r for r in responses_in(bundle)}
    items = {i["linkId"]: i["answer"] for i in responses["SPB-001/baseline"]["item"]}
    assert items["bg_taking"] == [{"valueBoolean": True}]
    assert items["bg_product"][0]["valueCoding"]["code"] == "oxycontin"
    assert items["bg_product"][0]["valueCoding"]["display"] == "Oxycontin"
    assert [a["valueCoding"]["code"] for a in items["other_analgesics"]] == ["ains", "paracetamol"]
    assert items["bg_dose"] == [{"valueDecimal": 20}]
    assert items["message_team"] == [{"valueString": TRICKY_TEXT}]
    skipped = {i["linkId"]: i["answer"] for i in responses["SPB-002/baseline"]["item"]}["message_team"]
    assert skipped[0]["extension"][0]["valueCode"] == "asked-declined"
    definition = next(e["resource"] for e in bundle["entry"] if e["resource"].get("url", "").endswith(":baseline"))
    types = {i["linkId"]: (i["type"], i.get("repeats", False)) for i in definition["item"]}
    assert types["pain_worst"] == ("integer", False)
    assert types["bg_taking"] == ("boolean", False)
    assert types["bg_product"] == ("choice", False)
    assert types["other_analgesics"] == ("choice", True)
    assert types["bg_dose"] == ("decimal", False)
    assert types["message_team"] == ("string", False)


def test_every_shipped_questionnaire_converts_to_a_valid_fhir_questionnaire(questionnaires):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": questionnaire_resource(q)} for q in questionnaires.values()],
    }
    validate_bundle(bundle)
    assert {"baseline", "daily", "followup"} <= set(questionnaires)


def test_a_bundle_that_breaks_the_fhir_model_is_refused():
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "QuestionnaireResponse",
                    "status": "completed",
                    "item": [{"linkId": "pain_worst", "answer": [{"valueInteger": "huit"}]}],
                }
            }
        ],
    }
    with pytest.raises(ExportError, match="does not validate"):
        validate_bundle(bundle)


async def test_fhir_build_is_pure_and_repeatable(cohort, questionnaires):
    database, _ = cohort
    store = await open_store(database)
    try:
        dataset = await load_dataset(store)
    finally:
        await store.close()
    first = build_bundle(dataset, questionnaires, T0)
    assert first == build_bundle(dataset, questionnaires, T0)
    assert first["timestamp"] == utc_iso(T0)


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------
async def test_unknown_format_is_an_export_error(cohort, tmp_path, questionnaires, catalogue):
    database, _ = cohort
    store = await open_store(database)
    try:
        with pytest.raises(ExportError, match="Unknown export format 'xml'"):
            await export("xml", store, tmp_path / "out.xml", questionnaires, catalogue)
    finally:
        await store.close()


@pytest.mark.parametrize("fmt", ["csv", "fhir", "audit"])
async def test_an_unwritable_path_is_an_export_error_and_leaves_no_file(
    cohort, tmp_path, questionnaires, catalogue, fmt
):
    database, _ = cohort
    (tmp_path / "a_file").write_text("x")
    store = await open_store(database)
    try:
        for target in (tmp_path / "missing" / "out", tmp_path / "a_file" / "out", tmp_path):
            with pytest.raises(ExportError, match="Cannot write"):
                await export(fmt, store, target, questionnaires, catalogue)
    finally:
        await store.close()
    assert not (tmp_path / "missing").exists()


async def test_a_missing_database_is_an_export_error_and_is_not_created(tmp_path):
    database = tmp_path / "nowhere.sqlite3"
    with pytest.raises(ExportError, match="does not exist"):
        await open_existing_store(database, VirtualClock(T0))
    assert not database.exists()


async def test_a_file_that_is_not_a_database_is_an_export_error(tmp_path):
    database = tmp_path / "notes.txt"
    database.write_text("hello")
    with pytest.raises(ExportError, match="not a SQLite database"):
        await open_existing_store(database, VirtualClock(T0))


@pytest.mark.parametrize("fmt", ["csv", "fhir", "audit"])
async def test_an_empty_database_is_an_export_error(tmp_path, questionnaires, catalogue, fmt):
    database = tmp_path / "empty.sqlite3"
    store = await Store.open(database, VirtualClock(T0))
    await store.close()
    store = await open_store(database)
    try:
        with pytest.raises(ExportError, match="no patients"):
            await export(fmt, store, tmp_path / "out", questionnaires, catalogue)
    finally:
        await store.close()
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------
def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_cli_parses_export_and_report_commands():
    args = cli_args("export", "--format", "csv", "--out", "x.csv")
    assert (args.command, args.format, args.out, args.table) == ("export", "csv", Path("x.csv"), None)
    args = cli_args("report", "--out", "dir")
    assert (args.command, args.out) == ("report", Path("dir"))


def test_cli_export_writes_the_file_and_exits_0(tmp_path, capsys):
    database = tmp_path / "bot.sqlite3"
    asyncio.run(build_cohort(database))
    settings = load_settings(BOT_DATABASE=str(database))
    out = tmp_path / "out.csv"
    assert run_command(cli_args("export", "--format", "csv", "--out", str(out)), settings) == 0
    assert "Wrote" in capsys.readouterr().out
    assert len(read_csv(out)) > 10


@pytest.mark.parametrize(
    "argv, message",
    [
        (("export", "--format", "xml", "--out", "OUT"), "Unknown export format"),
        (("export", "--format", "csv", "--out", "MISSING/out.csv"), "Cannot write"),
        (("report", "--out", "AFILE"), "is a file"),
    ],
)
def test_cli_prints_one_sentence_and_exits_2_on_an_export_error(tmp_path, capsys, argv, message):
    database = tmp_path / "bot.sqlite3"
    asyncio.run(build_cohort(database))
    (tmp_path / "AFILE").write_text("x")
    argv = tuple(
        a.replace("OUT", str(tmp_path / "o"))
        .replace("MISSING", str(tmp_path / "no"))
        .replace("AFILE", str(tmp_path / "AFILE"))
        for a in argv
    )
    code = run_command(cli_args(*argv), load_settings(BOT_DATABASE=str(database)))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_on_a_missing_database_exits_2_without_creating_it(tmp_path, capsys):
    database = tmp_path / "typo.sqlite3"
    code = run_command(
        cli_args("export", "--format", "audit", "--out", str(tmp_path / "a.csv")),
        load_settings(BOT_DATABASE=str(database)),
    )
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not database.exists()


async def test_every_instance_has_status_and_time_rows_missed_ones_too(cohort, tmp_path, questionnaires, catalogue):
    database, ids = cohort
    out = tmp_path / "export.csv"
    store = await open_store(database)
    try:
        await export_csv(store, out, questionnaires, catalogue)
    finally:
        await store.close()
    facts = {(r["instance"], r["item"]): r["value"] for r in read_csv(out) if r["derivation"] == "instance"}
    status = {key: facts[(str(ids[key]), "instance_status")] for key in ids}
    assert status == {
        "p1_baseline": "completed",
        "p1_dd0": "completed",
        "p1_dd1": "partial",
        "p1_d15": "in_progress",
        "p1_w22": "in_progress",
        "p2_baseline": "completed",
    }
    for key in ids:
        assert facts[(str(ids[key]), "instance_due")].endswith("Z")
        assert facts[(str(ids[key]), "instance_sent")].endswith("Z")  # the cohort opens every instance
    assert facts[(str(ids["p1_dd1"]), "instance_closed")].endswith("Z")
    assert facts[(str(ids["p1_d15"]), "instance_closed")] == ""


def test_export_status_names_partial_missed_and_withdrawn_questionnaires() -> None:
    from bot.domain.models import Instance, Patient
    from bot.export.csv_export import export_status
    from bot.export.fhir_export import response_status

    when = datetime(2027, 3, 1, 9, tzinfo=UTC)
    patient = Patient(1, "S-1", "LYON", "standard", date(2027, 3, 3), 1, "active", "matin", when, when)
    inst = Instance(1, 1, "daily", "1.2", "DD1", 1, False, when, when, "missed", when, None, 0, None, None, None)
    assert (export_status(inst, patient, True), export_status(inst, patient, False)) == ("partial", "missed")
    cancelled = replace(inst, status="cancelled")
    assert export_status(cancelled, replace(patient, status="withdrawn"), False) == "withdrawn"
    assert export_status(cancelled, patient, False) == "cancelled"
    assert [response_status(replace(inst, status=s)) for s in ("completed", "missed", "cancelled", "open")] == [
        "completed",
        "stopped",
        "stopped",
        "in-progress",
    ]
