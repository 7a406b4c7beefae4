"""The one exception the stand-in's Bot API raises, shaped like Telegram's error answers.

Telegram answers every failure with `{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`;
python-telegram-bot picks its exception class from the HTTP status and `parameters` (400 → BadRequest,
403 → Forbidden, 429 + retry_after → RetryAfter, migrate_to_chat_id → ChatMigrated), so the stand-in must get
both the status and the wording right for the bot's error handling to be exercised for real.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Telegram error answer: HTTP status, description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram would send."""
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str, parameters: dict[str, Any] | None = None) -> ApiError:
    """400 "Bad Request: <detail>"."""
    return ApiError(400, f"Bad Request: {detail}", parameters)


def forbidden(detail: str) -> ApiError:
    """403 "Forbidden: <detail>"."""
    return ApiError(403, f"Forbidden: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    """429 with `parameters.retry_after`, as Telegram's flood control answers."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


UNAUTHORIZED = ApiError(401, "Unauthorized")
METHOD_NOT_FOUND = ApiError(404, "Not Found: method not found")
