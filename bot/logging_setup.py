"""Logging that never leaks the bot token or what patients write.

httpx logs every request URL at INFO, and the Bot API puts the token in the URL: the httpx logger is quietened to
WARNING and a redaction filter on every handler replaces the token (and any `bot<digits>:<secret>` shape) in the
final formatted record, at every level. Handlers log update ids and kinds, never message text.
"""

from __future__ import annotations

import logging
import re
import sys

_TOKEN_SHAPE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")


class RedactingFilter(logging.Filter):
    """Replace secrets in the rendered message (args included) before any handler writes it."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return _TOKEN_SHAPE.sub("[REDACTED]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        rendered = record.getMessage()
        clean = self.redact(rendered)
        if clean != rendered:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(token: str | None, level: int = logging.INFO, stream: object = None) -> RedactingFilter:
    """Install one stderr handler with the redaction filter; quieten chatty HTTP loggers."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_spinal_pro_bot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]  # stream is typed object in the signature; callers pass a text stream or None
    handler._spinal_pro_bot = True  # type: ignore[attr-defined]  # a marker attribute on our own handler, to find it again on a second setup
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redactor = RedactingFilter([token] if token else [])
    handler.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor
