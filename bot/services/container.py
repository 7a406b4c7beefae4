"""Everything a handler needs, built once at start-up (the composition root fills it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.config import Settings
from bot.services.history_cache import PriorHistoryCache
from bot.services.question_messages import QuestionMessages
from bot.storage.store import Store

if TYPE_CHECKING:
    from bot.domain.free_text_screen import FreeTextVocabulary
    from bot.domain.omed import OpioidCatalogue
    from bot.domain.questionnaire import Questionnaire
    from bot.domain.rules import RuleSet
    from bot.domain.schedule import ScheduleSpec
    from bot.domain.sites import Sites


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    questionnaires: dict[str, Questionnaire]
    rules: RuleSet
    schedule: ScheduleSpec
    opioids: OpioidCatalogue
    sites: Sites
    free_text_vocabulary: FreeTextVocabulary
    clinician_chat_id: int | None = None
    # Who this process is among the replicas sharing the database (BOT_REPLICA_ID): the holder of its leases and
    # outbox claims (migration 0010).
    replica_id: str = "local"
    bot_username: str = field(default="")
    # One delivery pass at a time: the periodic tick and the wake-up after an urgent answer must not both send
    # the same outbox row.
    delivery_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Each open questionnaire's earlier history, so that rules do not reload it on every answer (derived data).
    prior_histories: PriorHistoryCache = field(default_factory=PriorHistoryCache)
    # The message ids of the questions just sent, written together (bot.services.question_messages).
    question_messages: QuestionMessages = field(default_factory=QuestionMessages)
    # One pass over the patient notices at a time (the answer's own send and the clinicians' job).
    notice_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One digest at a time: the tick job and the clinicians' job may both find it due.
    digest_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The alerting of before issue 15, for the simulation's before/after only (`python -m bot simulate`): relative
    # rules against the baseline forever (`compare_with` ignored) and no merging into the open alert of a rule.
    legacy_alerting: bool = False

    def is_clinician(self, user_id: int | None, chat_id: int | None) -> bool:
        """Clinician commands need both: an allowed user, in the clinicians' group."""
        return (
            user_id is not None
            and user_id in self.settings.clinician_user_ids
            and chat_id is not None
            and chat_id == self.clinician_chat_id
        )
