"""HL7 FHIR R4 export: one `Bundle` (type `collection`) of `Questionnaire` and `QuestionnaireResponse` resources.

Why FHIR: a site's clinical data warehouse or EDC can import standard questionnaire responses without learning our
schema. The bundle is built as plain dicts (what is written is exactly what we built) and then validated by
parsing it with the `fhir.resources` models. `fhir.resources` 8 ships R5 at its top level and R4B under
`fhir.resources.R4B`; it has no plain-R4 package. R4B (FHIR 4.3) changed nothing in Bundle, Questionnaire or
QuestionnaireResponse that we use, so we validate with R4B and write R4 (4.0.1) content.

Mapping (our item type → FHIR item type / answer value):
scale → integer / valueInteger (with minValue/maxValue extensions); yesno → boolean / valueBoolean ("yes" = true);
single → choice / valueCoding (answerOption codings); multi → choice with `repeats` / one valueCoding per code;
number → decimal / valueDecimal; text → string / valueString. A skipped ("_skip") or "don't know" ("_unknown")
answer is an answer without a value carrying the data-absent-reason extension (asked-declined / asked-unknown).

Who answered and data-quality flags, as documented extensions (our own URLs, `urn:spinal-pro-bot:fhir:*`):
`EXT_ANSWER_SOURCE` (valueCode "patient" or "phone") on each response item, the source of its current answer;
`EXT_FLAG` (valueCode "after_rt_start" / "enrolled_after_rt_start", see `bot.export.flags`) on the response, once
per flag, when one of its current answers carries it. A response a caregiver gave (issue 36) has `author` and
`source` pointing to a `RelatedPerson` (identifier `CAREGIVER_SYSTEM` "<study id>#<number>", `patient` the study id).

The patients' own messages (texts, voice notes, photos…, table patient_messages) are `Communication` resources
(issue 39, item 2): status "completed", `subject` and `sender` the patient's study id, `sent` the time Telegram
gives, `received` when the bot stored it, the text or caption as `contentString` (a media as a `contentAttachment`
titled with its kind: the media itself stays in Telegram), and `EXT_RED_FLAG` (valueCode, once per category) for
what the red-flag screen found. No Telegram identity is written.

A product answer given by a photo of the box (issue 37) points (`EXT_MEDICATION`, valueReference) to a
`Medication` whose `code` carries the CIP13 in the ANS CIP/UCD code system (`CIP_SYSTEM`) and the catalogue
product, with the date of the BDPM it was read in (`EXT_BDPM_DATE`).

Only current answers appear (the newest row per item; corrections are in the CSV export and the audit trail).
`show_if` branching is not translated to `enableWhen` (our conditions are richer than enableWhen's; the responses
carry only the items that were answered, so nothing is lost for an importer).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from bot.clock import SystemClock, utc_iso
from bot.domain.models import Instance, Patient
from bot.domain.questionnaire import SKIPPED, UNKNOWN, Item, Questionnaire, Value
from bot.domain.schedule import ScheduleSpec
from bot.export.dataset import Dataset, ExportError, atomic_write, check_writable, load_dataset, require_patients
from bot.export.flags import answer_flags, default_schedule
from bot.storage.exports import MessageRow
from bot.storage.medicines import Scan
from bot.storage.store import Store

__all__ = [
    "FHIR_VERSION",
    "STUDY_ID_SYSTEM",
    "FHIR_ITEM_TYPES",
    "questionnaire_url",
    "questionnaire_resource",
    "response_resource",
    "build_bundle",
    "communication_resource",
    "validate_bundle",
    "export_fhir",
    "responses_in",
]

log = logging.getLogger(__name__)

FHIR_VERSION: Final[str] = "4.0.1"
"""FHIR R4 (the content we write); validated with the R4B models, see the module docstring."""
STUDY_ID_SYSTEM: Final[str] = "urn:spinal-pro-bot:study-id"
INSTANCE_SYSTEM: Final[str] = "urn:spinal-pro-bot:instance"
"""Identifier system of a response: value "<study id>/<timepoint>" (unique: one instance per patient and time)."""
QUESTIONNAIRE_URL: Final[str] = "urn:spinal-pro-bot:questionnaire:{id}"
CODE_SYSTEM: Final[str] = "urn:spinal-pro-bot:questionnaire:{id}:{item}"
"""Code system of one single/multi item's choice codes."""
UUID_NAMESPACE: Final[uuid.UUID] = uuid.uuid5(uuid.NAMESPACE_URL, "urn:spinal-pro-bot")
"""Entries get name-based UUIDs, so exporting the same database twice gives the same fullUrls."""

