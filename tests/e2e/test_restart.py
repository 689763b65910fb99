"""Kill -9 the real `churnbot run` mid-survey: the survey continues after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.wiring import build_deps
from surveys.events import SUBSCRIPTION_CANCELLED
from tests.auxil.environment import make_settings
from tests.auxil.factories import answers_of, invitation, link_token, message_button_data, record
from tests.auxil.telegram_api import TelegramServer

pytestmark = pytest.mark.e2e


class BotProcess:
    """`churnbot run` as a child process, configured only through its environment."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("TELEGRAM_")
        }
        self.env.update(
            DATABASE_URL=settings.database_url,
            SECRET_KEY="test-secret-key",
            TELEGRAM_BOT_TOKEN="123456:TEST-TOKEN",
            TELEGRAM_API_BASE_URL=settings.telegram_api_base_url,
            DELIVERY_INTERVAL_SECONDS="0.3",
            QUIET_HOURS="",
            HTTP_PORT="0",
        )
        self.workdir = workdir
        self.log = workdir / "bot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def bot_process(
    telegram_server: TelegramServer, database_url: str, tmp_path: Path
) -> Iterator[BotProcess]:
    settings = make_settings(database_url, telegram_api_base_url=telegram_server.base_url)
    process = BotProcess(settings, tmp_path)
    yield process
    process.stop()


def test_survey_resumes_after_kill_9_and_answers_sent_while_down_are_processed(
    bot_process: BotProcess, telegram_server: TelegramServer, database_url: str
) -> None:
    fake = telegram_server.fake
    deps = build_deps(make_settings(database_url))
    chat = 2001
    bot_process.start()
    fake.push_message(chat, f"/start {link_token(deps, 'cust-crash')}")
    fake.wait_for_messages(chat, 1, timeout=30)
    (invitation_id,) = record(deps, SUBSCRIPTION_CANCELLED, "cust-crash", "SUB-77")
    question = fake.wait_for_messages(chat, 2, timeout=15)[-1]

    fake.push_callback(chat, question["message_id"], message_button_data(question, "support"))
    fake.wait_for(lambda f: "Anything else" in f.sent_messages(chat)[-1]["text"], timeout=15)
    bot_process.kill()

    fake.push_message(chat, "Nobody answered my ticket for two weeks")
    bot_process.start()
    closing = fake.wait_for_messages(chat, 3, timeout=30)[-1]
    assert "Thank you for telling us" in closing["text"]
    assert "support lead" in closing["text"]
    stored = answers_of(deps, invitation_id)
    assert [(a.question_key, a.choice_key, a.text) for a in stored] == [
        ("reason", "poor_support", None),
        ("details", None, "Nobody answered my ticket for two weeks"),
    ]
    assert invitation(deps.db, invitation_id).status == "completed"
    surveys_sent = [m for m in fake.sent_messages(chat) if "main reason" in m["text"]]
    assert len(surveys_sent) == 1
    deps.db.dispose()
