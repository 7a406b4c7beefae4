"""When a caregiver is offered a questionnaire the patient has not started: `questionnaires/caregivers.yaml`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

from bot.domain.models import Instance
from bot.resources import data_path
from bot.services.container import Services

__all__ = ["OfferDelay", "load_offer_delays", "offer_delay"]

PRIMARY_KIND = "followup_primary"
"""The key of the primary end point's questionnaire (day 30) in the file."""


@dataclass(frozen=True)
class OfferDelay:
    after_sent: timedelta
    after_reminders: int | None = None


@functools.lru_cache(maxsize=4)
def load_offer_delays(path: Path | None = None) -> dict[str, OfferDelay]:
    """questionnaire kind → delay; a kind not in the file is never offered automatically."""
    raw = yaml.safe_load((path or data_path("questionnaires") / "caregivers.yaml").read_text(encoding="utf-8"))
    offers = raw.get("offers") or {}
    result: dict[str, OfferDelay] = {}
    for kind, spec in offers.items():
        hours = float(spec["after_sent_hours"])
        reminders = spec.get("after_reminders")
        if hours < 0 or (reminders is not None and int(reminders) < 0):
            raise ValueError(f"caregivers.yaml: {kind}: delays must be 0 or more")
        result[str(kind)] = OfferDelay(timedelta(hours=hours), None if reminders is None else int(reminders))
    return result


def offer_delay(services: Services, instance: Instance) -> OfferDelay | None:
    """The offer delay of this questionnaire (the primary end point has its own), or None: never offered."""
    delays = load_offer_delays()
    if instance.is_primary and PRIMARY_KIND in delays:
        return delays[PRIMARY_KIND]
    return delays.get(instance.questionnaire_id)
