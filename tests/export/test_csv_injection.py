"""Issue 21 item 10: free text that a spreadsheet would run as a formula is neutralised in every CSV export
(OWASP "CSV Injection": prefix with a single quote), while numbers, negative ones included, stay numbers."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import VirtualClock
from bot.domain.omed import load_opioid_catalogue
from bot.domain.questionnaire import load_questionnaires
from bot.export import export_audit, export_csv
from bot.export.cells import safe_cell, safe_text
from bot.export.cli import QUESTIONNAIRES_DIR
from bot.export.csv_export import plain_text
from bot.storage import audit, instances, patients
from bot.storage.store import Store

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PAYLOADS = ['=HYPERLINK("http://x","clic")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tcaché", "\r=1+1"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_text_cell_starting_like_a_formula_is_prefixed_with_a_quote(payload: str) -> None:
    assert safe_text(payload) == "'" + payload
    assert plain_text(payload) == "'" + payload
    assert plain_text(["-x", "y"]) == "'-x;y"


def test_numbers_stay_numbers_and_ordinary_text_is_untouched() -> None:
    assert plain_text(-3) == "-3"
    assert plain_text(-2.5) == "-2.5"
    assert safe_cell(-7) == "-7"
    assert safe_cell("-7") == "-7" and safe_cell("-7.5") == "-7.5"  # the audit trail's JSON text of a number
    assert plain_text("J'ai mal = 7") == "J'ai mal = 7"
    assert plain_text("_skip") == "_skip"


async def test_the_csv_and_audit_exports_neutralise_free_text_and_keep_negative_numbers(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    clock = VirtualClock(T0)
    store = await Store.open(database, clock)
    try:
        async with store.transaction() as tx:
            pid = await patients.create_patient(
                tx,
                study_id="SPB-009",
                site_code="-LYON",
                arm="standard",
                rt_start=date(2027, 3, 2),
                fractions=1,
                now=clock.now(),
            )
            await audit.record(
                tx, at=clock.now(), actor="system", action="note", patient_id=pid, old_value="=cmd()", new_value=-4
            )
            iid = await instances.create_instance(
                tx,
                patient_id=pid,
                questionnaire_id="baseline",
                questionnaire_version="1.0",
                timepoint="baseline",
                study_day=None,
                is_primary=False,
                opens_at=clock.now(),
                closes_at=clock.now() + timedelta(days=1),
            )
            for n, (item, value) in enumerate(
                [("message_team", PAYLOADS[0]), ("pain_worst", -1), ("other_analgesics", ["@a", "b"])]
            ):
                await instances.add_answer(
                    tx,
                    instance_id=iid,
                    item_id=item,
                    value=value,
                    answered_at=clock.now() + timedelta(minutes=n),
                    received_at=clock.now() + timedelta(minutes=n),
                    is_correction=False,
                )
            await tx.commit()
        out = tmp_path / "answers.csv"
        await export_csv(
            store,
            out,
            load_questionnaires(QUESTIONNAIRES_DIR),
            load_opioid_catalogue(QUESTIONNAIRES_DIR / "opioids.yaml"),
        )
        rows = {r["item"]: r for r in read_csv(out)}
        assert rows["message_team"]["value"] == "'" + PAYLOADS[0]
        assert rows["pain_worst"]["value"] == "-1"
        assert rows["other_analgesics"]["value"] == "'@a;b"
        assert {r["site"] for r in rows.values()} == {"'-LYON"}
        audit_out = tmp_path / "audit.csv"
        await export_audit(store, audit_out)
        note = [r for r in read_csv(audit_out) if r["action"] == "note"][0]
        assert note["old_value"].startswith("'")
        assert note["new_value"] == "-4"
        assert not any(
            cell.startswith(("=", "+", "@", "\t", "\r"))
            for r in read_csv(audit_out) + read_csv(out)
            for cell in r.values()
        )
    finally:
        await store.close()
