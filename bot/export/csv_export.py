"""Tidy long-format CSV of every stored answer row, plus one derived OMED row per completed instance.

Why long format and every row: a statistician re-derives the endpoints from this file, and a monitor checks the
corrections, so nothing is collapsed: one line per row of `answers` (corrections included, `superseded` = true on
the rows a newer one replaced). The computed OMED (oral morphine equivalent daily dose) is added as rows with item
`omed_mg` and a `derivation` naming the conversion table and the version of opioids.yaml, because opioids.md requires every exported OMED to be
labelled with the table used. No Telegram identity is ever written: the export never reads `telegram_links`.

`questionnaire_version` and `questionnaire_hash` are those stamped when the questionnaire was sent (migration 0007;
empty hash for an instance sent before it): an upgraded questionnaire file does not change them, and the text
asked is kept under the hash in `questionnaire_texts`.

Every instance (sent or not, answered or not) also has four rows with `derivation` "instance": `instance_status`
(completed / partial / missed / withdrawn / deceased / cancelled / in_progress / planned, `export_status`), `instance_due`,
`instance_sent` and `instance_closed` (UTC times in `value`), so a missed questionnaire is a row, not an absence.

`source` says through which channel the answer came: "patient" (a chat of the follow-up) or "phone" (a research
nurse entering it from the clinicians' group, /saisie). `respondent` (issue 36) says who answered: "patient", or
"caregiver:<number>" (a relative answering as the patient would, docs/clinical/caregivers.md; never their Telegram
identity); empty on derived rows. `flags` lists data-quality flags joined with ";" (`bot.export.flags`): "after_rt_start"
on a baseline answer given after the first fraction started, "enrolled_after_rt_start" on every row of a patient
enrolled after it. On an OMED row: "carried_forward" when the regimen came from an earlier questionnaire ("same
as last time": the last complete regimen), "clinician_regimen" when the regimen was recorded by a clinician
(/traitement), "computed_at_export" when the OMED was not stamped when derived (before migration 0008: computed
with the current table), "to_confirm:<substance/route>" when a factor is to be confirmed by the site pharmacist.
A product answer given by a photo of the box (issue 37) is followed by a row `<item>_cip13` (derivation
"box_photo", value the CIP13, `stamp` "bdpm=<date of the BDPM file it was looked up in>").
`stamp` (OMED rows) gives the versions it was derived with when the questionnaire was completed
("opioids=1.1;table=fr_sor;rules=1+sha256:…", migration 0008): the OMED exported is the one stored then, so a
later opioids.yaml does not re-label it.

For each follow-up time point of an evaluable patient (baseline worst pain ≥ 2) two derived rows give the
consensus pain response (Chow 2012) as the trial report computes it: `icpre_project` and `icpre_strict`
(derivation "icpre:project:omed:<table>" / "icpre:strict:…"; value responder category, empty when not
assessable). trial.yaml says which reading is primary.

Format: UTF-8, header row, RFC 4180 quoting (the `csv` module, CRLF line ends), values as plain text (a list of
choice codes joined with ";"). A text cell starting like a spreadsheet formula (=, +, -, @, tab, CR) is prefixed
with a single quote (`bot.export.cells`); numbers, negative ones included, are written as numbers.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from bot.clock import utc_iso
from bot.domain.models import Instance, Patient
from bot.domain.omed import OmedResult, OpioidCatalogue, UnknownTableError
from bot.domain.questionnaire import Questionnaire, Value
from bot.domain.schedule import ScheduleSpec
from bot.export.cells import safe_text
from bot.export.dataset import (
    AnswerRow,
    Dataset,
    ExportError,
    atomic_write,
    check_writable,
    instance_omeds,
    load_dataset,
    require_patients,
)
from bot.export.flags import (
    ENROLLED_AFTER_RT_START,
    FLAG_SEPARATOR,
    answer_flags,
    default_schedule,
    enrolled_after_rt_start,
)
from bot.storage.medicines import Scan
from bot.storage.store import Store

__all__ = [
    "CSV_COLUMNS",
    "MESSAGE_COLUMNS",
    "message_rows",
    "export_messages",
    "OMED_ITEM",
    "LIST_SEPARATOR",
    "plain_text",
    "number_text",
    "csv_rows",
    "export_csv",
]

log = logging.getLogger(__name__)

CSV_COLUMNS: Final[tuple[str, ...]] = (
    "study_id",
    "site",
    "arm",
    "questionnaire",
    "questionnaire_version",
    "questionnaire_hash",
    "instance",
    "timepoint",
    "item",
    "value",
    "answered_at",
    "received_at",
    "superseded",
    "derivation",
    "source",
    "flags",
    "stamp",
    "respondent",
)
OMED_ITEM: Final[str] = "omed_mg"
"""Item id of the derived OMED rows (mg/day)."""
OMED_DERIVATION: Final[str] = "omed:{table}@{version}"
"""The table and the version of opioids.yaml the OMED was computed with (e.g. "omed:fr_sor@1.1")."""
CARRIED_FORWARD: Final[str] = "carried_forward"
"""Flag of an OMED whose regimen came from an earlier questionnaire ("same as last time")."""
CLINICIAN_REGIMEN: Final[str] = "clinician_regimen"
"""Flag of an OMED whose regimen a clinician recorded (/traitement), confirmed or carried forward since."""
COMPUTED_AT_EXPORT: Final[str] = "computed_at_export"
"""Flag of an OMED not stamped when derived (completed before migration 0008): computed with today's table."""
TO_CONFIRM: Final[str] = "to_confirm:{what}"
"""Flag of an OMED converted with a factor to confirm by the site pharmacist (methadone, transmucosal fentanyl)."""
CIP13_SUFFIX: Final[str] = "_cip13"
"""Item of the row beside a product answer given by a box photo: `<item>_cip13` (e.g. bg_product_cip13)."""
BOX_PHOTO_DERIVATION: Final[str] = "box_photo"
"""Derivation of that row; its `stamp` is "bdpm=<date of CIS_CIP_bdpm.txt>" (issue 37)."""
LIST_SEPARATOR: Final[str] = ";"
OMED_DECIMALS: Final[int] = 4
"""Decimals kept for a derived OMED: a formatting convention (0.0001 mg is far below any dose step), not clinical."""


