"""Telegram commands for the business's admins: /stats [period] and /reasons [period].

Register before the customer handlers: their fallback answers every unknown command with
the help text, and PTB stops at the first matching handler of a group.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.context import Deps
from storage.session import run_unit
from surveys.i18n import pick_language
from surveys.reports.commands import ManagerCommands
from surveys.reports.periods import PERIOD_HELP, PeriodError, parse_period

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096


class AdminHandlers:
    """/stats and /reasons for TELEGRAM_ADMIN_IDS; everyone else gets the customer help."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.admins = frozenset(deps.settings.telegram_admin_ids)
        self.commands = ManagerCommands(definitions=deps.definitions, zone=deps.settings.zone)

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show churn figures of a period with their formulas."""
        await self._answer(update, context, "stats")

    async def on_reasons(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show churn reasons of a period against the period before."""
        await self._answer(update, context, "reasons")

    async def _answer(self, update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        if user is None or user.id not in self.admins:
            language = pick_language(user.language_code if user else None)
            await message.reply_text(self.deps.surveys.messages.get("help", language))
            return
        args = context.args or []
        now = self.deps.clock()
        try:
            if len(args) > 1:
                raise PeriodError("too many arguments")
            period = parse_period(args[0] if args else None, now=now, zone=self.deps.settings.zone)
        except PeriodError as error:
            await message.reply_text(f"{error}\nUsage: /{kind} [period]; periods: {PERIOD_HELP}")
            return
        run = self.commands.stats if kind == "stats" else self.commands.reasons
        rendered = await asyncio.to_thread(
            run_unit, self.deps.db, lambda session: run(session, period, now)
        )
        text = rendered.text
        if len(text) > TELEGRAM_LIMIT:
            text = text[: TELEGRAM_LIMIT - 1] + "…"
        await message.reply_text(text)


def register(application: Application, deps: Deps) -> None:
    """Add /stats and /reasons (call before the customer handlers; see the module doc)."""
    handlers = AdminHandlers(deps)
    application.add_handler(CommandHandler("stats", handlers.on_stats))
    application.add_handler(CommandHandler("reasons", handlers.on_reasons))
