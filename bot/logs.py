"""Logging set-up: one format, quiet chatty libraries, and no secret in any line.

PTB and httpx log request URLs, and a Bot API URL carries the bot token
(`…/bot111111:AAE…/getMe`). A filter on the root handlers rewrites every record that reaches
them, ours and the libraries', so that no configured secret and nothing shaped like a bot
token is ever written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# "<bot id>:<secret>" wherever it appears (URLs, messages, exception texts).
BOT_TOKEN_PATTERN = re.compile(r"(?<!\d)(\d{3,20}):[A-Za-z0-9_-]{8,}")
MASK = "***"
CHATTY_LOGGERS = ("httpx", "apscheduler", "httpcore", "aiohttp.access")


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret and every bot-token-shaped string masked (`111111:***`)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret in text:
            head = BOT_TOKEN_PATTERN.fullmatch(secret)
            text = text.replace(secret, f"{head.group(1)}:{MASK}" if head else MASK)
    return BOT_TOKEN_PATTERN.sub(lambda match: f"{match.group(1)}:{MASK}", text)


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback before any handler
    formats it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = mask_secrets(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info, self.secrets)
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Root logging at `level`, chatty libraries at WARNING, secrets masked everywhere."""
    logging.basicConfig(
        level=str(level).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    root = logging.getLogger()
    root.setLevel(str(level).upper())
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, SecretFilter)]:
            handler.removeFilter(old)
        handler.addFilter(SecretFilter(secrets))
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
