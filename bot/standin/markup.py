"""Text and keyboards checked the way Telegram checks them.

Telegram rejects a keyboard for one `callback_data` over 64 bytes (French accents are two bytes each); these
functions reproduce that check with Telegram's wording. The bot sends plain text, so text is stored as sent and the
4096/1024 limits apply to it; a `parse_mode` is refused (see `PARSE_MODES`).
"""

from __future__ import annotations

import json
from typing import Any

from bot.standin.errors import ApiError, bad_request
from bot.standin.limits import MAX_CALLBACK_DATA_BYTES, MIN_CALLBACK_DATA_BYTES

PARSE_MODES: tuple[str, ...] = ()
"""The bot sends plain text only (no `parse_mode`): a message with one is refused, so a formatting change cannot
slip in untested. Telegram's HTML and MarkdownV2 rules (TDLib's `parse_html` / `parse_markdown_v2`) are not
reproduced: nothing the bot sends would exercise them."""


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text Telegram stores for `text`, or ApiError 400 for a parse mode the stand-in does not serve."""
    if parse_mode is None or parse_mode == "":
        return text
    raise bad_request(f"unsupported parse_mode {parse_mode!r}: the bot sends plain text")


_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _markup_error() -> ApiError:
    return bad_request("can't parse reply keyboard markup JSON object")


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
    if not button["text"].strip():
        raise bad_request("BUTTON_TEXT_EMPTY")
    if not any(action in button for action in _BUTTON_ACTIONS):
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str):
            raise bad_request('can\'t parse inline keyboard button: Field "callback_data" must be of type String')
        if not MIN_CALLBACK_DATA_BYTES <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")


def parse_reply_markup(raw: Any) -> dict[str, Any] | None:
    """Decode (a JSON string or an object) and validate `reply_markup`; None when absent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _markup_error() from None
    if not isinstance(raw, dict):
        raise _markup_error()
    if "inline_keyboard" in raw:
        rows = raw["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('can\'t parse inline keyboard button: Field "inline_keyboard" must be of type Array')
        for row in rows:
            for button in row:
                _check_inline_button(button)
    elif "keyboard" in raw:
        rows = raw["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _markup_error()
        for row in rows:
            for button in row:
                text = button.get("text") if isinstance(button, dict) else button
                if not isinstance(text, str) or not text:
                    raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
    elif not ("remove_keyboard" in raw or "force_reply" in raw):
        raise _markup_error()
    return raw


def inline_keyboard(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a reply_markup that Telegram echoes in the Message object (inline keyboards only)."""
    if markup and "inline_keyboard" in markup:
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None
