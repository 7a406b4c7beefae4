"""Decoding Bot API request bodies the three ways clients send them.

python-telegram-bot posts `application/x-www-form-urlencoded` where every non-string value (numbers, booleans,
`reply_markup`, `commands`...) is a JSON string, and `multipart/form-data` when a file is uploaded; other clients
post JSON. Telegram accepts all three (and query strings), so the stand-in decodes them into one typed dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.standin.errors import bad_request

#: Parameters that are free text (or file ids / URLs): never JSON-decoded, so a patient's "12" stays a string.
STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "action",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "secret_token",
        "ip_address",
        "file_id",
        "emoji",
        "title",
        "description",
        "question",
        "phone_number",
        "first_name",
        "last_name",
        "name",
        "short_name",
        "custom_title",
        "photo",
        "document",
        "sticker",
        "voice",
        "video",
        "audio",
        "animation",
        "thumbnail",
        "certificate",
    }
)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes

    def describe(self) -> dict[str, Any]:
        """What the request log keeps of it (the bytes live in the stand-in's file store)."""
        return {"upload": self.filename, "size": len(self.data), "content_type": self.content_type}


def decode_value(name: str, raw: str) -> Any:
    """Type one form value: JSON for numbers, booleans and objects, except for free-text fields."""
    if name in STRING_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


async def read_params(request: web.Request) -> dict[str, Any]:
    """All parameters of a Bot API call, typed; uploads become `Upload`s and `attach://` references are resolved."""
    params: dict[str, Any] = {name: decode_value(name, value) for name, value in request.query.items()}
    content_type = request.content_type
    if request.method != "POST" or not request.can_read_body:
        return params
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        for name, value in body.items():
            params[name] = decode_value(name, value) if isinstance(value, str) and name not in STRING_FIELDS else value
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        uploads: dict[str, Upload] = {}
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None)
            if not name:
                continue
            if getattr(part, "filename", None):
                data = bytes(await part.read())  # type: ignore[union-attr]  # a part of a flat multipart/form-data body is a BodyPartReader, never nested
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                uploads[name] = Upload(part.filename, ctype, data)  # type: ignore[union-attr, arg-type]  # a BodyPartReader with a filename (checked above)
            else:
                params[name] = decode_value(name, await part.text())  # type: ignore[union-attr]  # a part of a flat multipart/form-data body is a BodyPartReader, never nested
        for name, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
                params[name] = uploads.pop(value[9:])
        params.update(uploads)
    else:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, str):
                params[name] = decode_value(name, value)
    return params


def describe(params: dict[str, Any]) -> dict[str, Any]:
    """A copy of `params` fit for the request log: uploads summarised, reply_markup parsed to a dict."""
    described: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Upload):
            described[name] = value.describe()
        elif name == "reply_markup" and isinstance(value, str):
            try:
                described[name] = json.loads(value)
            except ValueError:
                described[name] = value
        else:
            described[name] = value
    return described