def number_text(number: float) -> str:
    """A number as an analyst expects it: "60" rather than "60.0", "33.3333" rather than 33.333333333333336."""
    if isinstance(number, int) and not isinstance(number, bool):
        return str(number)
    if not math.isfinite(number):
        return str(number)
    if number == int(number):
        return str(int(number))
    return f"{number:.{OMED_DECIMALS}f}".rstrip("0").rstrip(".")


def plain_text(value: Value | bool | None) -> str:
    """A stored JSON answer as plain text: strings as they are (markers "_skip"/"_unknown" included, so an analyst
    can tell a skipped item from a missing one), numbers without noise, lists joined with ";", null as empty.
    Text (free text, a list of codes) that starts like a formula is neutralised; a number never is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, list):
        return safe_text(LIST_SEPARATOR.join(_raw_text(v) for v in value))
    return safe_text(str(value))


def _raw_text(value: Value | bool | None) -> str:
    """One element of a list, before the joined cell is neutralised."""
    if isinstance(value, (int, float, bool)) or value is None:
        return plain_text(value)
    return str(value)


def _answer_line(patient: Patient, inst: Instance, row: AnswerRow, spec: ScheduleSpec) -> tuple[str, ...]:
    return _safe_labels(
        patient.study_id,
        patient.site_code,
        patient.arm,
        inst.questionnaire_id,
        inst.questionnaire_version,
        inst.questionnaire_hash or "",
        str(inst.id),
        inst.timepoint,
        row.item_id,
        plain_text(row.value),
        row.answered_at,
        row.received_at,
        "true" if row.superseded else "false",
        "",
        row.source,
        FLAG_SEPARATOR.join(answer_flags(spec, patient, inst, row.answered_at)),
        "",
        row.respondent,
    )


def _scan_line(patient: Patient, inst: Instance, row: AnswerRow, scan: Scan) -> tuple[str, ...]:
    """Beside a product answer given by a photo of the box (issue 37): its CIP13, and the BDPM it was looked up in."""
    return _safe_labels(
        patient.study_id,
        patient.site_code,
        patient.arm,
        inst.questionnaire_id,
        inst.questionnaire_version,
        inst.questionnaire_hash or "",
        str(inst.id),
        inst.timepoint,
        row.item_id + CIP13_SUFFIX,
        scan.cip13 or "",
        row.answered_at,
        row.received_at,
        "true" if row.superseded else "false",
        BOX_PHOTO_DERIVATION,
        row.source,
        "",
        f"bdpm={scan.bdpm_date or ''}",
        row.respondent,
    )


def _omed_line(
    patient: Patient,
    inst: Instance,
    rows: tuple[AnswerRow, ...],
    omed: OmedResult | None,
    table: str,
    spec: ScheduleSpec,
    version: str,
) -> tuple[str, ...]:
    """`version`: opioids.yaml's version now, used only when the OMED was not stamped when derived."""
    """The derived row; its times are those of the instance's newest answer row (when its inputs were last given)."""
    return _safe_labels(
        patient.study_id,
        patient.site_code,
        patient.arm,
        inst.questionnaire_id,
        inst.questionnaire_version,
        inst.questionnaire_hash or "",
        str(inst.id),
        inst.timepoint,
        OMED_ITEM,
        number_text(omed.mg) if omed is not None and omed.mg is not None else "",
        max((r.answered_at for r in rows), default=""),
        max((r.received_at for r in rows), default=""),
        "false",
        OMED_DERIVATION.format(
            table=omed.table if omed is not None else table,
            version=omed.catalogue_version if omed is not None and omed.stamped else version,
        ),
        "derived",
        FLAG_SEPARATOR.join(_omed_flags(omed, enrolled_after_rt_start(spec, patient))),
        _stamp_cell(omed),
    )


