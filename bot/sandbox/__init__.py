"""The local sandbox: the real churnbot against built-in stand-ins of Telegram and Slack.

`churnbot sandbox` (and `churnbot run` with no TELEGRAM_BOT_TOKEN) starts `SandboxServer`
(the two stand-ins and a web page), points the settings at it, and runs the application
exactly as production does (`bot.app.serve`). Nothing in handlers/, surveys/ or storage/
knows it is in a sandbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pydantic import SecretStr

from bot.sandbox.server import (
    ADMIN_USER_ID,
    ALERTS_CHANNEL,
    BOT_TOKEN,
    BOT_USERNAME,
    EVENTS_TOKEN,
    MANAGER_ID,
    SIGNING_SECRET,
    SLACK_TOKEN,
    SUMMARY_CHANNEL,
    SandboxServer,
)
from bot.settings import Settings

log = logging.getLogger(__name__)

SANDBOX_DATABASE_URL = "sqlite:///churnbot-sandbox.db"
DEFAULT_PORT = 8090

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
    database_url: str = SANDBOX_DATABASE_URL,
    summary_channel: str = SUMMARY_CHANNEL,
) -> Settings:
    """`settings` pointed at the stand-ins, with sandbox tokens and no quiet hours.

    DATABASE_URL and LOG_LEVEL stay as given when they were set (environment or .env);
    otherwise SQLite in the current folder and warnings only, so the terminal stays quiet.
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
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_app_token=None,
        slack_api_base_url=server.slack_api_url,
        slack_summary_channel=summary_channel,
        slack_alerts_channel=ALERTS_CHANNEL,
        slack_manager_ids=[MANAGER_ID],
        # The page's "as admin" messages come from this user, so /stats and /reasons work.
        telegram_admin_ids=[*settings.telegram_admin_ids, ADMIN_USER_ID],
        events_api_token=SecretStr(EVENTS_TOKEN),
        quiet_hours="",
    )
    if "database_url" not in explicit:
        values["database_url"] = database_url
    if "log_level" not in explicit:
        values["log_level"] = "WARNING"
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def serve_sandbox(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the stand-ins, the page and the real application until stopped.

    `on_ready` receives the page's address once the bot is serving.
    """
    from bot.app import serve
    from bot.wiring import build_deps

    server = SandboxServer(port=port).start()
    deps = None
    try:
        configured = sandbox_settings(settings, server)
        deps = await asyncio.to_thread(build_deps, configured)
        server.attach(deps)

        def ready(app_port: int) -> None:
            host = configured.http_host
            host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
            server.app_url = f"http://{'[' + host + ']' if ':' in host else host}:{app_port}"
            if on_ready is not None:
                on_ready(f"{server.url}/")

        await serve(deps, stop, handle_signals=handle_signals, on_ready=ready)
    finally:
        server.stop()
        if deps is not None:
            deps.db.dispose()


def run_sandbox(
    settings: Settings, *, port: int = DEFAULT_PORT, on_ready: Callable[[str], None] | None = None
) -> None:
    """Blocking form of `serve_sandbox` for the CLI (Ctrl-C stops it)."""
    asyncio.run(serve_sandbox(settings, port=port, on_ready=on_ready))
