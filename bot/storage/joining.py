"""The state of joining the study (migration 0009): refused /start attempts and confirmed information messages.

Both decisions used to read the audit trail (counting its rows, comparing its JSON); the audit is a record, never
business state, so each has its own table. The audit entries are still written, by the services, as before.
"""

from __future__ import annotations

from datetime import datetime

from bot.clock import utc_iso
from bot.storage.store import Tx

__all__ = ["NO_MESSAGE", "record_refused_start", "refused_starts_since", "confirm_information"]

NO_MESSAGE = 0
"""The message id kept when a press came without its message (Telegram message ids start at 1)."""


async def record_refused_start(
    tx: Tx, *, telegram_user_id: int, update_id: int | None, reason: str, now: datetime
) -> bool:
    """Keep one refused /start; False when this update was already counted (handled again after a crash)."""
    return (
        await tx.execute_count(
            "INSERT INTO start_attempts (telegram_user_id, update_id, reason, attempted_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (telegram_user_id, update_id, reason, utc_iso(now)),
        )
        > 0
    )


async def refused_starts_since(tx: Tx, telegram_user_id: int, since: datetime) -> int:
    """How many /start of this Telegram user were refused since `since` (the rate limit)."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n FROM start_attempts WHERE telegram_user_id = ? AND attempted_at >= ?",
        (telegram_user_id, utc_iso(since)),
    )
    return int(row["n"]) if row is not None else 0


async def confirm_information(tx: Tx, *, patient_id: int, message_id: int | None, now: datetime) -> bool:
    """Record that the patient confirmed this information message; False if they already had (a double tap)."""
    return (
        await tx.execute_count(
            "INSERT INTO information_confirmations (patient_id, message_id, confirmed_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (patient_id, NO_MESSAGE if message_id is None else message_id, utc_iso(now)),
        )
        > 0
    )
