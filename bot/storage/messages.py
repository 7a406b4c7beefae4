"""Patient messages (migration 0003): what a patient wrote outside an answer, kept append-only.

The bot only writes here: each message is also in the audit trail (action `message`), and reaches the team through
the alert it is linked to (`alert_id`), or through the group post that carries it (`post_id`, migration 0013:
held by burst control, or a red flag joining an open alert). No export reads this table yet.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.clock import utc_iso
from bot.storage.store import Tx


async def insert_message(
    tx: Tx,
    *,
    patient_id: int,
    instance_id: int | None,
    kind: str,
    text: str | None,
    chat_id: int,
    message_id: int,
    telegram_date: datetime | None,
    received_at: datetime,
    flags: list[str],
    alert_id: int | None,
    post_id: int | None = None,
    caregiver_id: int | None = None,
) -> int:
    return await tx.execute(
        "INSERT INTO patient_messages (patient_id, instance_id, kind, text, chat_id, message_id, telegram_date,"
        " received_at, flags, alert_id, post_id, caregiver_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            patient_id,
            instance_id,
            kind,
            text,
            chat_id,
            message_id,
            utc_iso(telegram_date) if telegram_date else None,
            utc_iso(received_at),
            json.dumps(flags, ensure_ascii=False),
            alert_id,
            post_id,
            caregiver_id,
        ),
    )
