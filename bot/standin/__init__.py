"""A fake Telegram Bot API over real HTTP, for integration tests and the offline sandbox (see `server.py`)."""

from bot.standin.errors import ApiError
from bot.standin.limits import FloodLimits
from bot.standin.server import StandIn
from bot.standin.state import ChatMessage, Edit, Request, Stats

__all__ = ["ApiError", "ChatMessage", "Edit", "FloodLimits", "Request", "StandIn", "Stats"]