def _stamp_cell(omed: OmedResult | None) -> str:
    """The versions the OMED was derived with when its questionnaire was completed; empty when computed now."""
    if omed is None or not omed.stamped:
        return ""
    return f"opioids={omed.catalogue_version};table={omed.table};rules={omed.rules_version}"


def _omed_flags(omed: OmedResult | None, late: bool) -> list[str]:
    flags = [ENROLLED_AFTER_RT_START] if late else []
    if omed is not None and omed.carried_forward:
        flags.append(CARRIED_FORWARD)
    if omed is not None and omed.source == "clinician":
        flags.append(CLINICIAN_REGIMEN)
    if omed is not None and not omed.stamped:
        flags.append(COMPUTED_AT_EXPORT)
    if omed is not None:
        flags.extend(TO_CONFIRM.format(what=what) for what in omed.to_confirm)
    return flags


_VALUE_COLUMN: Final[int] = CSV_COLUMNS.index("value")


def _safe_labels(*cells: str) -> tuple[str, ...]:
    """Neutralise every text column (a site code may start with "-"); the value column is already safe, and
    neutralising it again would quote a negative number."""
    cells = cells + ("",) * (len(CSV_COLUMNS) - len(cells))  # derived rows: no respondent of their own
    return tuple(cell if i == _VALUE_COLUMN else safe_text(cell) for i, cell in enumerate(cells))


ICPRE_ITEMS: Final[tuple[str, str]] = ("icpre_project", "icpre_strict")
"""Items of the derived pain-response rows (Chow 2012), the project's reading and the strict one
(`bot.domain.endpoints.Reading`; which is primary: questionnaires/trial.yaml)."""


def _icpre_lines(
    patient: Patient, inst: Instance, project: object, strict: object, table: str
) -> Iterator[tuple[str, ...]]:
    """The pain response of a follow-up time point in both readings, as the report computes it (value empty
    when not assessable: no worst pain or no computable OMED there or at baseline)."""
    for item, category in zip(ICPRE_ITEMS, (project, strict)):
        yield _safe_labels(
            patient.study_id,
            patient.site_code,
            patient.arm,
            inst.questionnaire_id,
            inst.questionnaire_version,
            inst.questionnaire_hash or "",
            str(inst.id),
            inst.timepoint,
            item,
            str(getattr(category, "value", category)) if category is not None else "",
            "",
            "",
            "false",
            f"icpre:{item.removeprefix('icpre_')}:omed:{table}",
            "derived",
            "",
            "",
        )


