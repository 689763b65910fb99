"""No token and no customer text in logs or messages (issue 14, item 7)."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from telegram import Update

from bot.app import _make_error_handler
from bot.logs import SecretFilter, configure_logging, mask_secrets
from bot.settings import Settings
from tests.auxil.environment import make_settings
from tests.auxil.sandbox_process import churnbot_command, clean_env
from tests.auxil.telegram_api import TelegramServer

BOT_TOKEN = "111111:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
EVENTS_TOKEN = "events-secret-9f8e7d6c5b4a"
CUSTOMER_TEXT = "Your prices are a scam, Zoë"
CUSTOMER_NAME = "Zoë Müller-Secret"


@pytest.fixture
def masked_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging configured as `churnbot run` does, captured; the filters removed after."""
    caplog.set_level(logging.DEBUG)
    configure_logging("DEBUG", [BOT_TOKEN, EVENTS_TOKEN])
    yield caplog
    for handler in logging.getLogger().handlers:
        for installed in [f for f in handler.filters if isinstance(f, SecretFilter)]:
            handler.removeFilter(installed)


def test_mask_keeps_the_bot_id_and_hides_the_secret() -> None:
    url = f"https://api.telegram.org/bot{BOT_TOKEN}/getMe"

    assert mask_secrets(url) == "https://api.telegram.org/bot111111:***/getMe"
    assert mask_secrets(f"token {EVENTS_TOKEN} here", [EVENTS_TOKEN]) == "token *** here"


def test_library_records_with_tokens_in_urls_args_and_tracebacks_are_masked(
    masked_logs: pytest.LogCaptureFixture,
) -> None:
    other_token = "222222:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # any token-shaped string
    logging.getLogger("telegram.ext.Updater").debug(
        "HTTP Request: POST %s", f"https://api.telegram.org/bot{BOT_TOKEN}/getUpdates"
    )
    logging.getLogger("httpx").warning("HTTP Request: POST .../bot%s/getMe", other_token)
    logging.getLogger("bot.app").info("events token is %s", EVENTS_TOKEN)
    try:
        raise RuntimeError(f"The token `{BOT_TOKEN}` was rejected by the server.")
    except RuntimeError:
        logging.getLogger("telegram.ext.Application").exception("start-up failed")

    text = masked_logs.text
    assert BOT_TOKEN not in text
    assert other_token not in text
    assert EVENTS_TOKEN not in text
    assert "bot111111:***/getUpdates" in text
    assert "222222:***" in text
    assert "The token `111111:***` was rejected" in text


def _update() -> Update:
    return Update.de_json(
        {
            "update_id": 90001,
            "message": {
                "message_id": 7,
                "date": 1_760_000_000,
                "chat": {"id": 5007, "type": "private", "first_name": CUSTOMER_NAME},
                "from": {"id": 5007, "is_bot": False, "first_name": CUSTOMER_NAME},
                "text": CUSTOMER_TEXT,
            },
        },
        None,
    )


class _Bot:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


class _Deps:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = SimpleNamespace(
            handler_errors=SimpleNamespace(
                labels=lambda _platform: SimpleNamespace(inc=lambda: None)
            )
        )
        self.surveys = SimpleNamespace(
            messages=SimpleNamespace(get=lambda key, language: f"{key}:{language}")
        )


async def _fail_once(settings: Settings, caplog: pytest.LogCaptureFixture) -> str:
    on_error = _make_error_handler(_Deps(settings))  # type: ignore[arg-type]
    context = SimpleNamespace(error=ValueError("storage failed"), bot=_Bot())
    with caplog.at_level(logging.ERROR, logger="bot.app"):
        await on_error(_update(), context)  # type: ignore[arg-type]
    assert context.bot.sent  # the customer still got the apology
    return caplog.text


async def test_handler_error_log_names_ids_and_exception_not_text_or_name(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    text = await _fail_once(make_settings(f"sqlite:///{tmp_path / 'x.db'}"), caplog)

    assert "update 90001 (chat 5007) failed" in text
    assert "ValueError: storage failed" in text
    assert CUSTOMER_TEXT not in text
    assert CUSTOMER_NAME not in text


async def test_handler_error_log_carries_the_update_with_log_customer_text(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", log_customer_text=True)

    text = await _fail_once(settings, caplog)

    assert CUSTOMER_TEXT in text


@pytest.mark.e2e
def test_rejected_token_is_one_masked_line_without_unclosed_session_noise(
    tmp_path: Path,
) -> None:
    """The stand-in knows another token, so getMe is a 404: PTB's "token was rejected"."""
    with TelegramServer() as server:
        env = clean_env(
            f"sqlite:///{tmp_path / 'bot.db'}",
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_API_BASE_URL=server.base_url,
            TELEGRAM_API_FILE_URL=server.base_file_url,
            LOG_LEVEL="WARNING",
        )
        result = subprocess.run(
            [*churnbot_command(), "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 2, result.stderr
    output = result.stdout + result.stderr
    assert BOT_TOKEN not in output
    assert "Unclosed" not in output
    assert "Traceback" not in output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "TELEGRAM_BOT_TOKEN was rejected" in lines[0]
    assert "111111:***" in lines[0]
