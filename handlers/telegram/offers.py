"""Telegram side of win-back offers: the Accept / No thanks taps, and messages to the
customer about the outcome (the `CustomerChannel` of surveys/offers.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from handlers.telegram.context import ChurnContext
from handlers.telegram.render import keyboard
from surveys.offers import OfferTap
from surveys.signing import ButtonAction

log = logging.getLogger(__name__)

OFFER_BUTTON_PATTERN = f"^({ButtonAction.OFFER_ACCEPT}|{ButtonAction.OFFER_DECLINE}):"
OnAccepted = Callable[[int], Awaitable[object]]


class OfferHandlers:
    def __init__(self, on_accepted: OnAccepted | None) -> None:
        self.on_accepted = on_accepted

    async def on_offer_button(self, update: Update, context: ChurnContext) -> None:
        """Record Accept or No thanks, then start applying an accepted offer."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat_id, raw = query.message.chat.id, query.data or ""
        language = query.from_user.language_code
        try:
            tap: OfferTap = await context.services.offers.tap(
                chat_id=chat_id, raw=raw, language_code=language
            )
        except Exception:
            # Answer first, so the button never keeps spinning; the error handler logs.
            await query.answer()
            raise
        await query.answer(tap.reply.toast)
        if tap.reply.edits:
            try:
                await context.bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=query.message.message_id, reply_markup=None
                )
            except BadRequest as error:
                log.info("offer buttons not removed: %s", error.message)
        for prompt in tap.reply.messages:
            await context.bot.send_message(
                chat_id=chat_id, text=prompt.text, reply_markup=keyboard(prompt.buttons)
            )
        if tap.accepted is not None and self.on_accepted is not None:
            # Applied in the background; the outbox sweep finishes it after a crash.
            context.application.create_task(self.on_accepted(tap.accepted))


class TelegramCustomerChannel:
    """Tells a customer how their accepted offer went."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def tell(self, chat_id: int, text: str) -> None:
        await self._bot.send_message(chat_id=chat_id, text=text)


def register(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    on_accepted: OnAccepted | None = None,
) -> None:
    """Add the offer buttons' handler; before the customer handlers' catch-all button one.
    `on_accepted` starts applying an accepted offer (the save desk, wired in `bot/`)."""
    handlers = OfferHandlers(on_accepted)
    application.add_handler(
        CallbackQueryHandler(handlers.on_offer_button, pattern=OFFER_BUTTON_PATTERN)
    )
