"""Application start-up: Telegram bot, delivery scheduler, HTTP server, and shutdown.

Everything shares one asyncio loop, so PTB is driven by hand (`initialize`, `start`, and
`handlers.telegram.intake.BoundedPolling` for polling) rather than with `run_polling()`, which
would own the loop, and uvicorn is served as a task of that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import stripe
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from bot import saves as save_wiring
from bot.context import Deps
from bot.settings import Settings, SettingsError
from bot.slack_wiring import SlackParts, alert_for_invitation, build_slack
from handlers.billing.stripe_billing import stripe_client
from handlers.http import events_api, health, stripe_webhook
from handlers.telegram import admin, customer, offers, webhook
from handlers.telegram.context import CONTEXT_TYPES, ChurnContext, provide
from handlers.telegram.intake import BoundedPolling
from handlers.telegram.pacing import PacedRateLimiter
from handlers.telegram.request import AiohttpRequest
from handlers.telegram.sender import TelegramSender
from storage.session import transact
from surveys.billing.notices import NoticeDelivery
from surveys.delivery import Delivery, DeliveryPolicy, DeliveryReport
from surveys.i18n import pick_language
from surveys.quiet_hours import QuietHours

log = logging.getLogger(__name__)

# The PTB application with churnbot's context type (`context.services` in the handlers).
TelegramApplication = Application[Any, ChurnContext, Any, Any, Any, Any]

DELIVERY_JOB_ID = "deliver-invitations"
SAVES_KEY = "churnbot.saves"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def build_application(
    deps: Deps,
    slack: SlackParts | None = None,
    *,
    requests: tuple[AiohttpRequest, AiohttpRequest] | None = None,
) -> TelegramApplication:
    """The python-telegram-bot application with every handler registered.

    `requests` (the general and the getUpdates transport) lets the caller close them when
    start-up fails, which PTB does not do for an application that never initialised.
    """
    settings = deps.settings
    general, updates = requests or telegram_requests(settings)
    # Any bot type: the rate limiter, when set, changes the builder's `ExtBot` parameter.
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.require_bot_token())
        .context_types(CONTEXT_TYPES)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.file_base_url)
        .concurrent_updates(4)
        # aiohttp instead of PTB's httpx transport: about a third of the CPU per Bot API call.
        .request(general)
        .get_updates_request(updates)
    )
    if settings.telegram_rate_limit:
        builder = builder.rate_limiter(
            PacedRateLimiter(settings.telegram_messages_per_second, max_retries=3)
        )
    # No PTB updater: webhook mode needs none, and polling is `BoundedPolling` (bounded
    # intake of a backlog), started in `serve`.
    builder = builder.updater(None)
    application = builder.build()
    provide(application, deps.services)
    # Admin commands first: the customer handlers answer every unknown command with help.
    admin.register(application, admins=settings.telegram_admin_ids)
    # Offer buttons before the customer handlers' catch-all button handler. Accepted offers
    # are applied by the save desk (wired in `serve`; the sweep applies them otherwise).
    saves = save_wiring.build_save_desk(deps, application.bot, slack)
    application.bot_data[SAVES_KEY] = saves
    offers.register(application, on_accepted=saves.process)

    async def completed(invitation_id: int) -> None:
        await alert_for_invitation(deps, slack, invitation_id)

    customer.register(application, on_completed=completed if slack else None)
    application.add_error_handler(_make_error_handler(deps))
    return application


def telegram_requests(settings: Settings) -> tuple[AiohttpRequest, AiohttpRequest]:
    """The general transport (sends) and the one for getUpdates."""
    return telegram_request(settings, pool_size=8), telegram_request(settings, pool_size=1)


def telegram_request(settings: Settings, *, pool_size: int) -> AiohttpRequest:
    """The HTTP transport for Bot API calls, with churnbot's timeouts."""
    timeout = settings.telegram_timeout_seconds
    return AiohttpRequest(
        connection_pool_size=pool_size,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
    )