INSTANCE_DERIVATION: Final[str] = "instance"
"""`derivation` of the rows describing an instance itself (its status and times), not an answer."""
INSTANCE_ITEMS: Final[tuple[str, ...]] = ("instance_status", "instance_due", "instance_sent", "instance_closed")


def export_status(inst: Instance, patient: Patient, answered: bool) -> str:
    """The questionnaire's status for the analysis: completed; partial (closed with some answers); missed (closed
    without any); withdrawn (cancelled because the patient withdrew); deceased (cancelled because a death was
    recorded, issue 39); cancelled (otherwise); in_progress (open); planned (not sent yet)."""
    if inst.status == "completed":
        return "completed"
    if inst.status == "missed":
        return "partial" if answered else "missed"
    if inst.status == "cancelled":
        return patient.status if patient.status in ("withdrawn", "deceased") else "cancelled"
    if inst.status in ("open", "sending"):
        return "in_progress"
    return "planned"


def _instance_lines(patient: Patient, inst: Instance, rows: tuple[AnswerRow, ...]) -> Iterator[tuple[str, ...]]:
    """One row per instance fact: status, due (window opens), sent, closed (completed, or the window's end once
    missed, withdrawn or cancelled); every instance has them, those without any answer too."""
    status = export_status(inst, patient, bool(rows))
    closed = (
        inst.completed_at
        if inst.status == "completed"
        else (inst.closes_at if inst.status in ("missed", "cancelled") else None)
    )
    values = (
        status,
        utc_iso(inst.opens_at),
        utc_iso(inst.sent_at) if inst.sent_at else "",
        utc_iso(closed) if closed else "",
    )
    for item, value in zip(INSTANCE_ITEMS, values):
        yield _safe_labels(
            patient.study_id,
            patient.site_code,
            patient.arm,
            inst.questionnaire_id,
            inst.questionnaire_version,
            inst.questionnaire_hash or "",
            str(inst.id),
            inst.timepoint,
            item,
            value,
            "",
            "",
            "false",
            INSTANCE_DERIVATION,
            "derived",
            "",
            "",
        )


def csv_rows(
    dataset: Dataset,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    table: str,
    schedule: ScheduleSpec | None = None,
) -> Iterator[tuple[str, ...]]:
    """Every line of the export after the header, pure: patients by site and study id, their instances in order,
    each instance's answer rows by id, then its OMED row when the instance is completed."""
    from bot.export.metrics import ReportPlan, patient_outcome  # the report's own derivation, not a copy

    spec = schedule or default_schedule()
    plan = ReportPlan.from_schedule(spec)
    for patient in dataset.patients:
        omeds = instance_omeds(dataset, patient.id, questionnaires, catalogue, table)
        outcome = patient_outcome(patient, dataset, omeds, plan)
        scored = {inst.timepoint: inst.id for inst, _answers in dataset.answered_history(patient.id)}
        for inst in dataset.instances_of(patient.id):
            rows = dataset.rows_of(inst.id)
            yield from _instance_lines(patient, inst, rows)
            for row in rows:
                yield _answer_line(patient, inst, row, spec)
                if row.id in dataset.scans:
                    yield _scan_line(patient, inst, row, dataset.scans[row.id])
            if inst.status == "completed":
                yield _omed_line(patient, inst, rows, omeds.get(inst.id), table, spec, catalogue.version)
            if inst.timepoint in outcome.responses and scored.get(inst.timepoint) == inst.id:
                yield from _icpre_lines(
                    patient,
                    inst,
                    outcome.responses[inst.timepoint],
                    outcome.responses_strict.get(inst.timepoint),
                    table,
                )


async def export_csv(
    store: Store,
    out_path: str | Path,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    table: str = "fr_sor",
) -> int:
    """Write the long-format CSV to `out_path`; return the number of data lines written.

    Raises `ExportError` for an unwritable path, an unknown conversion table or a database without patients.
    """
    check_writable(out_path)
    try:
        catalogue.table(table)
    except UnknownTableError as exc:
        raise ExportError(f"Cannot compute OMED: {exc}.") from None
    dataset = await load_dataset(store)
    require_patients(dataset)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)  # RFC 4180: minimal quoting, doubled quotes, CRLF
    writer.writerow(CSV_COLUMNS)
    count = 0
    for line in csv_rows(dataset, questionnaires, catalogue, table):
        writer.writerow(line)
        count += 1
    atomic_write(out_path, buffer.getvalue())
    log.info("CSV export: %s lines written to %s", count, out_path)
    return count


