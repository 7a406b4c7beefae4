"""The `settings` table: small named values the bot keeps between runs (the clinicians' group after a migration,
the day of the last digest, the day of the last housekeeping)."""

from __future__ import annotations

from bot.storage.store import Tx


async def get_setting(tx: Tx, key: str) -> str | None:
    row = await tx.fetchone("SELECT value FROM settings WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def put_setting(tx: Tx, key: str, value: str) -> None:
    await tx.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
