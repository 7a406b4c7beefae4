"""Issue 37 end to end: a photo of the box during the day-30 questionnaire → "is it this medicine?" → the product
answer, then the dose as today → the OMED on the D30 row, the CIP13 in the CSV and in the FHIR bundle (validated).
An undecodable photo, a non-opioid box and "No" all lead back to the list. The photo is never passed on."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import Bench, answer_all, current_prompt, give
from PIL import Image

from bot.export.csv_export import CSV_COLUMNS, csv_rows
from bot.export.dataset import load_dataset
from bot.export.fhir_export import CIP_SYSTEM, EXT_BDPM_DATE, EXT_MEDICATION, build_bundle, validate_bundle
from bot.medicines.bdpm import read_directory
from bot.medicines.synthetic import box_photo, ean_check_digit
from bot.storage import medicines

FIXTURE = Path(__file__).parents[1] / "fixtures" / "bdpm" / "utf8"
RT = date(2027, 3, 2)  # as tests/e2e/test_day30.py: the D30 questionnaire goes out on day 27 at 10:00


def cip(n: int) -> str:
    body = f"3400999{n:05d}"
    return body + ean_check_digit(body)


def rows(bench: Bench, sql: str, *params: object) -> list[tuple]:
    return sqlite3.connect(bench.database).execute(sql, params).fetchall()


def blank_photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 160)).save(buf, "JPEG")
    return buf.getvalue()


async def import_fixture(bench: Bench) -> None:
    assert bench.services is not None
    async with bench.services.store.transaction() as tx:
        await medicines.replace_bdpm(tx, read_directory(FIXTURE), now=datetime(2027, 3, 1, tzinfo=UTC))
        await tx.commit()


async def answer_until(bench: Bench, user_id: int, item_id: str, answers: dict[str, object]) -> None:
    from harness import default_answer

    for _ in range(100):
        prompt = await current_prompt(bench, user_id)
        assert prompt is not None, f"questionnaire ended before {item_id}"
        if prompt.item.id == item_id:
            return
        await give(bench, user_id, answers.get(prompt.item.id, default_answer(prompt.item)))
    raise AssertionError(f"{item_id} never asked")


async def send_photo(bench: Bench, user_id: int, data: bytes) -> list[str]:
    before = len(bench.texts(user_id))
    bench.standin.send_photo(user_id, user_id, data=data)
    await bench.settle()
    return bench.texts(user_id)[before:]


def list_is_shown(bench: Bench, user_id: int) -> bool:
    buttons = [b["text"] for row in bench.last_keyboard_message(user_id).buttons() for b in row]
    return "Skenan" in buttons and "Oxycontin" in buttons


async def test_a_box_photo_answers_the_product_then_the_dose_and_is_exported(bench: Bench) -> None:
    await import_fixture(bench)
    patient = await bench.join(3701, "M-001", RT)
    await answer_all(bench, patient)  # baseline: no opioid
    await bench.advance(timedelta(days=28, hours=-2), step=timedelta(hours=6))
    await bench.advance(timedelta(hours=2), step=timedelta(minutes=30))  # day 27, 10:00: D30 sent
    await answer_until(bench, 3701, "bg_product", {"analgesic_same": "no", "bg_taking": "yes"})
    prompt = await current_prompt(bench, patient)
    assert prompt.instance.timepoint == "D30"
    group_before = len(bench.group_messages())

    # 1. No code on the photo: one sentence, the privacy line, the safety line, and the list again.
    replies = await send_photo(bench, 3701, blank_photo())
    assert len(replies) == 1 and "pas pu lire le code" in replies[0]
    assert "n'est pas envoyée" in replies[0] and "15" in replies[0] and "112" in replies[0]
    assert list_is_shown(bench, 3701)

    # 2. A box that is not an opioid (Doliprane): named, recorded as such, the list again.
    replies = await send_photo(bench, 3701, box_photo(cip(7)))
    assert "Doliprane 1000 mg, comprimé" in replies[-1] and list_is_shown(bench, 3701)

    # 3. Skenan: "is it this medicine?" — No: the list again; the answer is not recorded.
    replies = await send_photo(bench, 3701, box_photo(cip(1), seed=3))
    assert replies[-1].startswith("Skenan LP 30 mg, gélule — est-ce bien ce médicament ?")
    await bench.press(patient, "Non")
    assert list_is_shown(bench, 3701)
    assert (await current_prompt(bench, patient)).item.id == "bg_product"

    # 4. Again, and Yes: the product is the answer; the doses follow as today.
    await send_photo(bench, 3701, box_photo(cip(1), seed=4))
    await bench.press(patient, "Oui")
    assert (await current_prompt(bench, patient)).item.id == "bg_dose"
    await answer_all(
        bench,
        patient,
        {
            "bg_dose": 30,
            "bg_units": "1",
            "bg_per_day": 2,
            "bg_more": "no",
            "rescue_taking": "no",
            "analgesic_same": "no",
        },
    )

    # Never passed on to the team, never kept: no copy, no message row, only the codes.
    posted = bench.group_messages()[group_before:]
    assert not [m for m in posted if m.extra.get("photo") or "photo" in (m.text or "")], [m.text for m in posted]
    assert not [m for m in bench.group_messages() if m.extra.get("photo")]
    assert rows(bench, "SELECT COUNT(*) FROM patient_messages WHERE kind = 'photo'") == [(0,)]
    scans = rows(bench, "SELECT status, cip13, product_code FROM medicine_scans ORDER BY id")
    assert scans == [
        ("no_code", None, None),
        ("not_in_list", cip(7), None),
        ("declined", cip(1), "skenan"),
        ("confirmed", cip(1), "skenan"),
    ]
    audited = rows(bench, "SELECT actor, new_value FROM audit_log WHERE action = 'medicine_photo' ORDER BY id")
    assert [actor for actor, _ in audited] == ["patient:M-001"] * 4
    d30 = prompt.instance.id
    assert rows(bench, "SELECT value FROM answers WHERE instance_id = ? AND item_id = 'bg_product'", d30) == [
        ('"skenan"',)
    ]

    assert bench.services is not None
    services = bench.services
    dataset = await load_dataset(services.store)
    lines = [
        dict(zip(CSV_COLUMNS, line))
        for line in csv_rows(dataset, services.questionnaires, services.opioids, "fr_sor", services.schedule)
    ]
    d30_lines = [line for line in lines if line["timepoint"] == "D30"]
    (cip_line,) = [line for line in d30_lines if line["item"] == "bg_product_cip13"]
    assert cip_line["value"] == cip(1) and cip_line["derivation"] == "box_photo"
    assert cip_line["stamp"].startswith("bdpm=") and len(cip_line["stamp"]) == len("bdpm=2027-03-01")
    (omed,) = [line for line in d30_lines if line["item"] == "omed_mg"]
    assert omed["value"] in ("60", "60.0")

    bundle = build_bundle(dataset, services.questionnaires, services.clock.now(), services.schedule)
    validate_bundle(bundle)
    (medication,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Medication"]
    coding = medication["resource"]["code"]["coding"]
    assert {"system": CIP_SYSTEM, "code": cip(1), "display": "Skenan LP 30 mg, gélule"} in coding
    assert medication["resource"]["extension"][0]["url"] == EXT_BDPM_DATE
    response = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
        and e["resource"]["identifier"]["value"] == "M-001/D30"
    )
    (item,) = [i for i in response["item"] if i["linkId"] == "bg_product"]
    assert {"url": EXT_MEDICATION, "valueReference": {"reference": medication["fullUrl"]}} in item["extension"]


async def test_a_photo_outside_a_product_question_is_still_passed_on(bench: Bench) -> None:
    """The exception is narrow: the same box photo while a pain question is open goes to the team as before."""
    await import_fixture(bench)
    patient = await bench.join(3702, "M-002", RT)
    prompt = await current_prompt(bench, patient)
    assert prompt.item.type != "single" or prompt.item.id != "bg_product"
    replies = await send_photo(bench, 3702, box_photo(cip(1)))
    assert "transmis à votre équipe" in replies[-1]
    assert rows(bench, "SELECT COUNT(*) FROM patient_messages WHERE kind = 'photo'") == [(1,)]
    assert rows(bench, "SELECT COUNT(*) FROM medicine_scans") == [(0,)]
