"""The alerts and their closed loop as CSV (`--format alerts`) and as an HL7 FHIR R4 bundle (`--format alerts-fhir`).

Why a separate export: the telemonitoring yield (NCT06884332's secondary objective) is counted per alert — raised,
taken care of, what was done, what it was — and per firing that did not alert (alarm-fatigue measures, issue 15).
The long-format answers CSV keeps its columns; this file is one line per record:
- `alert`: one alert (rule, severity, when raised, when taken care of, how many occurrences it gathered);
- `suppressed`: a firing that did not alert, with why (`reason`: repeat, open, acknowledged, episode, ordered —
  `bot.storage.alerts.SuppressionReason`) and the alert it repeated (`alert_id`);
- `action` / `outcome`: a button pressed after "Pris en charge" (`code`), by whom (pseudonymised), when. The newest
  row of a kind is the current answer (a correction is a new row).
No Telegram identity: patients by study id, clinicians as `clinician:#N` in order of first appearance.

FHIR: each alert is a `Flag` (status inactive once taken care of; code = the rule, with its title), each action or
outcome a `Communication` about that Flag (category = action | outcome, payload = the code), each suppressed firing a
`Communication` with category `suppressed-firing`. Our own data go in documented extensions:
`urn:spinal-pro-bot:fhir:alert-severity` (valueCode urgent | same_day | info),
`urn:spinal-pro-bot:fhir:alert-acknowledged` (valueDateTime), `urn:spinal-pro-bot:fhir:alert-occurrences`
(valueInteger) and `urn:spinal-pro-bot:fhir:suppression-reason` (valueCode).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Final

from bot.export.audit_export import Pseudonymiser
from bot.export.cells import safe_cell
from bot.export.dataset import NO_PATIENTS_MESSAGE, ExportError, atomic_write, check_writable
from bot.export.fhir_export import STUDY_ID_SYSTEM, UUID_NAMESPACE
from bot.storage.exports import AlertData, AlertFact, FollowupFact, SuppressedFact, load_alert_data
from bot.storage.store import Store

__all__ = [
    "AlertData",
    "AlertFact",
    "COLUMNS",
    "FollowupFact",
    "SuppressedFact",
    "export_alerts_csv",
    "export_alerts_fhir",
    "load_alert_data",
]

COLUMNS: Final[tuple[str, ...]] = (
    "record",
    "study_id",
    "site",
    "arm",
    "alert_id",
    "rule_id",
    "severity",
    "questionnaire",
    "timepoint",
    "at",
    "acknowledged_at",
    "occurrences",
    "last_occurrence_at",
    "reason",
    "code",
    "by",
    "fired",
)
RULE_SYSTEM: Final[str] = "urn:spinal-pro-bot:rule"
FOLLOWUP_SYSTEM: Final[str] = "urn:spinal-pro-bot:alert-followup"
EXT_SEVERITY: Final[str] = "urn:spinal-pro-bot:fhir:alert-severity"
EXT_ACKNOWLEDGED: Final[str] = "urn:spinal-pro-bot:fhir:alert-acknowledged"
EXT_OCCURRENCES: Final[str] = "urn:spinal-pro-bot:fhir:alert-occurrences"
EXT_REASON: Final[str] = "urn:spinal-pro-bot:fhir:suppression-reason"


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def csv_lines(data: AlertData) -> list[tuple[str, ...]]:
    """The CSV data lines (pure): alerts, suppressed firings, follow-ups, each in id order."""
    who = Pseudonymiser()
    lines: list[tuple[str, ...]] = []
    by_id = {a.id: a for a in data.alerts}

    def line(**cells: object) -> tuple[str, ...]:
        return tuple(safe_cell(cells.get(c)) for c in COLUMNS)

    for a in data.alerts:
        study, site, arm = data.patients[a.patient_id]
        lines.append(
            line(
                record="alert",
                study_id=study,
                site=site,
                arm=arm,
                alert_id=a.id,
                rule_id=a.rule_id,
                severity=a.severity,
                questionnaire=a.questionnaire,
                timepoint=a.timepoint,
                at=_iso(a.created_at),
                acknowledged_at=_iso(a.acknowledged_at),
                occurrences=a.occurrences,
                last_occurrence_at=_iso(a.last_occurrence_at),
                by=who.actor(f"clinician:{a.acknowledged_by}") if a.acknowledged_by else None,
                fired=a.fired,
            )
        )
    for s in data.suppressed:
        study, site, arm = data.patients[s.patient_id]
        lines.append(
            line(
                record="suppressed",
                study_id=study,
                site=site,
                arm=arm,
                alert_id=s.previous_alert_id,
                rule_id=s.rule_id,
                at=_iso(s.created_at),
                reason=s.reason,
                fired=s.fired,
            )
        )
    for f in data.followups:
        alert = by_id[f.alert_id]
        study, site, arm = data.patients[alert.patient_id]
        lines.append(
            line(
                record=f.kind,
                study_id=study,
                site=site,
                arm=arm,
                alert_id=f.alert_id,
                rule_id=alert.rule_id,
                severity=alert.severity,
                at=_iso(f.recorded_at),
                code=f.code,
                by=who.actor(f"clinician:{f.recorded_by}"),
            )
        )
    return lines


async def _load(store: Store) -> AlertData:
    async with store.read() as tx:
        data = await load_alert_data(tx)
    if not data.patients:
        raise ExportError(NO_PATIENTS_MESSAGE)
    return data


async def export_alerts_csv(store: Store, out_path: str | Path) -> int:
    """Write the alert records as UTF-8 CSV with a header; return the number of lines."""
    check_writable(out_path)
    data = await _load(store)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    lines = csv_lines(data)
    writer.writerows(lines)
    atomic_write(out_path, buffer.getvalue())
    return len(lines)


def _uuid(kind: str, key: object) -> str:
    import uuid

    return f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, f'{kind}/{key}')}"


def fhir_bundle(data: AlertData) -> dict[str, object]:
    """The FHIR R4 collection bundle (pure): a Flag per alert, a Communication per follow-up or suppressed firing."""
    who = Pseudonymiser()
    entries: list[dict[str, object]] = []
    by_id = {a.id: a for a in data.alerts}

    def subject(patient_id: int) -> dict[str, object]:
        return {"identifier": {"system": STUDY_ID_SYSTEM, "value": data.patients[patient_id][0]}}

    for a in data.alerts:
        extensions: list[dict[str, object]] = [
            {"url": EXT_SEVERITY, "valueCode": a.severity},
            {"url": EXT_OCCURRENCES, "valueInteger": a.occurrences},
        ]
        if a.acknowledged_at:
            extensions.append({"url": EXT_ACKNOWLEDGED, "valueDateTime": a.acknowledged_at.isoformat()})
        entries.append(
            {
                "fullUrl": _uuid("alert", a.id),
                "resource": {
                    "resourceType": "Flag",
                    "status": "inactive" if a.acknowledged_at else "active",
                    "code": {"coding": [{"system": RULE_SYSTEM, "code": a.rule_id}], "text": a.title},
                    "subject": subject(a.patient_id),
                    "period": {"start": a.created_at.isoformat()},
                    "extension": extensions,
                },
            }
        )
    for f in data.followups:
        entries.append(
            {
                "fullUrl": _uuid("followup", f.id),
                "resource": {
                    "resourceType": "Communication",
                    "status": "completed",
                    "category": [{"coding": [{"system": FOLLOWUP_SYSTEM, "code": f.kind}]}],
                    "subject": subject(by_id[f.alert_id].patient_id),
                    "about": [{"reference": _uuid("alert", f.alert_id)}],
                    "sent": f.recorded_at.isoformat(),
                    "sender": {"display": who.actor(f"clinician:{f.recorded_by}")},
                    "payload": [{"contentString": f.code}],
                },
            }
        )
    for s in data.suppressed:
        resource: dict[str, object] = {
            "resourceType": "Communication",
            "status": "not-done",
            "category": [{"coding": [{"system": FOLLOWUP_SYSTEM, "code": "suppressed-firing"}]}],
            "subject": subject(s.patient_id),
            "sent": s.created_at.isoformat(),
            "payload": [{"contentString": s.fired}],
            "extension": [
                {"url": EXT_REASON, "valueCode": s.reason},
                {"url": "urn:spinal-pro-bot:fhir:rule", "valueCode": s.rule_id},
            ],
        }
        if s.previous_alert_id is not None:
            resource["about"] = [{"reference": _uuid("alert", s.previous_alert_id)}]
        entries.append({"fullUrl": _uuid("suppressed", s.id), "resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


async def export_alerts_fhir(store: Store, out_path: str | Path) -> int:
    """Write the FHIR bundle as JSON; return the number of resources."""
    check_writable(out_path)
    bundle = fhir_bundle(await _load(store))
    atomic_write(out_path, json.dumps(bundle, ensure_ascii=False, indent=1))
    entries = bundle["entry"]
    return len(entries) if isinstance(entries, list) else 0
