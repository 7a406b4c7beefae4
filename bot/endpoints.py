"""Public entry point for trial endpoints (re-exports `bot.domain.endpoints`).

Why a re-export: reporting, export and the clinician views import endpoints from one stable place, while the
pure clinical logic stays in `bot.domain`, free of I/O. See `bot/domain/endpoints.py` for rules and sources
(`docs/clinical/pain-response.md`).
"""

from __future__ import annotations

from bot.domain import endpoints as _endpoints
from bot.domain.endpoints import *  # noqa: F401,F403  (the public API is exactly _endpoints.__all__)

__all__ = list(_endpoints.__all__)