EXT_MIN_VALUE: Final[str] = "http://hl7.org/fhir/StructureDefinition/minValue"
EXT_MAX_VALUE: Final[str] = "http://hl7.org/fhir/StructureDefinition/maxValue"
EXT_DATA_ABSENT: Final[str] = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
EXT_ANSWER_SOURCE: Final[str] = "urn:spinal-pro-bot:fhir:answer-source"
"""Extension on a response item: who gave its current answer, "patient" (own chat) or "phone" (a nurse, /saisie)."""
EXT_FLAG: Final[str] = "urn:spinal-pro-bot:fhir:data-flag"
"""Extension on a response: a data-quality flag of its answers (`bot.export.flags`)."""
EXT_RED_FLAG: Final[str] = "urn:spinal-pro-bot:fhir:red-flag"
"""Extension on a Communication (a patient's message): a red-flag category the screen found in its text."""
CAREGIVER_SYSTEM: Final[str] = "urn:spinal-pro-bot:caregiver"
"""Identifier system of a caregiver's RelatedPerson (issue 36): value "<study id>#<caregiver number>", never their
Telegram identity."""
MESSAGE_SYSTEM: Final[str] = "urn:spinal-pro-bot:patient-message"
"""Identifier system of a Communication: value "<study id>/<message row id>"."""
CIP_SYSTEM: Final[str] = "https://smt.esante.gouv.fr/terminologie-cip_ucd"
"""Code system of a CIP13: the French ANS terminology server's CIP/UCD code system (Agence du Numérique en Santé,
SMT; cited by the ANS « FR Document Core » IG's medication value sets): docs/clinical/medicine-photos.md."""
EXT_MEDICATION: Final[str] = "urn:spinal-pro-bot:fhir:box-photo-medication"
"""Extension on a response item answered by a photo of the box (issue 37): valueReference to its Medication."""
EXT_BDPM_DATE: Final[str] = "urn:spinal-pro-bot:fhir:bdpm-date"
"""Extension on such a Medication: valueDate, the date of the BDPM file (CIS_CIP_bdpm.txt) the CIP13 was read in."""
ABSENT_REASON: Final[Mapping[str, str]] = {SKIPPED: "asked-declined", UNKNOWN: "asked-unknown"}

FHIR_ITEM_TYPES: Final[Mapping[str, str]] = {
    "scale": "integer",
    "yesno": "boolean",
    "single": "choice",
    "multi": "choice",
    "number": "decimal",
    "text": "string",
}
_YES_NO: Final[Mapping[str, bool]] = {"yes": True, "no": False}
_FHIR_ID_UNSAFE: Final[re.Pattern[str]] = re.compile(r"[^A-Za-z0-9\-.]")


def _fhir_id(text: str) -> str:
    """A resource id (FHIR ids allow letters, digits, '-' and '.', up to 64 characters)."""
    return _FHIR_ID_UNSAFE.sub("-", text)[:64]


def _full_url(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, f'{kind}/{key}')}"


def questionnaire_url(questionnaire_id: str) -> str:
    return QUESTIONNAIRE_URL.format(id=questionnaire_id)