PATIENT_COLUMNS: Final[tuple[str, ...]] = (
    "study_id",
    "site",
    "arm",
    "status",
    "rt_start",
    "fractions_planned",
    "last_fraction_planned",
    "last_fraction_on",
    "fractions_delivered",
)
"""The patient table: one line per patient, what the analysis needs beside the answers. `last_fraction_on` and
`fractions_delivered` are what a clinician recorded (/fraction), empty when not recorded."""


def patient_rows(dataset: Dataset) -> Iterator[tuple[str, ...]]:
    """One line per patient (pure), in the order of `csv_rows`."""
    from bot.domain.schedule import fraction_days

    for p in dataset.patients:
        yield tuple(
            safe_text(cell)
            for cell in (
                p.study_id,
                p.site_code,
                p.arm,
                p.status,
                p.rt_start.isoformat(),
                str(p.fractions),
                fraction_days(p.rt_start, p.fractions)[-1].isoformat(),
                p.last_fraction_on.isoformat() if p.last_fraction_on else "",
                str(p.fractions_delivered) if p.fractions_delivered is not None else "",
            )
        )


async def export_patients(store: Store, out_path: str | Path) -> int:
    """Write the patient table (`PATIENT_COLUMNS`); return the number of patients."""
    check_writable(out_path)
    dataset = await load_dataset(store)
    require_patients(dataset)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(PATIENT_COLUMNS)
    rows = list(patient_rows(dataset))
    writer.writerows(rows)
    atomic_write(out_path, buffer.getvalue())
    return len(rows)


MESSAGE_COLUMNS: Final[tuple[str, ...]] = (
    "study_id",
    "site",
    "arm",
    "message",
    "received_at",
    "telegram_date",
    "kind",
    "text",
    "flags",
    "instance",
    "timepoint",
    "alert",
    "respondent",
)
"""The patients' own messages (issue 39, item 2): one line per row of `patient_messages` (append-only), oldest
first. `message` is the row id; `received_at` and `telegram_date` are UTC; `kind` text, voice, audio, photo,
video, document, sticker or other; `text` the text or a media's caption (empty for a media without one: the media
itself stays in Telegram, copied to the team when it arrived); `flags` the red-flag categories the screen found,
joined with ";"; `instance`/`timepoint` the questionnaire open when it arrived; `alert` the alert it raised;
`respondent` who wrote it: "patient" or "caregiver:<number>" (issue 36). No
Telegram identity (chat or message id) is written. Text cells go through `bot.export.cells.safe_cell`, as in the
other CSV files: patient free text is where a formula would come from."""


def message_rows(dataset: Dataset) -> Iterator[tuple[str, ...]]:
    """One line per patient message (pure)."""
    from bot.export.cells import safe_cell

    patients = {p.id: p for p in dataset.patients}
    instances = {i.id: i for i in dataset.instances}
    for m in dataset.messages:
        patient = patients.get(m.patient_id)
        if patient is None:
            continue
        inst = instances.get(m.instance_id) if m.instance_id is not None else None
        yield tuple(
            safe_cell(cell)
            for cell in (
                patient.study_id,
                patient.site_code,
                patient.arm,
                m.id,
                m.received_at,
                m.telegram_date,
                m.kind,
                m.text,
                FLAG_SEPARATOR.join(m.flags),
                m.instance_id,
                inst.timepoint if inst else None,
                m.alert_id,
                m.respondent,
            )
        )


async def export_messages(store: Store, out_path: str | Path) -> int:
    """Write the patients' messages (`MESSAGE_COLUMNS`); return the number of messages."""
    check_writable(out_path)
    dataset = await load_dataset(store)
    require_patients(dataset)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(MESSAGE_COLUMNS)
    rows = list(message_rows(dataset))
    writer.writerows(rows)
    atomic_write(out_path, buffer.getvalue())
    log.info("messages export: %s messages written to %s", len(rows), out_path)
    return len(rows)
