"""TelegramServer: a FakeTelegram served over real HTTP from a background thread."""

from __future__ import annotations

from bot.sandbox.telegram_api.fake import FakeTelegram
from bot.sandbox.threaded import ThreadedServer


class TelegramServer:
    """Serve a FakeTelegram with uvicorn on 127.0.0.1 from a background thread."""

    def __init__(self, fake: FakeTelegram | None = None, *, port: int = 0) -> None:
        self.fake = fake if fake is not None else FakeTelegram()
        self._serving = ThreadedServer(self.fake.app, name="telegram-standin", port=port)

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self, timeout: float = 10.0) -> TelegramServer:
        self._serving.start(timeout)
        return self

    def stop(self) -> None:
        self.fake.release_polls()
        self._serving.stop()

    def __enter__(self) -> TelegramServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
