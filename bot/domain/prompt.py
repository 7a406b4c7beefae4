"""The question a patient is being asked now: what the services hand to the messenger port to show.

Why in the domain: the port (`bot.messenger`) and its adapters describe what they send with this type, and a port
must not depend on a use case (issue 34, item 3). Pure data, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Instance
from bot.domain.questionnaire import Item, Questionnaire

__all__ = ["Prompt"]


@dataclass(frozen=True)
class Prompt:
    """The question a patient is being asked now."""

    instance: Instance
    questionnaire: Questionnaire
    item: Item
    item_index: int
    position: int
    total: int
    selection: tuple[str, ...]
    can_go_back: bool
    correcting: bool
    text: str = ""
    """The question as shown, when it differs from `item.text` (the regimen recorded by the team filled in)."""
