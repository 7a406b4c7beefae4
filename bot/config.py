"""Configuration from environment variables or a `.env` file (pydantic-settings).

Names are the ones operators see in docs/configuration.md. A bad or missing value must end the process with one clear
sentence naming the variable and what is expected (exit code 2, no traceback): `load_settings` turns pydantic's
validation error into `ConfigError`, and `bot.__main__` prints it.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.storage.db import is_postgres_url

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message is one sentence for the operator."""


class Settings(BaseSettings):
    """Everything the bot needs from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(default=DEFAULT_API_BASE_URL, alias="TELEGRAM_API_BASE_URL")
    # A SQLite file path, or a postgresql:// (postgres://) URL for the PostgreSQL adapter (bot.storage.postgres).
    bot_database: Path | str = Field(default=Path("data/spinal-pro-bot.sqlite3"), alias="BOT_DATABASE")
    clinician_chat_id: int | None = Field(default=None, alias="CLINICIAN_CHAT_ID")
    clinician_user_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), alias="CLINICIAN_USER_IDS")
    bot_timezone: str = Field(default="Europe/Paris", alias="BOT_TIMEZONE")
    # Webhook mode (`run --webhook`): the public HTTPS URL Telegram posts to (the reverse proxy's), the secret
    # Telegram sends back in X-Telegram-Bot-Api-Secret-Token, and where the local server listens.
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    webhook_listen: str = Field(default="127.0.0.1", alias="WEBHOOK_LISTEN")
    webhook_port: int = Field(default=8443, ge=1, le=65535, alias="WEBHOOK_PORT")
    # This process among several bot replicas on one PostgreSQL database (each needs its own; the host name by
    # default): it holds the tick's lease and claims the outbox rows it sends (migration 0010).
    bot_replica_id: str = Field(
        default_factory=socket.gethostname, min_length=1, max_length=100, alias="BOT_REPLICA_ID"
    )
    # How often the schedule and the alert outbox are looked at (seconds).
    bot_tick_seconds: float = Field(default=20.0, gt=0, le=3600, alias="BOT_TICK_SECONDS")
    # The sites' phone numbers and working hours (bot/domain/sites.py); None = the example file shipped with the bot.
    bot_sites_file: Path | None = Field(default=None, alias="BOT_SITES_FILE")
    # A fan-out of more than 100 questionnaires due at once is spread over this many minutes (0: as fast as
    # Telegram allows), so the answers do not all come back in the same minute (bot.scheduling.spread).
    bot_fanout_spread_minutes: float = Field(default=10.0, ge=0, le=240, alias="BOT_FANOUT_SPREAD_MINUTES")

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raw = value.get_secret_value()
            bot_id, _, secret = raw.partition(":")
            if not bot_id.isdigit() or not secret or any(c.isspace() for c in raw):
                raise ValueError("must look like 123456789:ABC… as given by @BotFather")
        return value

    @field_validator("clinician_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("must be a comma-separated list of numeric Telegram user ids") from None
        return value

    @field_validator("bot_database")
    @classmethod
    def _file_or_url(cls, value: Path | str) -> Path | str:
        """A URL stays text (a `Path` would fold its `//`); anything else is the SQLite file's path, as before."""
        if isinstance(value, str) and not is_postgres_url(value):
            return Path(value)
        return value

    @field_validator("bot_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name such as Europe/Paris") from None
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org/bot")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()):
            raise ValueError("must be 16 to 256 characters among A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.bot_timezone)

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None


_EXPECTED = {
    "CLINICIAN_CHAT_ID": "a numeric Telegram chat id such as -1001234567890",
    "BOT_DATABASE": "a file path such as data/bot.sqlite3 or a postgresql:// URL",
    "BOT_TICK_SECONDS": "a number of seconds greater than 0 and at most 3600, such as 20",
    "WEBHOOK_PORT": "a TCP port number from 1 to 65535, such as 8443",
}


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise `ConfigError` with one sentence naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic-settings validates the overrides at run time; mypy sees only **object
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "configuration"
        message = str(error["msg"]).removeprefix("Value error, ")
        expected = _EXPECTED.get(name)
        if expected and error["type"] not in ("value_error",):
            message = f"must be {expected}"
        raise ConfigError(f"Configuration error: {name} {message}.") from None


def require_webhook(settings: Settings) -> tuple[str, str]:
    """Webhook mode needs the public URL and the secret token."""
    if not settings.webhook_url or not settings.webhook_url.startswith("https://"):
        raise ConfigError(
            "Configuration error: WEBHOOK_URL is missing; it must be the public https:// URL of the "
            "reverse proxy that forwards to the bot (see docs/deployment.md, 'Polling or webhook')."
        )
    if settings.webhook_secret is None:
        raise ConfigError(
            "Configuration error: WEBHOOK_SECRET is missing; it must be 16 to 256 characters among "
            "A-Z, a-z, 0-9, _ and -."
        )
    return settings.webhook_url, settings.webhook_secret.get_secret_value()


def require_clinician_chat(settings: Settings) -> int:
    """The clinicians' group is mandatory to run with a real token: alerts must have somewhere to go."""
    if settings.clinician_chat_id is None:
        raise ConfigError(
            "Configuration error: CLINICIAN_CHAT_ID is missing; it must be the numeric id of the clinicians' "
            "Telegram group (see docs/deployment.md)."
        )
    if not settings.clinician_user_ids:
        raise ConfigError(
            "Configuration error: CLINICIAN_USER_IDS is missing; it must be a comma-separated list of the "
            "Telegram user ids allowed to use clinician commands."
        )
    return settings.clinician_chat_id
