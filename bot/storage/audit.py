"""The append-only audit trail (database triggers forbid UPDATE and DELETE on it)."""

from __future__ import annotations

import json
from datetime import datetime

from bot.clock import utc_iso
from bot.storage.store import Tx


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


async def record(
    tx: Tx,
    *,
    at: datetime,
    actor: str,
    action: str,
    patient_id: int | None = None,
    entity: str | None = None,
    entity_id: object = None,
    old_value: object = None,
    new_value: object = None,
    telegram_date: datetime | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """Append one audit entry: who did what, old and new value, when (UTC) and the Telegram message date.

    Deferred (`Tx.defer`): it reaches the database with the transaction's next statement or its commit, in the
    same trip — an entry is written with the change it records, or not at all."""
    tx.defer(
        "INSERT INTO audit_log (at, actor, action, patient_id, entity, entity_id, old_value, new_value,"
        " telegram_date, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            utc_iso(at),
            actor,
            action,
            patient_id,
            entity,
            None if entity_id is None else str(entity_id),
            _text(old_value),
            _text(new_value),
            utc_iso(telegram_date) if telegram_date else None,
            _text(details),
        ),
    )
