"""A typed `CallbackContext` so handlers reach the services by name (PTB's contexttypesbot.py pattern)."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.messenger import Messenger
from bot.services.container import Services

SERVICES_KEY = "services"
MESSENGER_KEY = "messenger"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handler context exposing the application's services."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)

    @property
    def services(self) -> Services:
        return self.application.bot_data[SERVICES_KEY]

    @property
    def messenger(self) -> Messenger:
        """The messenger port over this application's bot (`bot.telegram.messenger.PtbMessenger`)."""
        return self.application.bot_data[MESSENGER_KEY]
