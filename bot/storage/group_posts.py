"""The group-post outbox (migration 0013): a patient's words and media that reach the team outside an alert of their own.

Three kinds (see the migration): `words` (texts held by burst control, several in one post), `followup` (a red flag
joining an open alert of its danger group: posted at once under it) and `copy` (a media copied under its alert or
post). A copy is due only once what it replies to is in the group, so that it never arrives orphaned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import aiosqlite

from bot.clock import parse_utc, utc_iso
from bot.storage.store import Tx

PostKind = Literal["words", "followup", "copy"]

#: A `words` post takes held texts until they reach this many characters: the post stays under Telegram's 4,096.
WORDS_POST_CHARS = 3000


@dataclass(frozen=True)
class PostRow:
    id: int
    patient_id: int
    kind: str
    severity: str
    alert_id: int | None
    parent_post_id: int | None
    message_ref: int | None
    created_at: datetime
    attempts: int
    reply_to: int | None  # the group message it answers (its alert's, or its parent post's), when already sent


@dataclass(frozen=True)
class CarriedMessage:
    """One patient message carried by a post (its words, or the media it names)."""

    id: int
    kind: str
    text: str | None
    received_at: datetime
    flags: list[str]
    chat_id: int
    message_id: int


async def insert_post(
    tx: Tx,
    *,
    patient_id: int,
    kind: PostKind,
    severity: str,
    now: datetime,
    due_at: datetime,
    alert_id: int | None = None,
    parent_post_id: int | None = None,
    message_ref: int | None = None,
) -> int:
    return await tx.execute(
        "INSERT INTO group_posts (patient_id, kind, severity, alert_id, parent_post_id, message_ref, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, kind, severity, alert_id, parent_post_id, message_ref, utc_iso(now), utc_iso(due_at)),
    )


async def open_words_post(tx: Tx, patient_id: int, *, adding: int) -> int | None:
    """The patient's `words` post still waiting to be sent and not being sent now, if `adding` more characters
    still fit in it; None: start a new post."""
    row = await tx.fetchone(
        "SELECT g.id, COALESCE(SUM(LENGTH(COALESCE(m.text, ''))) + COUNT(m.id) * 40, 0) AS size FROM group_posts g"
        " LEFT JOIN patient_messages m ON m.post_id = g.id"
        " WHERE g.patient_id = ? AND g.kind = 'words' AND g.sent_at IS NULL AND g.claimed_by IS NULL"
        " GROUP BY g.id ORDER BY g.id DESC LIMIT 1",
        (patient_id,),
    )
    if row is None or int(row["size"]) + adding > WORDS_POST_CHARS:
        return None
    return int(row["id"])


_DUE = (
    "SELECT g.*, COALESCE(a.message_id, p.message_id) AS reply_to FROM group_posts g"
    " LEFT JOIN alerts a ON a.id = g.alert_id LEFT JOIN group_posts p ON p.id = g.parent_post_id"
    " WHERE g.next_attempt_at IS NOT NULL AND g.next_attempt_at <= ?"
    " AND (g.claimed_until IS NULL OR g.claimed_until <= ?)"
    " AND (g.kind <> 'copy' OR a.message_id IS NOT NULL OR p.message_id IS NOT NULL"
    "      OR (g.alert_id IS NULL AND g.parent_post_id IS NULL))"
    " ORDER BY CASE g.severity WHEN 'urgent' THEN 0 WHEN 'same_day' THEN 1 ELSE 2 END, g.id LIMIT ?"
)


def _row(r: aiosqlite.Row) -> PostRow:
    return PostRow(
        id=int(r["id"]),
        patient_id=int(r["patient_id"]),
        kind=str(r["kind"]),
        severity=str(r["severity"]),
        alert_id=r["alert_id"],
        parent_post_id=r["parent_post_id"],
        message_ref=r["message_ref"],
        created_at=parse_utc(r["created_at"]),
        attempts=int(r["attempts"]),
        reply_to=r["reply_to"],
    )


async def due_posts(tx: Tx, now: datetime, limit: int = 20) -> list[PostRow]:
    """Posts whose attempt is due, whose parent (alert or post) is already in the group, not being sent now."""
    return [_row(r) for r in await tx.fetchall(_DUE, (utc_iso(now), utc_iso(now), limit))]


async def claim_due_posts(tx: Tx, now: datetime, *, holder: str, until: datetime, limit: int = 20) -> list[PostRow]:
    """In a write transaction: the due posts, claimed by `holder` until `until` (another replica skips them)."""
    due = await due_posts(tx, now, limit)
    for post in due:
        await tx.execute(
            "UPDATE group_posts SET claimed_by = ?, claimed_until = ? WHERE id = ?", (holder, utc_iso(until), post.id)
        )
    return due


async def carried_messages(tx: Tx, post: PostRow) -> list[CarriedMessage]:
    """The patient messages a post carries: the held texts of a words or followup post, the media of a copy."""
    if post.kind == "copy":
        rows = await tx.fetchall("SELECT * FROM patient_messages WHERE id = ?", (post.message_ref,))
    else:
        rows = await tx.fetchall("SELECT * FROM patient_messages WHERE post_id = ? ORDER BY id", (post.id,))
    return [
        CarriedMessage(
            int(r["id"]),
            str(r["kind"]),
            r["text"],
            parse_utc(r["received_at"]),
            list(json.loads(r["flags"] or "[]")),
            int(r["chat_id"]),
            int(r["message_id"]),
        )
        for r in rows
    ]


async def record_attempt_failed(tx: Tx, post_id: int, next_attempt_at: datetime) -> None:
    await tx.execute(
        "UPDATE group_posts SET attempts = attempts + 1, next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL"
        " WHERE id = ?",
        (utc_iso(next_attempt_at), post_id),
    )


async def record_sent(tx: Tx, post_id: int, *, message_id: int | None, now: datetime) -> None:
    await tx.execute(
        "UPDATE group_posts SET sent_at = ?, message_id = ?, next_attempt_at = NULL, claimed_by = NULL,"
        " claimed_until = NULL WHERE id = ?",
        (utc_iso(now), message_id, post_id),
    )


async def release_claims_of(tx: Tx, holder: str) -> int:
    """At start-up: the posts this replica's previous run was sending when it was killed are free again."""
    return await tx.execute_count(
        "UPDATE group_posts SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (holder,)
    )