def _make_error_handler(
    deps: Deps,
) -> Callable[[object, ChurnContext], Coroutine[Any, Any, None]]:
    async def on_error(update: object, context: ChurnContext) -> None:
        """Log the failure with its update, apologise briefly, keep serving everyone."""
        deps.metrics.handler_errors.labels("telegram").inc()
        _log_failure(update, context.error, customer_text=deps.settings.log_customer_text)
        if isinstance(update, Update) and update.effective_chat is not None:
            language = update.effective_user.language_code if update.effective_user else None
            with contextlib.suppress(Exception):
                await context.bot.send_message(
                    chat_id=update.effective_chat.id,
                    text=deps.surveys.messages.get("apology", pick_language(language)),
                )

    return on_error


def _log_failure(update: object, error: BaseException | None, *, customer_text: bool) -> None:
    """Log which update failed and why: ids and the exception, never the customer's words or
    name (the whole update only with LOG_CUSTOMER_TEXT=true)."""
    if customer_text or not isinstance(update, Update):
        log.error("update %r failed", update, exc_info=error)
        return
    chat = update.effective_chat
    log.error(
        "update %s (chat %s) failed",
        update.update_id,
        chat.id if chat is not None else "-",
        exc_info=error,
    )


def build_delivery(deps: Deps, application: TelegramApplication) -> Delivery:
    settings = deps.settings
    return Delivery(
        db=deps.db,
        engine=deps.surveys,
        sender=TelegramSender(application.bot),
        clock=deps.clock,
        policy=DeliveryPolicy(
            zone=settings.zone,
            quiet_hours=QuietHours.parse(settings.quiet_hours),
            batch=settings.delivery_batch,
            concurrency=settings.delivery_concurrency,
            claim_timeout=timedelta(seconds=settings.delivery_claim_timeout_seconds),
        ),
    )


def build_scheduler(
    deps: Deps, delivery: Delivery, notices: NoticeDelivery | None = None
) -> AsyncIOScheduler:
    """APScheduler with the delivery job. Its state is the database (the outbox), so the
    in-memory job store is rebuilt identically at every start and nothing is lost."""

    async def deliver() -> None:
        # A full batch means more are due: go on at once rather than idle until the next
        # tick, which would cost the pace seconds per batch.
        while (await deliver_batch()).claimed >= delivery.batch:
            pass

    async def deliver_batch() -> DeliveryReport:
        report = await delivery.run_once()
        if notices is not None and not report.standby:
            sent = await notices.run_once()
            deps.metrics.sends.labels("notice").inc(sent.sent)
        metrics = deps.metrics
        metrics.sends.labels("survey").inc(report.sent)
        metrics.sends.labels("reminder").inc(report.reminded)
        metrics.send_failures.labels("failed").inc(report.failed)
        metrics.send_failures.labels("retried").inc(report.retried)
        if report.busy:
            log.info(
                "delivery: %d sent (%d unconfirmed), %d reminded, %d skipped, %d deferred, "
                "%d failed, %d retrying, %d expired",
                report.sent,
                report.unconfirmed,
                report.reminded,
                report.skipped,
                report.deferred,
                report.failed,
                report.retried,
                report.expired,
            )
        return report

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


def _count_event(deps: Deps) -> events_api.OnEvent:
    def count(event_type: str, recorded: bool) -> None:
        outcome = "recorded" if recorded else "duplicate"
        deps.metrics.events_received.labels(event_type, outcome).inc()

    return count


def _count_stripe_event(deps: Deps) -> stripe_webhook.OnEvent:
    def count(event_type: str, outcome: str) -> None:
        deps.metrics.events_received.labels(event_type, outcome).inc()

    return count


def _stripe_client(settings: Settings) -> stripe.StripeClient | None:
    """The official client pointed at STRIPE_API_BASE_URL, or None without STRIPE_API_KEY."""
    key = settings.stripe_api_key
    if key is None or not key.get_secret_value():
        return None
    return stripe_client(key.get_secret_value(), settings.stripe_api_base_url)


