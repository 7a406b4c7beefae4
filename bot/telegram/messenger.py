"""The messenger port over python-telegram-bot: the only place where Telegram's errors are caught and translated.

Mapping (Bot API error codes): 403 Forbidden → `Unreachable` (blocked by the patient, removed from the group);
429 RetryAfter → `TryLater(retry_after)`; 400 BadRequest → `TryLater(refused=True)`; a network failure, a time-out
or a 5xx → `TryLater()`; a reply the flood guard holds back (`RepliesPaused`) → `TryLater(60, reason="paused")`.
The original error is kept as `__cause__` for the logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta

from telegram import Bot, MessageEntity, User
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.domain.prompt import Prompt
from bot.messenger import Mention, TryLater, Unreachable
from bot.telegram.keyboards import ack_keyboard, question_keyboard
from bot.telegram.pacing import RepliesPaused
from bot.telegram.rendering import question_text

PAUSED = "paused"
"""`TryLater.reason` of a reply deliberately not sent to a sender who floods (not a failure)."""


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn Telegram's exceptions into the port's two."""
    try:
        yield
    except Forbidden as exc:
        raise Unreachable(type(exc).__name__) from exc
    except RetryAfter as exc:
        retry = exc.retry_after
        seconds = retry.total_seconds() if isinstance(retry, timedelta) else float(retry)
        raise TryLater(seconds, reason=type(exc).__name__) from exc
    except BadRequest as exc:
        raise TryLater(refused=True, reason=type(exc).__name__) from exc
    except RepliesPaused as exc:
        raise TryLater(60.0, reason=PAUSED) from exc
    except TelegramError as exc:
        raise TryLater(reason=type(exc).__name__) from exc


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _text_mention(text: str, mention: Mention) -> MessageEntity:
    """Telegram counts entity offsets in UTF-16 code units."""
    start = _utf16(text[: mention.offset])
    return MessageEntity(
        MessageEntity.TEXT_MENTION,
        start,
        _utf16(text[mention.offset : mention.offset + mention.length]),
        user=User(mention.user_id, "", is_bot=False),
    )


class PtbMessenger:
    """`bot.messenger.Messenger` for one PTB `Bot` (its rate limiter paces by `bot.messenger.current_priority`)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        protect: bool = False,
        acknowledge_alert: int | None = None,
        mentions: Sequence[Mention] = (),
    ) -> int:
        markup = ack_keyboard(acknowledge_alert) if acknowledge_alert is not None else None
        entities = [_text_mention(text, mention) for mention in mentions] or None
        with translated_errors():
            message = await self.bot.send_message(
                chat_id, text, protect_content=protect or None, reply_markup=markup, entities=entities
            )
        return message.message_id

    async def send_question(self, chat_id: int, prompt: Prompt, *, header: str | None = None) -> int:
        text = question_text(prompt)
        keyboard = question_keyboard(
            prompt.instance.id,
            prompt.item_index,
            prompt.item,
            selection=prompt.selection,
            can_go_back=prompt.can_go_back,
        )
        with translated_errors():
            message = await self.bot.send_message(
                chat_id, f"{header}\n\n{text}" if header else text, reply_markup=keyboard
            )
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, *, text: str | None = None) -> None:
        with translated_errors():
            if text is None:
                await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
            else:
                await self.bot.edit_message_text(text, chat_id, message_id, reply_markup=None)

    async def copy(self, chat_id: int, *, from_chat_id: int, message_id: int, reply_to: int | None = None) -> None:
        with translated_errors():
            await self.bot.copy_message(
                chat_id,
                from_chat_id=from_chat_id,
                message_id=message_id,
                protect_content=True,
                reply_to_message_id=reply_to,
            )
