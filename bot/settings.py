"""Settings, read from the environment and `.env` (pydantic-settings).

Build a `Settings()` only at start-up (never at import), and pass it on.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

DEFAULT_DATABASE_URL = "sqlite:///churnbot.db"
DEFAULT_SANDBOX_PORT = 8090
SUPPORTED_DATABASES = ("sqlite", "postgresql")
# Bot API tokens are "<bot id>:<secret>"; BotFather's secrets are 35 characters, local Bot
# API servers and test stand-ins accept shorter ones, so only the shape is checked here.
BOT_TOKEN_SHAPE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{8,}")
# Settings that only a production deployment sets: with any of them present, a missing
# TELEGRAM_BOT_TOKEN is a mistake to report, never a reason to start the sandbox.
PRODUCTION_SETTINGS = (
    "events_api_token",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "telegram_webhook_url",
    "stripe_webhook_secret",
    "stripe_api_key",
)


class LogLevel(StrEnum):
    """The levels LOG_LEVEL accepts (Python's logging levels)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


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
    log_level: LogLevel = LogLevel.INFO
    log_customer_text: bool = False

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    sandbox_port: int = Field(default=DEFAULT_SANDBOX_PORT, ge=0, le=65535)
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

    stripe_webhook_secret: SecretStr | None = None
    stripe_api_key: SecretStr | None = None
    stripe_api_base_url: str = "https://api.stripe.com"
    stripe_winback_coupon: str | None = None
    save_webhook_url: str | None = None
    save_webhook_secret: SecretStr | None = None

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
        "stripe_webhook_secret",
        "stripe_api_key",
        "stripe_winback_coupon",
        "save_webhook_url",
        "save_webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`NAME=` in .env means "not set", not an empty token or the current folder."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """Catch a pasted wrong value at start-up, before any request carries it."""
        if value is not None and not BOT_TOKEN_SHAPE.fullmatch(value.get_secret_value().strip()):
            raise ValueError(
                "not a Bot API token: expected <digits>:<secret> as @BotFather gives it"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        if isinstance(value, str):
            level = value.strip().upper()
            if level not in LogLevel.__members__:
                raise ValueError(f"{value!r}: use one of {', '.join(LogLevel)}")
            return level
        return value

    @field_validator("summary_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from surveys.reports.weekly import Schedule, ScheduleError

        try:
            Schedule.parse(value)
        except ScheduleError as error:
            raise ValueError(f"{value!r}: use '<day> HH:MM', e.g. 'mon 09:00'") from error
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        """Refuse a URL churnbot cannot use now, rather than deep inside SQLAlchemy later."""
        value = value.strip()
        example = "e.g. sqlite:///churnbot.db or postgresql+psycopg://user:password@host/db"
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(f"not a database URL ({example})") from error
        if url.get_backend_name() not in SUPPORTED_DATABASES:
            raise ValueError(
                f"{url.get_backend_name()} is not supported; use SQLite or PostgreSQL ({example})"
            )
        try:
            url.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError) as error:
            raise ValueError(
                f"the driver {url.drivername!r} is not installed; use postgresql+psycopg://"
                if url.get_backend_name() == "postgresql"
                else f"the driver {url.drivername!r} is not available"
            ) from error
        return value

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

    @field_validator("telegram_api_base_url", "stripe_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("save_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def stripe_enabled(self) -> bool:
        """Whether churnbot calls Stripe (STRIPE_API_KEY set)."""
        return bool(self.stripe_api_key and self.stripe_api_key.get_secret_value().strip())

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
    def production_settings(self) -> list[str]:
        """The production-only settings that are present (names as in the environment)."""
        present = [name.upper() for name in PRODUCTION_SETTINGS if getattr(self, name)]
        if self.database_url != DEFAULT_DATABASE_URL:
            present.insert(0, "DATABASE_URL")
        return present

    def secrets(self) -> list[str]:
        """Every configured secret value, for masking in messages and logs."""
        values = (
            self.telegram_bot_token,
            self.secret_key,
            self.events_api_token,
            self.telegram_webhook_secret,
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.stripe_webhook_secret,
            self.stripe_api_key,
            self.save_webhook_secret,
        )
        found = [value.get_secret_value().strip() for value in values if value is not None]
        password = make_url(self.database_url).password
        if password:
            found.append(str(password))
        return [value for value in found if value]

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