def _probe(
    deps: Deps, application: TelegramApplication, scheduler: AsyncIOScheduler
) -> health.HealthProbe:
    async def check() -> dict[str, bool]:
        checks = {"database": False, "telegram": False, "scheduler": False}
        with contextlib.suppress(Exception):
            await transact(
                deps.db, lambda session: session.connection().execute(text("SELECT 1")).one()
            )
            checks["database"] = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(application.bot.get_me(), timeout=5)
            checks["telegram"] = True
        checks["scheduler"] = bool(
            scheduler.running and scheduler.get_job(DELIVERY_JOB_ID) is not None
        )
        return checks

    return check


def _listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 gives a known free port with no race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SettingsError(
            f"HTTP_PORT {port} on HTTP_HOST {host} cannot be used: {error.strerror}"
        ) from error
    return sock


async def serve(
    deps: Deps,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run until `stop` is set (or, with `handle_signals`, SIGINT/SIGTERM arrives).

    `on_ready` receives the HTTP port once everything is serving.
    """
    settings = deps.settings
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
    slack = build_slack(deps)
    requests = telegram_requests(settings)
    application = build_application(deps, slack, requests=requests)
    delivery = build_delivery(deps, application)
    notices = NoticeDelivery(
        db=deps.db,
        sender=TelegramSender(application.bot),
        messages=deps.surveys.messages,
        clock=deps.clock,
    )
    scheduler = build_scheduler(deps, delivery, notices)
    polling: BoundedPolling | None = None
    routes: list[BaseRoute] = [
        *events_api.routes(
            deps.services,
            token=(
                settings.events_api_token.get_secret_value() if settings.events_api_token else None
            ),
            on_event=_count_event(deps),
        ),
        *stripe_webhook.routes(
            deps.services,
            secret=(
                settings.stripe_webhook_secret.get_secret_value()
                if settings.stripe_webhook_secret
                else None
            ),
            client=_stripe_client(settings),
            on_event=_count_stripe_event(deps),
        ),
        *health.routes(_probe(deps, application, scheduler), deps.metrics.render),
        *(slack.routes if slack else []),
    ]
    secret_token = webhook.webhook_secret(
        settings.telegram_webhook_secret.get_secret_value()
        if settings.telegram_webhook_secret
        else None,
        deps.secret,
    )
    if settings.telegram_webhook_url:
        routes += webhook.routes(application, secret_token)
    sock = _listen(settings.http_host, settings.http_port)
    try:
        await application.initialize()
    except BaseException:
        sock.close()
        for request in requests:
            await request.shutdown()
        raise
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=routes),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    async with application:
        await application.start()
        if settings.telegram_webhook_url:
            url = settings.telegram_webhook_url.rstrip("/") + webhook.webhook_path(secret_token)
            await application.bot.set_webhook(
                url=url, secret_token=secret_token, allowed_updates=ALLOWED_UPDATES
            )
        else:
            polling = BoundedPolling(application, allowed_updates=ALLOWED_UPDATES)
            await polling.start(drop_pending_updates=False)
        save_wiring.add_job(scheduler, application.bot_data[SAVES_KEY], deps.clock())
        scheduler.start()
        if slack is not None:
            await slack.start(scheduler)
            if slack.socket_mode:
                await slack.socket_mode_handler().connect_async()
        http_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not http_task.done():  # noqa: ASYNC110 - uvicorn offers only a flag
            await asyncio.sleep(0.01)
        if http_task.done():
            http_task.result()
        port = sock.getsockname()[1]
        log.info(
            "churnbot is running as @%s; HTTP on %s:%d",
            application.bot.username,
            settings.http_host,
            port,
        )
        if on_ready is not None:
            on_ready(port)
        try:
            stop_task = asyncio.create_task(stop.wait())
            await asyncio.wait({stop_task, http_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_task.cancel()
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await http_task
            scheduler.shutdown(wait=False)
            if slack is not None and slack.socket_mode:
                with contextlib.suppress(Exception):
                    await slack.socket_mode_handler().close_async()
            if polling is not None:
                await polling.stop()
            await asyncio.to_thread(delivery.close)
            await application.stop()
            # After PTB stopped: no handler queues an answer unit any more.
            await asyncio.to_thread(deps.services.close)
