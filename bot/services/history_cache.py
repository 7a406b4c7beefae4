"""The cache of each open questionnaire's earlier history (`bot.services.clinical_context.prior_history`).

Its own module, importing no service: `bot.services.container.Services` holds one, and `clinical_context` imports
the container, so the cache living in `clinical_context` made the two import each other.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from bot.domain.models import Instance
from bot.domain.omed import Regimen
from bot.domain.questionnaire import Value
from bot.storage.team_regimens import TeamRegimen

__all__ = ["PriorHistory", "PriorHistoryCache"]


@dataclass(frozen=True)
class PriorHistory:
    """A patient's answered questionnaires other than the one being answered: shown answers and regimens.

    It cannot change while that questionnaire is being answered — answers go to the open questionnaire only, and an
    answered questionnaire keeps its place (`opens_at`) and stays in the history whatever its status becomes — so
    it is built once per questionnaire and reused for each answer (`prior_history`). `version` (count and newest id
    of those answers) proves it is still current; it is read from the database on every use.
    """

    version: tuple[int, int, int]
    entries: tuple[tuple[Instance, dict[str, Value]], ...]
    regimens: dict[int, Regimen]
    team: tuple[TeamRegimen, ...] = ()

    def precedes(self, instance: Instance) -> bool:
        """Is every earlier questionnaire before `instance` in time (the usual case: it is the latest)?"""
        return all((inst.opens_at, inst.id) < (instance.opens_at, instance.id) for inst, _ in self.entries)


class PriorHistoryCache:
    """The `PriorHistory` of the questionnaires being answered now, newest used kept (a derived, bounded cache:
    losing it in a restart costs one reload)."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[int, PriorHistory] = OrderedDict()

    def get(self, instance_id: int, version: tuple[int, int, int]) -> PriorHistory | None:
        found = self._entries.get(instance_id)
        if found is None or found.version != version:
            return None
        self._entries.move_to_end(instance_id)
        return found

    def put(self, instance_id: int, history: PriorHistory) -> None:
        self._entries[instance_id] = history
        self._entries.move_to_end(instance_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