def _bound(item: Item, url: str, value: float) -> dict[str, Any]:
    if item.type == "scale":
        return {"url": url, "valueInteger": int(value)}
    return {"url": url, "valueDecimal": value}


def _coding(questionnaire_id: str, item: Item, code: str) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": CODE_SYSTEM.format(id=questionnaire_id, item=item.id), "code": code}
    choice = item.choice(code)
    if choice is not None:
        coding["display"] = choice.label
    return coding


def _questionnaire_item(questionnaire_id: str, item: Item) -> dict[str, Any]:
    entry: dict[str, Any] = {"linkId": item.id, "text": item.text, "type": FHIR_ITEM_TYPES[item.type]}
    # Without enableWhen (see the module docstring) a conditional item cannot be "required": an importer would
    # flag every response where its branch was not taken. A context item is never asked (filled by the bot).
    entry["required"] = not item.optional and item.show_if is None and not item.context
    if item.context:
        entry["readOnly"] = True
    if item.type == "multi":
        entry["repeats"] = True
    if item.type in ("single", "multi"):
        entry["answerOption"] = [{"valueCoding": _coding(questionnaire_id, item, c)} for c in item.codes]
    if item.type in ("scale", "number"):
        extensions = []
        if item.min is not None:
            extensions.append(_bound(item, EXT_MIN_VALUE, item.min))
        if item.max is not None:
            extensions.append(_bound(item, EXT_MAX_VALUE, item.max))
        if extensions:
            entry["extension"] = extensions
    if item.type == "text" and item.max_length is not None:
        entry["maxLength"] = item.max_length
    return entry


def questionnaire_resource(questionnaire: Questionnaire) -> dict[str, Any]:
    """The FHIR Questionnaire for one of our definitions (linkId = our item id)."""
    return {
        "resourceType": "Questionnaire",
        "id": _fhir_id(f"{questionnaire.id}-{questionnaire.version}"),
        "url": questionnaire_url(questionnaire.id),
        "version": questionnaire.version,
        "title": questionnaire.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": questionnaire.source,
        "item": [_questionnaire_item(questionnaire.id, item) for item in questionnaire.items],
    }


def _inferred_answers(value: Value) -> list[dict[str, Any]]:
    """Answers of an item we have no definition for: typed from the JSON value itself."""
    if isinstance(value, bool):
        return [{"valueBoolean": value}]
    if isinstance(value, int):
        return [{"valueInteger": value}]
    if isinstance(value, float):
        return [{"valueDecimal": value}]
    if isinstance(value, list):
        return [{"valueString": str(v)} for v in value]
    return [{"valueString": str(value)}]


def _answers(questionnaire_id: str, item: Item | None, value: Value) -> list[dict[str, Any]]:
    if isinstance(value, str) and value in ABSENT_REASON:
        return [{"extension": [{"url": EXT_DATA_ABSENT, "valueCode": ABSENT_REASON[value]}]}]
    if item is None:
        return _inferred_answers(value)
    kind = item.type
    if kind == "scale" and isinstance(value, int) and not isinstance(value, bool):
        return [{"valueInteger": value}]
    if kind == "yesno" and isinstance(value, str) and value in _YES_NO:
        return [{"valueBoolean": _YES_NO[value]}]
    if kind == "single" and isinstance(value, str):
        return [{"valueCoding": _coding(questionnaire_id, item, value)}]
    if kind == "multi" and isinstance(value, list):
        return [{"valueCoding": _coding(questionnaire_id, item, str(code))} for code in value]
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return [{"valueDecimal": value}]
    if kind == "text" and isinstance(value, str):
        return [{"valueString": value}]
    # A stored value that does not fit its item's type (should not happen): exported, typed by what it is.
    log.warning("item %s of %s holds a value of an unexpected type; exported as found", item.id, questionnaire_id)
    return _inferred_answers(value)


