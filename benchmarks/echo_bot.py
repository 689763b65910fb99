"""The baseline for benchmarks/delivery.py: a trivial echo bot on the same PTB stack.

Same builder settings as churnbot's application (concurrent updates, no rate limiter, the
aiohttp transport), one handler that replies once.
Run: python benchmarks/echo_bot.py BASE_URL TOKEN
"""

from __future__ import annotations

import sys
from pathlib import Path

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.telegram.request import AiohttpRequest


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(update.effective_message.text or "")


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .concurrent_updates(4)
        .request(AiohttpRequest(connection_pool_size=8))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=[Update.MESSAGE])


if __name__ == "__main__":
    main()
