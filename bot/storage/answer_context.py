"""What an answer must read before it can be checked, in one round trip: who the Telegram user is, their open
questionnaire, and its answers so far.

Why: these three lookups ran one after the other inside the answer's write transaction, which holds the write
lock across every round trip to the database while each trip waits for a turn of a busy event loop (issue #18).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Instance, Patient
from bot.storage import instances, patients
from bot.storage.store import Tx

_OPEN_INSTANCE_OF_USER = (
    "SELECT * FROM instances WHERE patient_id = (SELECT patient_id FROM telegram_links WHERE telegram_user_id = ?)"
    " AND status IN ('sending', 'open') ORDER BY opens_at LIMIT 1"
)


@dataclass(frozen=True)
class AnswerContext:
    patient: Patient | None
    instance: Instance | None
    """The patient's one active questionnaire (being sent or open), as `instances.open_instance_for`."""
    answers: dict[str, object]
    """Its answers with their context (`instances.answers_with_context`); empty without an instance."""


async def answer_context(tx: Tx, telegram_user_id: int) -> AnswerContext:
    """The patient linked to `telegram_user_id`, their open questionnaire and its answers (one round trip)."""
    instance_id = f"(SELECT id FROM ({_OPEN_INSTANCE_OF_USER}) AS open_instance)"
    patient_rows, instance_rows, answer_rows = await tx.fetch_each([
        (patients.FIND_BY_TELEGRAM_USER, (telegram_user_id,)),
        (_OPEN_INSTANCE_OF_USER, (telegram_user_id,)),
        (instances.ANSWERS_WITH_CONTEXT.format(instance=instance_id), (telegram_user_id, telegram_user_id)),
    ])
    patient = patients.patient_from(patient_rows[0]) if patient_rows else None
    if patient is None or not instance_rows:
        return AnswerContext(patient, None, {})
    return AnswerContext(patient, instances.instance_from(instance_rows[0]), instances.with_context(answer_rows))
