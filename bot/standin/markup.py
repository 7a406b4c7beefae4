"""Formatting and keyboards checked the way Telegram checks them.

Telegram rejects a whole message for one unbalanced `<b>` or one unescaped `.` in MarkdownV2, and a keyboard for
one `callback_data` over 64 bytes (French accents are two bytes each). These functions reproduce those checks with
Telegram's wording (the server side is TDLib's `parse_html` / `parse_markdown_v2`), and return the plain text Telegram
would store, whose length is what the 4096/1024 limits apply to. Entities are not computed: tests that care about
formatting read the raw request instead.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from bot.standin.errors import ApiError, bad_request
from bot.standin.limits import MAX_CALLBACK_DATA_BYTES, MIN_CALLBACK_DATA_BYTES

PARSE_MODES = ("HTML", "MarkdownV2")

#: Tags Telegram's HTML parse mode accepts (Bot API, "HTML style").
_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "tg-emoji", "code", "pre", "blockquote",
    }
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _entities_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entities(chunk: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("#"):
            return html.unescape(match.group(0))
        return _NAMED_ENTITIES.get(name, match.group(0))

    return _ENTITY.sub(replace, chunk)


def parse_html(text: str) -> str:
    """Check Telegram HTML and return the plain text; raise ApiError 400 "can't parse entities: ..."."""
    plain: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        if lt < 0:
            plain.append(_decode_entities(text[i:]))
            break
        plain.append(_decode_entities(text[i:lt]))
        if lt + 1 < len(text) and text[lt + 1] == "/":
            gt = text.find(">", lt)
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {_byte_offset(text, lt)}")
            if gt < 0:
                raise _entities_error(f"Unclosed end tag at byte offset {_byte_offset(text, lt)}")
            name = text[lt + 2 : gt].strip().lower()
            if name != stack[-1]:
                raise _entities_error(
                    f'Unmatched end tag at byte offset {_byte_offset(text, lt)}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            i = gt + 1
            continue
        name_match = re.match(r"[a-zA-Z0-9-]*", text[lt + 1 :])
        name = name_match.group(0).lower() if name_match else ""
        if name not in _HTML_TAGS:
            raise _entities_error(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, lt)}')
        gt = text.find(">", lt)
        if gt < 0:
            raise _entities_error(f"Unclosed start tag at byte offset {_byte_offset(text, lt)}")
        attributes = {
            m.group(1).lower(): next((g for g in m.group(2, 3, 4) if g is not None), "")
            for m in _ATTRIBUTE.finditer(text[lt + 1 + len(name) : gt].rstrip("/"))
        }
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise _entities_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, lt)}'
            )
        stack.append(name)
        i = gt + 1
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(plain)


_MD_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD_NAMES = {
    "*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler", "`": "Code",
    "```": "Pre", "[": "TextUrl",
}


def parse_markdown_v2(text: str) -> str:
    """Check Telegram MarkdownV2 and return the plain text; raise ApiError 400 "can't parse entities: ..."."""
    plain: list[str] = []
    stack: list[tuple[str, int]] = []
    i = 0
    line_start = True
    while i < len(text):
        c = text[i]
        in_code = bool(stack) and stack[-1][0] in ("`", "```")
        if c == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
            plain.append(text[i + 1])
            i += 2
            line_start = False
            continue
        if in_code:
            marker = stack[-1][0]
            if text.startswith(marker, i):
                stack.pop()
                i += len(marker)
            else:
                plain.append(c)
                i += 1
            continue
        if c == ">" and line_start:
            i += 1
            line_start = False
            continue
        line_start = c == "\n"
        marker = ""
        if text.startswith("```", i):
            marker = "```"
        elif text.startswith("__", i) or text.startswith("||", i):
            marker = text[i : i + 2]
        elif c in "*_~`[":
            marker = c
        elif c == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            i += 1
            if i < len(text) and text[i] == "(":
                close = i + 1
                while close < len(text) and text[close] != ")":
                    close += 2 if text[close] == "\\" else 1
                if close >= len(text):
                    raise _entities_error(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")
                i = close + 1
            continue
        if marker:
            if stack and stack[-1][0] == marker:
                stack.pop()
            elif any(open_marker == marker for open_marker, _ in stack):
                top, offset = stack[-1]
                raise _entities_error(f"Can't find end of {_MD_NAMES[top]} entity at byte offset {offset}")
            else:
                stack.append((marker, _byte_offset(text, i)))
            i += len(marker)
            continue
        if c in _MD_RESERVED:
            raise _entities_error(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        plain.append(c)
        i += 1
    if stack:
        top, offset = stack[-1]
        raise _entities_error(f"Can't find end of {_MD_NAMES[top]} entity at byte offset {offset}")
    return "".join(plain)


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text Telegram stores for `text` under `parse_mode`, or ApiError 400 if Telegram would refuse it."""
    if parse_mode is None or parse_mode == "":
        return text
    if parse_mode == "HTML":
        return parse_html(text)
    if parse_mode == "MarkdownV2":
        return parse_markdown_v2(text)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


_BUTTON_ACTIONS = (
    "callback_data", "url", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
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
            raise bad_request("can't parse inline keyboard button: Field \"inline_keyboard\" must be of type Array")
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
                    raise bad_request("can't parse keyboard button: Field \"text\" must be of type String")
    elif not ("remove_keyboard" in raw or "force_reply" in raw):
        raise _markup_error()
    return raw


def inline_keyboard(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a reply_markup that Telegram echoes in the Message object (inline keyboards only)."""
    if markup and "inline_keyboard" in markup:
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None
