"""A patient's whole questionnaire history in one round trip: every instance, the newest answer to each of their
items, and the regimens the team recorded (`bot.services.clinical_context.answered_history`).

Why: a patient's first answer of the day reads this inside its write transaction (the history cache is empty or
stale then); three trips there held the write lock three turns of a busy event loop (issue #18).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Instance
from bot.domain.questionnaire import Value
from bot.storage import instances, team_regimens
from bot.storage.store import Tx
from bot.storage.team_regimens import TeamRegimen


@dataclass(frozen=True)
class PatientHistory:
    instances: list[Instance]
    """Every instance of the patient, by opening time."""
    answers: dict[int, dict[str, Value]]
    """Instance id → (item id → newest value), as `instances.current_answers_for_patient`."""
    team: list[TeamRegimen]
    """The regimens the team recorded, oldest first (`team_regimens.for_patient`)."""


async def patient_history(tx: Tx, patient_id: int) -> PatientHistory:
    """The three reads of a patient's history, in one round trip."""
    instance_rows, answer_rows, team_rows = await tx.fetch_each(
        [
            (instances.INSTANCES_FOR, (patient_id,)),
            (instances.CURRENT_ANSWERS_FOR_PATIENT, (patient_id,)),
            (team_regimens.FOR_PATIENT, (patient_id,)),
        ]
    )
    return PatientHistory(
        instances=[instances.instance_from(r) for r in instance_rows],
        answers=instances.answers_by_instance(answer_rows),
        team=team_regimens.regimens_from(team_rows),
    )
