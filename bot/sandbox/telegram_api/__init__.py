"""A local stand-in of the Telegram Bot API, served over real HTTP.

The real python-telegram-bot reaches it through ``base_url``, so end-to-end tests, benchmarks
and the sandbox exercise the library's own request, parsing and error paths. Tests push
updates, read what the bot sent and inject faults (errors, slowness, blocked users, flood
limits). State sits behind one lock: tests drive it from a thread other than the server's.

- `wire`: parameters as they arrive (JSON, form, multipart) and `ApiError` answers;
- `state`: the Bot API as the bot sees it (messages, updates, webhook, commands);
- `faults`: injected failures, delays, blocked chats and flood-control emulation;
- `endpoints`: the Starlette app over a state and its faults;
- `fake`: `FakeTelegram`, what tests, benchmarks and the sandbox drive;
- `server`: `TelegramServer`, a FakeTelegram on 127.0.0.1 from a background thread.
"""

from bot.sandbox.telegram_api.fake import FakeTelegram
from bot.sandbox.telegram_api.server import TelegramServer
from bot.sandbox.telegram_api.state import Call
from bot.sandbox.telegram_api.wire import ApiError

__all__ = ["ApiError", "Call", "FakeTelegram", "TelegramServer"]
