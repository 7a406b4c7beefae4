"""Data export: long-format CSV, HL7 FHIR R4 bundle and the audit trail, all without any Telegram identity.

`export(fmt, ...)` is the single entry point the CLI uses; each format also has its own function.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from bot.domain.omed import OpioidCatalogue
from bot.domain.questionnaire import Questionnaire
from bot.export.alerts_export import export_alerts_csv, export_alerts_fhir
from bot.export.audit_export import export_audit
from bot.export.csv_export import export_csv
from bot.export.dataset import ExportError, open_existing_store
from bot.export.fhir_export import export_fhir
from bot.output_files import output_problem
from bot.storage.store import Store

__all__ = ["FORMATS", "ExportError", "export", "export_audit", "export_csv", "export_fhir", "open_existing_store"]

FORMATS: Final[tuple[str, ...]] = ("csv", "fhir", "audit", "alerts", "alerts-fhir", "patients", "messages")


async def export(
    fmt: str,
    store: Store,
    out_path: str | Path,
    questionnaires: Mapping[str, Questionnaire],
    catalogue: OpioidCatalogue,
    table: str | None = None,
) -> int:
    """Run the export `fmt` ("csv", "fhir", "audit" or "patients", the patient table, "messages", the patients' own messages); return how many lines/resources/entries were written.

    `table` is the OMED conversion table of the CSV export (default: the catalogue's default table).
    Raises `ExportError` for an unknown format and for every problem the exports report.
    """
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    problem = output_problem(Path(out_path), database=store.path, force=True)
    if problem:  # never write over the database being exported, even when called from code
        raise ExportError(f"Cannot write the export: {problem}.")
    if fmt == "csv":
        return await export_csv(store, out_path, questionnaires, catalogue, table or catalogue.default_table)
    if fmt == "fhir":
        return await export_fhir(store, out_path, questionnaires)
    if fmt == "alerts":  # alerts, suppressed firings and the closed loop (issue 15)
        return await export_alerts_csv(store, out_path)
    if fmt == "alerts-fhir":
        return await export_alerts_fhir(store, out_path)
    if fmt == "patients":
        from bot.export.csv_export import export_patients

        return await export_patients(store, out_path)
    if fmt == "messages":  # the patients' own texts and media (issue 39, item 2)
        from bot.export.csv_export import export_messages

        return await export_messages(store, out_path)
    return await export_audit(store, out_path)
