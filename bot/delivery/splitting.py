"""Cutting a long text into messages Telegram accepts, for every sender of long texts (the digest, /patients,
/alerts).

Why UTF-16: Telegram caps a message at 4096 characters *as UTF-16 code units* (Bot API, sendMessage: "1-4096
characters after entities parsing"; lengths and offsets are in UTF-16 units), so an emoji or any character outside
the Basic Multilingual Plane counts 2. Cutting by Python characters let 500-emoji messages through the check and
Telegram refused them with 400 "message is too long". Cuts fall on line boundaries, so an alert line is never split,
unless one line alone is too long; then it is cut between characters, never inside a surrogate pair.
"""

from __future__ import annotations

from typing import Final

TELEGRAM_MESSAGE_LIMIT: Final[int] = 4096
"""Telegram's limit on a text message, in UTF-16 code units (Bot API, sendMessage `text`)."""


def utf16_length(text: str) -> int:
    """How long Telegram thinks `text` is: characters beyond U+FFFF count 2."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut_line(line: str, limit: int) -> list[str]:
    """A line longer than `limit` UTF-16 units, in pieces of at most `limit`, cut between characters."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in line:
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    if current:
        pieces.append("".join(current))
    return pieces


def split_message(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """`text` as consecutive messages of at most `limit` UTF-16 units, cut at line ends; blank pieces dropped
    (Telegram refuses an empty message). Joining the pieces with newlines gives back the non-blank lines."""
    if limit < 2:
        raise ValueError("a message limit must allow at least one character")
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        for piece in _cut_line(line, limit) if utf16_length(line) > limit else [line]:
            width = utf16_length(piece)
            extra = width + (1 if current else 0)
            if current and size + extra > limit:
                chunks.append("\n".join(current))
                current, size = [], 0
                extra = width
            current.append(piece)
            size += extra
    if current:
        chunks.append("\n".join(current))
    return [chunk for chunk in chunks if chunk.strip()]