def response_status(instance: Instance) -> str:
    """QuestionnaireResponse.status from the R4 value set (http://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html):
    "completed" when finished; "stopped" when closed before the end ("a response that was submitted before it was
    completed" — a missed questionnaire with some answers, or one cancelled when the patient withdrew or paused);
    "in-progress" while it can still be answered."""
    if instance.status == "completed":
        return "completed"
    if instance.status in ("missed", "cancelled"):
        return "stopped"
    return "in-progress"


def response_resource(
    patient: Patient,
    instance: Instance,
    answers: Mapping[str, Value | None],
    authored: str,
    questionnaire: Questionnaire | None,
    sources: Mapping[str, str] | None = None,
    flags: Sequence[str] = (),
    medications: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The QuestionnaireResponse of one instance, with its current answers in questionnaire order.

    `sources`: item id → who gave its current answer; `flags`: the response's data-quality flags; `medications`:
    item id → the fullUrl of the Medication its current answer was read from (a box photo, issue 37).
    """
    order = list(questionnaire.item_ids) if questionnaire is not None else []
    extra = sorted(k for k in answers if k not in order)
    items: list[dict[str, Any]] = []
    for item_id in [*order, *extra]:
        value = answers.get(item_id)
        if value is None:
            continue
        definition = questionnaire.item(item_id) if questionnaire is not None and item_id in order else None
        entry: dict[str, Any] = {"linkId": item_id}
        if definition is not None:
            entry["text"] = definition.text
        entry["answer"] = _answers(instance.questionnaire_id, definition, value)
        if sources and item_id in sources:
            entry["extension"] = [{"url": EXT_ANSWER_SOURCE, "valueCode": sources[item_id]}]
        if medications and item_id in medications:
            entry.setdefault("extension", []).append(
                {"url": EXT_MEDICATION, "valueReference": {"reference": medications[item_id]}}
            )
        items.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": _fhir_id(f"qr-{instance.id}"),
        "identifier": {"system": INSTANCE_SYSTEM, "value": f"{patient.study_id}/{instance.timepoint}"},
        "questionnaire": f"{questionnaire_url(instance.questionnaire_id)}|{instance.questionnaire_version}",
        "status": response_status(instance),
        "subject": {"identifier": {"system": STUDY_ID_SYSTEM, "value": patient.study_id}},
        "authored": authored,
        "item": items,
    }
    if flags:
        resource["extension"] = [{"url": EXT_FLAG, "valueCode": flag} for flag in flags]
    return resource


def medication_resource(scan: Scan, questionnaire_id: str, item: Item | None) -> dict[str, Any]:
    """The Medication of a box photo the patient confirmed: `code` holds the CIP13 (CIP_SYSTEM) and the catalogue
    product it gave (the item's choice code system), `text` what the patient was shown."""
    codings: list[dict[str, Any]] = []
    if scan.cip13:
        cip: dict[str, Any] = {"system": CIP_SYSTEM, "code": scan.cip13}
        if scan.display:
            cip["display"] = scan.display
        codings.append(cip)
    if scan.product_code and item is not None:
        codings.append(_coding(questionnaire_id, item, scan.product_code))
    resource: dict[str, Any] = {
        "resourceType": "Medication",
        "id": _fhir_id(f"med-{scan.id}"),
        "code": {"coding": codings},
    }
    if scan.display:
        resource["code"]["text"] = scan.display
    if scan.bdpm_date:
        resource["extension"] = [{"url": EXT_BDPM_DATE, "valueDate": scan.bdpm_date}]
    return resource


def related_person_resource(patient: Patient, number: int) -> dict[str, Any]:
    """The caregiver who answered for the patient (issue 36), named by the patient's study id and their number."""
    return {
        "resourceType": "RelatedPerson",
        "id": _fhir_id(f"rp-{patient.study_id}-{number}"),
        "identifier": [{"system": CAREGIVER_SYSTEM, "value": f"{patient.study_id}#{number}"}],
        "active": True,
        "patient": {"identifier": {"system": STUDY_ID_SYSTEM, "value": patient.study_id}},
        "relationship": [{"text": "aidant"}],
    }


def communication_resource(patient: Patient, message: MessageRow) -> dict[str, Any]:
    """The Communication of one message the patient wrote outside an answer (see the module docstring)."""
    who = {"identifier": {"system": STUDY_ID_SYSTEM, "value": patient.study_id}}
    sender = (
        who
        if message.caregiver is None  # issue 36: a caregiver's message is sent by them, about the patient
        else {"reference": _full_url("RelatedPerson", f"{patient.study_id}#{message.caregiver}")}
    )
    payload: list[dict[str, Any]] = []
    if message.kind != "text":
        payload.append({"contentAttachment": {"title": message.kind}})
    if message.text:
        payload.append({"contentString": message.text})
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": _fhir_id(f"msg-{message.id}"),
        "identifier": [{"system": MESSAGE_SYSTEM, "value": f"{patient.study_id}/{message.id}"}],
        "status": "completed",
        "subject": who,
        "sender": sender,
        "received": message.received_at,
    }
    if message.telegram_date:
        resource["sent"] = message.telegram_date
    if payload:
        resource["payload"] = payload
    if message.flags:
        resource["extension"] = [{"url": EXT_RED_FLAG, "valueCode": flag} for flag in message.flags]
    return resource


def build_bundle(
    dataset: Dataset,
    questionnaires: Mapping[str, Questionnaire],
    now: datetime,
    schedule: ScheduleSpec | None = None,
) -> dict[str, Any]:
    """The whole bundle, pure: the Questionnaires used by an answered instance, then one response per instance
    with at least one answer (patients by site and study id, instances in order), then one Communication per
    message the patients wrote (storage order)."""
    spec = schedule or default_schedule()
    responses: list[dict[str, Any]] = []
    medications: list[dict[str, Any]] = []
    related: dict[str, dict[str, Any]] = {}
    used: dict[tuple[str, str], Questionnaire] = {}
    for patient in dataset.patients:
        for inst in dataset.instances_of(patient.id):
            rows = dataset.rows_of(inst.id)
            if not rows:
                continue
            # The questionnaire as it was sent (its stamped text, migration 0007), so an upgraded file does not
            # change what earlier answers say they were asked; else the file loaded now.
            questionnaire = dataset.questionnaire_of(inst, questionnaires)
            if questionnaire is None:
                log.warning(
                    "questionnaire %s is not loaded: its answers are typed from their values", inst.questionnaire_id
                )
            else:
                used.setdefault((questionnaire.id, questionnaire.version), questionnaire)
                if questionnaire.version != inst.questionnaire_version:
                    log.warning(
                        "instance %s was answered with %s version %s; the definition exported is version %s",
                        inst.id,
                        inst.questionnaire_id,
                        inst.questionnaire_version,
                        questionnaire.version,
                    )
            authored = max(row.answered_at for row in rows)
            current = dataset.current_rows(inst.id)
            flags: dict[str, None] = {}
            for row in current.values():
                flags.update(dict.fromkeys(answer_flags(spec, patient, inst, row.answered_at)))
            linked: dict[str, str] = {}
            for item_id, row in current.items():
                scan = dataset.scans.get(row.id)
                if scan is None:
                    continue
                url = _full_url("Medication", str(scan.id))
                definition = (
                    questionnaire.item(item_id)
                    if questionnaire is not None and item_id in questionnaire.item_ids
                    else None
                )
                medications.append(
                    {"fullUrl": url, "resource": medication_resource(scan, inst.questionnaire_id, definition)}
                )
                linked[item_id] = url
            resource = response_resource(
                patient,
                inst,
                dataset.current_answers(inst.id),
                authored,
                questionnaire,
                sources={item_id: row.source for item_id, row in current.items()},
                flags=list(flags),
                medications=linked,
            )
            caregiver = next((row.caregiver for row in current.values() if row.caregiver is not None), None)
            if caregiver is not None:  # issue 36: answered by a caregiver: author and source are that RelatedPerson
                url = _full_url("RelatedPerson", f"{patient.study_id}#{caregiver}")
                related.setdefault(url, {"fullUrl": url, "resource": related_person_resource(patient, caregiver)})
                resource["author"] = {"reference": url}
                resource["source"] = {"reference": url}
            responses.append({"fullUrl": _full_url("QuestionnaireResponse", str(inst.id)), "resource": resource})
    definitions = [
        {
            "fullUrl": _full_url("Questionnaire", f"{qid}|{version}"),
            "resource": questionnaire_resource(used[(qid, version)]),
        }
        for qid, version in sorted(used)
    ]
    by_id = {p.id: p for p in dataset.patients}
    communications = [
        {"fullUrl": _full_url("Communication", str(m.id)), "resource": communication_resource(by_id[m.patient_id], m)}
        for m in dataset.messages
        if m.patient_id in by_id
    ]
    for m in dataset.messages:  # the RelatedPerson a caregiver's message names as sender is in the bundle
        if m.patient_id in by_id and m.caregiver is not None:
            url = _full_url("RelatedPerson", f"{by_id[m.patient_id].study_id}#{m.caregiver}")
            related.setdefault(
                url, {"fullUrl": url, "resource": related_person_resource(by_id[m.patient_id], m.caregiver)}
            )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utc_iso(now),
        "entry": definitions + responses + medications + list(related.values()) + communications,
    }


