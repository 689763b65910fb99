"""The baseline for benchmarks/delivery.py: a trivial echo bot on the same PTB stack.

Same builder settings as churnbot's application (concurrent updates, no rate limiter, the
aiohttp transport), one handler that replies once. With CALLS 2 it then edits its reply, so
it makes the two Bot API calls that a survey answer needs (no database, no domain): the
fastest any answer can be on this stack.
Run: python benchmarks/echo_bot.py BASE_URL TOKEN [CALLS]
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


async def echo_and_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text, then edit the reply: two calls, like a survey answer."""
    assert update.effective_message is not None
    reply = await update.effective_message.reply_text(update.effective_message.text or "")
    await reply.edit_text(f"{reply.text} (edited)")


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .concurrent_updates(4)
        .request(AiohttpRequest(connection_pool_size=8))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo if calls == 1 else echo_and_edit))
    application.run_polling(allowed_updates=[Update.MESSAGE])


if __name__ == "__main__":
    main()
