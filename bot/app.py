"""Application start-up: the Telegram bot, the delivery scheduler, and shutdown.

Everything shares one asyncio loop, so PTB is driven by hand (`initialize`, `start`,
`updater.start_polling`) rather than with `run_polling()`, which would own the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot.context import Deps
from handlers.telegram import customer
from handlers.telegram.sender import TelegramSender
from surveys.delivery import Delivery
from surveys.i18n import pick_language

log = logging.getLogger(__name__)

DELIVERY_JOB_ID = "deliver-invitations"


def build_application(deps: Deps) -> Application:
    """The python-telegram-bot application with every handler registered."""
    settings = deps.settings
    application = (
        ApplicationBuilder()
        .token(settings.require_bot_token())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.file_base_url)
        .rate_limiter(AIORateLimiter(max_retries=2))
        .concurrent_updates(4)
        .build()
    )
    customer.register(application, deps)
    application.add_error_handler(_make_error_handler(deps))
    return application


def _make_error_handler(deps: Deps):
    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure with its update, apologise briefly, keep serving everyone."""
        log.error("update %r failed", update, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            language = update.effective_user.language_code if update.effective_user else None
            with contextlib.suppress(Exception):
                await context.bot.send_message(
                    chat_id=update.effective_chat.id,
                    text=deps.surveys.messages.get("apology", pick_language(language)),
                )

    return on_error


def build_scheduler(deps: Deps, application: Application) -> AsyncIOScheduler:
    """APScheduler with the delivery job; its state is the database, so the in-memory job
    store is rebuilt identically at every start."""
    delivery = Delivery(
        db=deps.db, engine=deps.surveys, sender=TelegramSender(application.bot), clock=deps.clock
    )

    async def deliver() -> None:
        report = await delivery.run_once()
        if report.sent or report.skipped or report.failed or report.retried:
            log.info(
                "delivery: %d sent, %d skipped, %d failed, %d retrying",
                report.sent,
                report.skipped,
                report.failed,
                report.retried,
            )

    scheduler = AsyncIOScheduler(timezone=deps.settings.zone)
    scheduler.add_job(
        deliver,
        "interval",
        seconds=deps.settings.delivery_interval_seconds,
        id=DELIVERY_JOB_ID,
        max_instances=1,
        coalesce=True,
        next_run_time=deps.clock(),
    )
    return scheduler


async def serve(
    deps: Deps, stop: asyncio.Event | None = None, *, handle_signals: bool = True
) -> None:
    """Run until `stop` is set (or, with `handle_signals`, SIGINT/SIGTERM arrives)."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
    application = build_application(deps)
    scheduler = build_scheduler(deps, application)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY], drop_pending_updates=False
        )
        scheduler.start()
        log.info("churnbot is running as @%s", application.bot.username)
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            await application.updater.stop()
            await application.stop()