def validate_bundle(bundle: Mapping[str, Any]) -> None:
    """Parse the bundle with the `fhir.resources` R4B models; raise `ExportError` naming the first problem.

    The models check structure, datatypes and required elements but not code values, so the codes we choose
    (statuses, item types) are checked here too.
    """
    from fhir.resources.R4B.bundle import Bundle  # slow import: only when exporting

    try:
        Bundle.model_validate(dict(bundle))
    except (ValidationError, ValueError, KeyError) as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(exc)
        raise ExportError(f"The FHIR bundle does not validate: {detail}") from None
    for entry in bundle.get("entry", ()):
        resource = entry["resource"]
        if resource["resourceType"] == "QuestionnaireResponse" and resource["status"] not in (
            "in-progress",
            "completed",
            "amended",
            "entered-in-error",
            "stopped",
        ):
            raise ExportError(f"The FHIR bundle does not validate: response status {resource['status']!r}.")
        if resource["resourceType"] == "Communication" and resource["status"] != "completed":
            raise ExportError(f"The FHIR bundle does not validate: communication status {resource['status']!r}.")
        if resource["resourceType"] == "Questionnaire":
            for item in resource.get("item", ()):
                if item["type"] not in FHIR_ITEM_TYPES.values():
                    raise ExportError(f"The FHIR bundle does not validate: item type {item['type']!r}.")


async def export_fhir(
    store: Store,
    out_path: str | Path,
    questionnaires: Mapping[str, Questionnaire],
    *,
    now: datetime | None = None,
) -> int:
    """Write the validated FHIR R4 bundle as JSON to `out_path`; return the number of QuestionnaireResponses.

    Raises `ExportError` for an unwritable path, a database without patients or a bundle that does not validate.
    """
    check_writable(out_path)
    dataset = await load_dataset(store)
    require_patients(dataset)
    bundle = build_bundle(dataset, questionnaires, now or SystemClock().now())
    validate_bundle(bundle)
    atomic_write(out_path, json.dumps(bundle, ensure_ascii=False, indent=2) + "\n")
    count = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")
    log.info("FHIR export: %s responses written to %s", count, out_path)
    return count


def responses_in(bundle: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The QuestionnaireResponse resources of a bundle (for callers and tests)."""
    return [e["resource"] for e in bundle.get("entry", ()) if e["resource"]["resourceType"] == "QuestionnaireResponse"]
