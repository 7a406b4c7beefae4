"""Stamping the OMED of a questionnaire when it is completed (migration 0008, table omed_stamps; issue 17).

Decision (documented in docs/clinical/opioids.md): the OMED in mg is stored at derivation time for every table of
the catalogue, with opioids.yaml's `version`, the table id, the rules version and the regimen it converted.
Exports and the report use the stamped mg whenever the regimen they re-derive from the stored answers is the one
stamped, so a later opioids.yaml (a corrected factor) never silently re-labels an old OMED; an OMED without a
matching stamp (a questionnaire completed before 0008) is computed at export and flagged `derived_at_export`.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import Instance
from bot.domain.omed import Regimen, compute_omed
from bot.domain.questionnaire import Value
from bot.domain.stamps import rules_version
from bot.services import clinical_context
from bot.services.container import Services
from bot.storage import team_regimens
from bot.storage.store import Tx

__all__ = ["stamp_completed", "insert_stamps"]


async def insert_stamps(tx: Tx, services: Services, instance_id: int, regimen: Regimen, now: datetime) -> None:
    """One row per conversion table of the catalogue."""
    rules = rules_version(services.rules)
    for table_id in services.opioids.tables:
        result = compute_omed(regimen, services.opioids, table_id)
        details: dict[str, object] = {
            "unconverted": result.unconverted,
            "to_confirm": result.to_confirm,
            "carried_forward": result.carried_forward,
            "source": result.source,
        }
        await team_regimens.insert_omed_stamp(
            tx,
            instance_id=instance_id,
            table_id=table_id,
            catalogue_version=services.opioids.version,
            rules_version=rules,
            regimen=regimen,
            mg=result.mg,
            details=details,
            now=now,
        )


async def stamp_completed(
    tx: Tx,
    services: Services,
    instance: Instance,
    answers: dict[str, Value],
    now: datetime,
    history_version: tuple[int, int, int] | None = None,
) -> None:
    """The OMED of `instance`, just completed with `answers`, derived as the rules saw it, stamped
    (`history_version`: `instances.history_version`, if read already in this transaction)."""
    prior = await clinical_context.prior_history(tx, services, instance, history_version)
    _history, regimens = clinical_context.with_current(services, prior, instance, answers)
    await insert_stamps(tx, services, instance.id, regimens[instance.id], now)
