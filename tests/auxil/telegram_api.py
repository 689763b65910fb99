"""The Telegram Bot API stand-in now ships with churnbot (bot/sandbox); re-exported for tests."""

from bot.sandbox.telegram_api import (
    ApiError,
    Call,
    FakeTelegram,
    TelegramServer,
)

__all__ = ["ApiError", "Call", "FakeTelegram", "TelegramServer"]
