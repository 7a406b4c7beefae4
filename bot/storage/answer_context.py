"""What an answer must read before it can be checked, in one round trip: who the Telegram user is, their open
questionnaire and its answers so far, and what the escalation rules compare with (the history's version, the
rules already decided for this questionnaire, the acknowledged alerts and the team's ordered changes).

Why: these lookups ran one after the other inside the answer's write transaction, which holds the write lock
across every round trip to the database while each trip waits for a turn of a busy event loop (issue #18).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from bot.domain.models import Instance, Patient
from bot.domain.questionnaire import Value
from bot.storage import alerts, instances, patients
from bot.storage.store import Tx

_OPEN_INSTANCE_OF_USER = (
    "SELECT * FROM instances WHERE patient_id = (SELECT patient_id FROM telegram_links WHERE telegram_user_id = ?)"
    " AND status IN ('sending', 'open') ORDER BY opens_at LIMIT 1"
)
_PATIENT_OF_USER = "(SELECT patient_id FROM telegram_links WHERE telegram_user_id = ?)"
_INSTANCE_OF_USER = f"(SELECT id FROM ({_OPEN_INSTANCE_OF_USER}) AS open_instance)"


@dataclass(frozen=True)
class AnswerContext:
    patient: Patient | None
    instance: Instance | None
    """The patient's one active questionnaire (being sent or open), as `instances.open_instance_for`."""
    answers: dict[str, Value]
    """Its answers with their context (`instances.answers_with_context`); empty without an instance."""
    history_version: tuple[int, int, int] | None = None
    """`instances.history_version` of the patient's other questionnaires; None without an instance."""
    already_fired: frozenset[str] = frozenset()
    """`alerts.rules_already_fired` for the instance."""
    acknowledged: dict[str, alerts.AlertRow] = field(default_factory=dict)
    """`alerts.last_acknowledged_of_rules` for the `reference_rules` asked."""
    ordered: dict[str, alerts.SuppressedRow] = field(default_factory=dict)
    """`alerts.last_suppressed_of_rules(reason="ordered")` for the `ordered_rules` asked."""


async def answer_context(
    tx: Tx, telegram_user_id: int, *, reference_rules: Collection[str] = (), ordered_rules: Collection[str] = ()
) -> AnswerContext:
    """The patient linked to `telegram_user_id`, their open questionnaire, its answers and what the rules compare
    with (one round trip). `reference_rules`: the rules whose last acknowledged alert is wanted; `ordered_rules`:
    those whose newest firing suppressed as the team's order ("ordered") is wanted."""
    user = telegram_user_id
    queries: list[tuple[str, tuple[object, ...]]] = [
        (patients.FIND_BY_TELEGRAM_USER, (user,)),
        (_OPEN_INSTANCE_OF_USER, (user,)),
        (instances.ANSWERS_WITH_CONTEXT.format(instance=_INSTANCE_OF_USER), (user, user)),
        (instances.HISTORY_VERSION.format(patient=_PATIENT_OF_USER, instance=_INSTANCE_OF_USER), (user, user, user)),
        (alerts.RULES_ALREADY_FIRED.format(instance=_INSTANCE_OF_USER), (user, user)),
    ]
    if reference_rules:
        queries.append(
            (
                alerts.last_acknowledged_of_rules_query(reference_rules, patient=_PATIENT_OF_USER),
                (user, *reference_rules),
            )
        )
    if ordered_rules:
        queries.append(
            (
                alerts.last_suppressed_of_rules_query(ordered_rules, patient=_PATIENT_OF_USER),
                (user, "ordered", *ordered_rules),
            )
        )
    rows = await tx.fetch_each(queries)
    patient_rows, instance_rows, answer_rows, version_rows, fired_rows = rows[:5]
    patient = patients.patient_from(patient_rows[0]) if patient_rows else None
    if patient is None or not instance_rows:
        return AnswerContext(patient, None, {})
    rest = iter(rows[5:])
    return AnswerContext(
        patient,
        instances.instance_from(instance_rows[0]),
        instances.with_context(answer_rows),
        history_version=instances.version_from(version_rows[0] if version_rows else None),
        already_fired=frozenset(r["rule_id"] for r in fired_rows),
        acknowledged=alerts.last_acknowledged_by_rule(next(rest)) if reference_rules else {},
        ordered=alerts.newest_suppressed_by_rule(next(rest)) if ordered_rules else {},
    )
