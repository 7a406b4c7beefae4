"""A photo of a medicine box sent while a product question is open (issue 37): decode → BDPM → catalogue product →
"is it this medicine?" → on yes, the product answer, with the CIP13 and the BDPM date kept beside it.

Why here and not in the questionnaire: the product questions are recognised by what they ask (a single choice
among the catalogue's products, `is_product_item`), so the diary files need no flag. Privacy: a pharmacy label can
carry the patient's name, so the photo is decoded in memory and dropped; it is neither forwarded to the team nor
stored; only the code (CIP13, expiry, lot) is kept, in medicine_scans.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from bot.domain import engine
from bot.domain.models import Patient
from bot.domain.omed import OTHER_PRODUCT, OpioidCatalogue
from bot.domain.questionnaire import Item, Value
from bot.i18n import _
from bot.medicines.datamatrix import DecodeResult, decode_box_photo
from bot.medicines.matching import match_product
from bot.services.answering import Prompt, Submission, active_context, prompt_for, store_answer
from bot.services.container import Services
from bot.storage import audit, instances, medicines, patients
from bot.storage.inbox import settle_current_update
from bot.storage.store import Tx

Failure = Literal["no_code", "several_codes", "unknown_cip", "not_in_list"]


def is_product_item(item: Item, catalogue: OpioidCatalogue) -> bool:
    """A single choice whose every option is a product of the catalogue the patient may choose (plus "autre")."""
    if item.type != "single" or not item.choices:
        return False
    askable = {p.code for p in catalogue.products if p.ask_patient}
    codes = [c.code for c in item.choices if c.code != OTHER_PRODUCT]
    return len(codes) >= 2 and all(code in askable for code in codes)


def privacy_text() -> str:
    return _("Your photo is not sent to your care team and is not kept: only the code on the box is noted.")


def failure_text(failure: Failure, display: str | None) -> str:
    """One plain sentence, then the list again."""
    if failure == "no_code":
        return _("I could not read the code on this photo: please choose your medicine from the list.")
    if failure == "several_codes":
        return _("I see several boxes on this photo: please choose your medicine from the list.")
    if failure == "unknown_cip":
        return _("I do not know this box: please choose your medicine from the list.")
    return _("{medicine} is not one of the medicines of this question: please choose from the list.").format(
        medicine=display or _("This medicine")
    )


def confirm_text(display: str) -> str:
    return _("{medicine} — is this your medicine?").format(medicine=display)


@dataclass(frozen=True)
class ScanOutcome:
    status: Literal["proposed", "failed", "stale"]
    scan_id: int | None = None
    display: str | None = None
    failure: Failure | None = None


async def _current(tx: Tx, services: Services, telegram_user_id: int) -> tuple[Patient | None, Prompt | None]:
    patient = await patients.find_by_telegram_user(tx, telegram_user_id)
    if patient is None or patient.status not in ("active", "paused"):
        return None, None
    instance = await instances.open_instance_for(tx, patient.id)
    if instance is None or instance.status != "open":
        return patient, None
    return patient, await prompt_for(tx, services, instance)


async def scan_photo(services: Services, telegram_user_id: int, photo: bytes, asked: Prompt) -> ScanOutcome:
    """Decode the photo (off the event loop), look the code up and record the scan, for the question `asked`."""
    decoded: DecodeResult = await asyncio.to_thread(decode_box_photo, photo)
    del photo  # nothing of the image outlives the decoding
    now = services.clock.now()
    async with services.store.transaction() as tx:
        patient, prompt = await _current(tx, services, telegram_user_id)
        if (
            patient is None
            or prompt is None
            or prompt.instance.id != asked.instance.id
            or prompt.item.id != asked.item.id
        ):
            return ScanOutcome("stale")
        code = decoded.single
        box = await medicines.lookup(tx, code.cip13) if code is not None and code.cip13 is not None else None
        failure: Failure | None
        product = None
        if not decoded.codes:
            failure = "no_code"
        elif code is None:
            failure = "several_codes"
        elif box is None:
            failure = "unknown_cip"
        else:
            product = match_product(box.facts, services.opioids, among=[c.code for c in prompt.item.choices or ()])
            failure = None if product is not None else "not_in_list"
        status = failure or "proposed"
        display = box.facts.display if box is not None else None
        bdpm_date = box.bdpm_date if box is not None else await medicines.bdpm_date(tx)
        scan_id = await medicines.record_scan(
            tx,
            patient_id=patient.id,
            instance_id=prompt.instance.id,
            item_id=prompt.item.id,
            status=status,
            now=now,
            cip13=code.cip13 if code is not None else None,
            expiry=code.expiry.isoformat() if code is not None and code.expiry is not None else None,
            lot=code.lot if code is not None else None,
            product_code=product,
            display=display,
            bdpm_date=bdpm_date,
        )
        await audit.record(
            tx,
            at=now,
            actor=f"patient:{patient.study_id}",
            action="medicine_photo",
            patient_id=patient.id,
            entity="medicine_scan",
            entity_id=scan_id,
            new_value={"status": status, "cip13": code.cip13 if code else None, "product": product},
            details={"item": prompt.item.id, "photo": "decoded in memory, not kept"},
        )
        await settle_current_update(tx, now)
        await tx.commit()
    if failure is not None:
        return ScanOutcome("failed", scan_id=scan_id, display=display, failure=failure)
    return ScanOutcome("proposed", scan_id=scan_id, display=display)


ConfirmStatus = Literal["stored", "declined", "stale"]


async def confirm(services: Services, telegram_user_id: int, scan_id: int) -> tuple[ConfirmStatus, Submission | None]:
    """ "Yes": store the scan's product as the answer to its question, and link the scan to that answer row."""
    now = services.clock.now()
    try:
        async with services.store.transaction() as tx:
            scan = await medicines.get_scan(tx, scan_id)
            if scan is None or scan.status != "proposed" or scan.product_code is None:
                return "stale", None
            patient, instance, problem, found = await active_context(tx, services, telegram_user_id, scan.instance_id)
            if problem is not None or patient is None or instance is None or patient.id != scan.patient_id:
                return "stale", None
            product = scan.product_code

            def value_for(prompt: Prompt) -> Value:
                if prompt.item.id != scan.item_id:
                    raise engine.InvalidAnswer(_("This question is no longer active. Nothing was changed."))
                return engine.answer_from_button(prompt.item, product)

            def link_scan(tx: Tx, prompt: Prompt) -> None:
                medicines.link_confirmed_scan(
                    tx, scan_id=scan.id, instance_id=scan.instance_id, item_id=scan.item_id, now=now
                )

            submission = await store_answer(
                tx,
                services,
                patient,
                instance,
                item_index=None,
                value_for=value_for,
                answered_at=now,
                now=now,
                actor=f"patient:{patient.study_id}",
                source="patient",
                found=found,
                before_commit=link_scan,
            )
    except medicines.ScanAlreadyDecided:
        return "stale", None
    if submission.status != "stored":
        return "stale", None
    return "stored", submission


async def decline(services: Services, telegram_user_id: int, scan_id: int) -> tuple[ConfirmStatus, Prompt | None]:
    """ "No": the scan is declined; the patient chooses from the list (the current question, returned)."""
    now = services.clock.now()
    async with services.store.transaction() as tx:
        scan = await medicines.get_scan(tx, scan_id)
        patient = await patients.find_by_telegram_user(tx, telegram_user_id)
        if scan is None or patient is None or patient.id != scan.patient_id:
            return "stale", None
        decided = await medicines.decide(tx, scan_id, status="declined", now=now)
        await settle_current_update(tx, now)
        await tx.commit()
    _patient, prompt = await _current_prompt(services, telegram_user_id)
    return ("declined" if decided else "stale"), prompt


async def _current_prompt(services: Services, telegram_user_id: int) -> tuple[Patient | None, Prompt | None]:
    async with services.store.read() as tx:
        return await _current(tx, services, telegram_user_id)
