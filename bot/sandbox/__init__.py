"""The local sandbox: the real churnbot against built-in stand-ins of Telegram and Slack.

`churnbot sandbox` (and `churnbot run` with no TELEGRAM_BOT_TOKEN) starts `SandboxServer`
(the two stand-ins and a web page), points the settings at it, and runs the application
exactly as production does (`bot.app.serve`). Nothing in handlers/, surveys/ or storage/
knows it is in a sandbox.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from pydantic import SecretStr

from bot.sandbox.server import (
    ADMIN_USER_ID,
    ALERTS_CHANNEL,
    BOT_TOKEN,
    BOT_USERNAME,
    MANAGER_ID,
    SLACK_TOKEN,
    SUMMARY_CHANNEL,
    SandboxServer,
)
from bot.sandbox.stripe_api import WINBACK_COUPON
from bot.settings import DEFAULT_SANDBOX_PORT, Settings, SettingsError

log = logging.getLogger(__name__)

SANDBOX_DATABASE_URL = "sqlite:///churnbot-sandbox.db"
DEFAULT_PORT = DEFAULT_SANDBOX_PORT
SANDBOX_HOST = "127.0.0.1"

__all__ = [
    "DEFAULT_PORT",
    "SANDBOX_DATABASE_URL",
    "SandboxServer",
    "run_sandbox",
    "sandbox_settings",
    "serve_sandbox",
]


def sandbox_settings(
    settings: Settings,
    server: SandboxServer,
    *,
    database_url: str | None = None,
    summary_channel: str = SUMMARY_CHANNEL,
) -> Settings:
    """`settings` pointed at the stand-ins, with sandbox tokens and no quiet hours.

    Nothing the user configured for production reaches the sandbox: it keeps its own SQLite
    file (`database_url` overrides it for the demo), makes fresh secrets at every start
    (events token and signing secret from `server`, a random signing key), and listens on
    127.0.0.1 whatever HTTP_HOST says. LOG_LEVEL stays as given when it was set; otherwise
    warnings only, so the terminal stays quiet.
    """
    explicit = settings.model_fields_set
    values = settings.model_dump()
    values.update(
        telegram_bot_token=SecretStr(BOT_TOKEN),
        telegram_bot_username=BOT_USERNAME,
        telegram_api_base_url=server.telegram_base_url,
        telegram_api_file_url=server.telegram_file_url,
        telegram_webhook_url=None,
        slack_bot_token=SecretStr(SLACK_TOKEN),
        slack_signing_secret=SecretStr(server.signing_secret),
        slack_app_token=None,
        slack_api_base_url=server.slack_api_url,
        slack_summary_channel=summary_channel,
        slack_alerts_channel=ALERTS_CHANNEL,
        slack_manager_ids=[MANAGER_ID],
        # The page's "as admin" messages come from this user, so /stats and /reasons work.
        telegram_admin_ids=[ADMIN_USER_ID],
        events_api_token=SecretStr(server.events_token),
        telegram_webhook_secret=None,
        secret_key=SecretStr(secrets.token_urlsafe(48)),
        http_host=SANDBOX_HOST,
        database_url=database_url or SANDBOX_DATABASE_URL,
        quiet_hours="",
        # Never the production Stripe account: the stand-in, with this start's secrets.
        stripe_webhook_secret=SecretStr(server.stripe.webhook_secret),
        stripe_api_key=SecretStr(server.stripe.api_key),
        stripe_api_base_url=server.stripe_api_url,
        stripe_winback_coupon=WINBACK_COUPON,
    )
    if "log_level" not in explicit:
        values["log_level"] = "WARNING"
    return Settings(_env_file=None, **values)


async def serve_sandbox(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[str], None] | None = None,
    on_events_api: Callable[[str, str], None] | None = None,
    database_url: str | None = None,
) -> None:
    """Run the stand-ins, the page and the real application until stopped.

    `database_url` replaces the sandbox's own file only when given here (`churnbot sandbox
    --database`), never from the configured DATABASE_URL.

    `on_ready` receives the page's address once the bot is serving, then `on_events_api`
    the events API's address and this start's bearer token (for curl and scripts).
    """
    from bot.app import serve
    from bot.wiring import build_deps

    try:
        server = SandboxServer(port=port, host=SANDBOX_HOST).start()
    except OSError as error:
        raise SettingsError(
            f"SANDBOX_PORT {port} is busy or not allowed on {SANDBOX_HOST}: {error.strerror}"
        ) from error
    deps = None
    try:
        configured = sandbox_settings(settings, server, database_url=database_url)
        deps = await asyncio.to_thread(build_deps, configured)
        server.attach(deps)

        def ready(app_port: int) -> None:
            server.app_url = f"http://{SANDBOX_HOST}:{app_port}"
            if on_ready is not None:
                on_ready(f"{server.url}/")
            if on_events_api is not None:
                on_events_api(f"{server.app_url}/api/events", server.events_token)

        await serve(deps, stop, handle_signals=handle_signals, on_ready=ready)
    finally:
        server.stop()
        if deps is not None:
            deps.db.dispose()


def run_sandbox(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] | None = None,
    on_events_api: Callable[[str, str], None] | None = None,
    database_url: str | None = None,
) -> None:
    """Blocking form of `serve_sandbox` for the CLI (Ctrl-C stops it)."""
    asyncio.run(
        serve_sandbox(
            settings,
            port=port,
            on_ready=on_ready,
            on_events_api=on_events_api,
            database_url=database_url,
        )
    )
