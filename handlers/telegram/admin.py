"""Telegram commands for the business's admins: /stats [period] and /reasons [period].

Register before the customer handlers: their fallback answers every unknown command with
the help text, and PTB stops at the first matching handler of a group.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from handlers.telegram.context import ChurnContext
from surveys.i18n import pick_language
from surveys.reports.periods import PERIOD_HELP, PeriodError

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096


class AdminHandlers:
    """/stats and /reasons for TELEGRAM_ADMIN_IDS; everyone else gets the customer help."""

    def __init__(self, admins: Collection[int]) -> None:
        self.admins = frozenset(admins)

    async def on_stats(self, update: Update, context: ChurnContext) -> None:
        """Show churn figures of a period with their formulas."""
        await self._answer(update, context, "stats")

    async def on_reasons(self, update: Update, context: ChurnContext) -> None:
        """Show churn reasons of a period against the period before."""
        await self._answer(update, context, "reasons")

    async def _answer(self, update: Update, context: ChurnContext, kind: str) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        if user is None or user.id not in self.admins:
            language = pick_language(user.language_code if user else None)
            await message.reply_text(context.services.messages.get("help", language))
            return
        reports = context.services.reports
        args = context.args or []
        now = context.services.clock()
        try:
            if len(args) > 1:
                raise PeriodError("too many arguments")
            period = reports.period(args[0] if args else None, now=now)
        except PeriodError as error:
            await message.reply_text(f"{error}\nUsage: /{kind} [period]; periods: {PERIOD_HELP}")
            return
        run = reports.stats if kind == "stats" else reports.reasons
        rendered = await run(period, now=now)
        text = rendered.text
        if len(text) > TELEGRAM_LIMIT:
            text = text[: TELEGRAM_LIMIT - 1] + "…"
        await message.reply_text(text)


def register(
    application: Application[Any, Any, Any, Any, Any, Any], *, admins: Collection[int]
) -> None:
    """Add /stats and /reasons for the Telegram users `admins` (call before the customer
    handlers; see the module doc)."""
    handlers = AdminHandlers(admins)
    application.add_handler(CommandHandler("stats", handlers.on_stats))
    application.add_handler(CommandHandler("reasons", handlers.on_reasons))
