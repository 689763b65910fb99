"""Settings, read from the environment and `.env` (pydantic-settings).

Build a `Settings()` only at start-up (never at import), and pass it on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///churnbot.db"


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it in one line."""


class Settings(BaseSettings):
    """Every setting of churnbot; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = DEFAULT_DATABASE_URL
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str | None = None
    telegram_bot_username: str | None = None
    telegram_admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    secret_key: SecretStr | None = None
    timezone: str = "UTC"
    link_token_days: int = Field(default=30, ge=1, le=365)
    delivery_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    delivery_batch: int = Field(default=200, ge=1, le=10000)
    delivery_concurrency: int = Field(default=4, ge=1, le=64)
    delivery_claim_timeout_seconds: float = Field(default=120, ge=1, le=3600)
    telegram_rate_limit: bool = True
    telegram_messages_per_second: float = Field(default=29.5, gt=0, le=1000)
    telegram_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    survey_definitions_dir: Path | None = None
    log_level: str = "INFO"

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    events_api_token: SecretStr | None = None
    quiet_hours: str = "21:00-09:00"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    slack_summary_channel: str | None = None
    slack_alerts_channel: str | None = None
    slack_manager_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    slack_command: str = "/churn"
    summary_schedule: str = "mon 09:00"

    @field_validator(
        "telegram_bot_token",
        "telegram_api_file_url",
        "telegram_bot_username",
        "secret_key",
        "survey_definitions_dir",
        "events_api_token",
        "telegram_webhook_url",
        "telegram_webhook_secret",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_summary_channel",
        "slack_alerts_channel",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`NAME=` in .env means "not set", not an empty token or the current folder."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("slack_manager_ids", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("use HH:MM-HH:MM (e.g. 21:00-09:00), or leave empty for none")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def file_base_url(self) -> str:
        """The Bot API file URL matching the API base (PTB needs both)."""
        if self.telegram_api_file_url:
            return self.telegram_api_file_url
        base = self.telegram_api_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require_bot_token(self) -> str:
        """Return the bot token, or fail with a line naming the setting."""
        token = self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""
        if not token.strip():
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and put its "
                "token in the environment or .env"
            )
        return token.strip()


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one clear `SettingsError` line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {message}") from error
