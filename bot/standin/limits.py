"""Telegram's own limits, in one place, with where each number comes from.

These are not clinical numbers but they are just as easy to get wrong: a bot that works against a lenient fake and
fails against Telegram (a 4097-character summary, an accented label in `callback_data`, a burst of reminders) is the
bug the stand-in exists to catch. The values are Telegram's, written down independently of python-telegram-bot so a
client bug is not mirrored by the server that should expose it.

Sources:
- Bot API reference, https://core.telegram.org/bots/api (sendMessage `text` "1-4096 characters after entities
  parsing"; `caption` "0-1024 characters after entities parsing"; InlineKeyboardButton `callback_data`
  "1-64 bytes"; answerCallbackQuery `text` "0-200 characters"; BotCommand `command` "1-32 characters. Can contain
  only lowercase English letters, digits and underscores", `description` "1-256 characters").
- Bots FAQ, "My bot is hitting limits, how do I avoid this?", https://core.telegram.org/bots/faq
  ("avoid sending more than one message per second" in a single chat, "short bursts that go over this limit"
  may be allowed; "not more than 20 messages per minute" to the same group; "no more than about 30 messages per
  second" overall for bulk notifications).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

#: sendMessage `text`, counted in UTF-16 code units after entity parsing (Bot API, sendMessage).
MAX_TEXT_LENGTH = 4096
#: sendPhoto/sendDocument `caption`, UTF-16 code units after entity parsing (Bot API, sendPhoto).
MAX_CAPTION_LENGTH = 1024
#: InlineKeyboardButton `callback_data`, in UTF-8 BYTES (Bot API, InlineKeyboardButton).
MAX_CALLBACK_DATA_BYTES = 64
MIN_CALLBACK_DATA_BYTES = 1
#: answerCallbackQuery `text` (Bot API, answerCallbackQuery).
MAX_CALLBACK_ANSWER_LENGTH = 200
#: BotCommand `command` and `description` (Bot API, BotCommand).
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION_LENGTH = 256
#: getUpdates `limit` "Values between 1-100 are accepted. Defaults to 100." (Bot API, getUpdates).
MAX_UPDATES_PER_CALL = 100


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


#: Methods that post a new message: counted per chat and, to chats that did not write to the bot, in the bulk limit.
POSTING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendSticker",
        "copyMessage",
        "forwardMessage",
    }
)
#: Edits share the per-chat limit (tdlib/td #3034), not the bulk one.
EDITING_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption", "editMessageMedia"})


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood-control thresholds (Bots FAQ and tdlib/td #3034, #2592, tdlib/telegram-bot-api #648).

    - `overall_per_second`: bulk notifications, messages the bot starts in private chats that have not written to
      it within `reply_window` seconds. Replies (to a chat that just wrote: a tap, a command, a text) are not under
      this global cap; they are limited per chat only.
    - `private_per_second` / `private_burst`: each private chat, posts and edits together; our reading of "short
      bursts are allowed" is a token bucket holding `private_burst` messages. Telegram does not publish its size.
    - `group_per_minute`: each group, posts and edits together.
    - answerCallbackQuery and everything else: not limited.
    """

    overall_per_second: int = 30
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: int = 20
    reply_window: float = 60.0


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class FloodControl:
    """Decides whether one more message may be sent now; pure bookkeeping, the caller supplies the time.

    Only accepted messages consume quota: a request answered 429 costs nothing, as at Telegram.
    """

    limits: FloodLimits = field(default_factory=FloodLimits)
    _overall: deque[float] = field(default_factory=deque)
    _groups: dict[int, deque[float]] = field(default_factory=dict)
    _private: dict[int, _Bucket] = field(default_factory=dict)
    _inbound: dict[int, float] = field(default_factory=dict)

    def inbound(self, chat_id: int, *, now: float) -> None:
        """The chat wrote to the bot (a message, a tap): what the bot sends it next is a reply, not bulk."""
        self._inbound[chat_id] = now

    def is_reply(self, chat_id: int, now: float) -> bool:
        last = self._inbound.get(chat_id)
        return last is not None and now - last <= self.limits.reply_window

    def retry_after(self, chat_id: int, *, private: bool, now: float, edit: bool = False) -> int | None:
        """Seconds to wait (≥ 1) if a message (or an edit) to `chat_id` now would exceed a limit, else None (and
        count it)."""
        overall = self._overall
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        bulk = private and not edit and not self.is_reply(chat_id, now)
        if bulk and len(overall) >= self.limits.overall_per_second:
            return max(1, math.ceil(overall[0] + 1.0 - now))
        if private:
            bucket = self._private.setdefault(chat_id, _Bucket(float(self.limits.private_burst), now))
            bucket.tokens = min(
                float(self.limits.private_burst),
                bucket.tokens + (now - bucket.updated) * self.limits.private_per_second,
            )
            bucket.updated = now
            if bucket.tokens < 1.0:
                return max(1, math.ceil((1.0 - bucket.tokens) / self.limits.private_per_second))
            bucket.tokens -= 1.0
        else:
            window = self._groups.setdefault(chat_id, deque())
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= self.limits.group_per_minute:
                return max(1, math.ceil(window[0] + 60.0 - now))
            window.append(now)
        if bulk:
            overall.append(now)
        return None
