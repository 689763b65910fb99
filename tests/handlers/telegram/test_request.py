"""The aiohttp transport, over real HTTP: against the Bot API stand-in, a closed port, and a
server that never reads; errors map as PTB's own httpx transport maps them."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from handlers.telegram.request import AiohttpRequest, RequestNotSent
from handlers.telegram.sender import TelegramSender
from surveys.delivery import DeliveryUncertain, TemporaryFailure
from surveys.replies import Prompt
from tests.auxil.telegram_api import FakeTelegram, TelegramServer

CHAT = 4242
TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
def server() -> Iterator[TelegramServer]:
    with TelegramServer(FakeTelegram(TOKEN)) as running:
        yield running


def _bot(base_url: str, **request: float) -> Bot:
    return Bot(TOKEN, base_url=base_url, request=AiohttpRequest(**request))


@pytest.fixture
def closed_port() -> int:
    """A loopback port that nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def deaf_server() -> Iterator[int]:
    """Accepts connections and never reads from them, so writes stall once buffers fill."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in [*accepted, listener]:
        sock.close()


async def test_messages_with_keyboards_arrive_as_telegram_sees_them(
    server: TelegramServer,
) -> None:
    button = InlineKeyboardButton("Too expensive 💸", callback_data="a:1")
    markup = InlineKeyboardMarkup([[button]])
    async with _bot(server.base_url) as bot:
        message = await bot.send_message(CHAT, "Why did you leave? & = +", reply_markup=markup)

    [sent] = server.fake.sent_messages(CHAT)
    assert sent["text"] == "Why did you leave? & = +"
    assert sent["reply_markup"] == markup.to_dict()
    assert message.message_id == sent["message_id"]
    assert message.reply_markup == markup


async def test_uploads_go_as_multipart_with_their_fields(server: TelegramServer) -> None:
    picture = bytes(range(256)) * 400  # bigger than one write slice

    async with _bot(server.base_url) as bot:
        message = await bot.send_photo(CHAT, picture, caption="weekly chart")
        document = await bot.send_document(CHAT, b"a,b\n1,2\n", filename="figures.csv")

    [(_, photo_params, _)] = server.fake.calls("sendPhoto")
    assert photo_params["photo"]["file_size"] == len(picture)
    assert photo_params["caption"] == "weekly chart"
    assert message.photo[0].file_size == len(picture)
    assert document.document is not None
    assert document.document.file_name == "figures.csv"


async def test_api_errors_keep_their_meaning(server: TelegramServer) -> None:
    async with _bot(server.base_url) as bot:
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await bot.send_message(CHAT, " ")


async def test_a_slow_answer_times_out_per_call_although_the_message_arrived(
    server: TelegramServer,
) -> None:
    server.fake.set_delay("sendMessage", 1.0)

    async with _bot(server.base_url, read_timeout=5.0) as bot:
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(CHAT, "survey", read_timeout=0.2)

    assert not isinstance(raised.value.__cause__, RequestNotSent)
    assert [m["text"] for m in server.fake.sent_messages(CHAT)] == ["survey"]


async def test_a_refused_connection_is_a_network_error_that_sent_nothing(
    closed_port: int,
) -> None:
    bot = _bot(f"http://127.0.0.1:{closed_port}/bot")
    await bot.request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(CHAT, "survey")
    finally:
        await bot.request.shutdown()

    assert not isinstance(raised.value, TimedOut)
    assert isinstance(raised.value.__cause__, RequestNotSent)
    assert "aiohttp.ClientConnectorError" in raised.value.message


async def test_a_busy_pool_times_out_before_sending(server: TelegramServer) -> None:
    server.fake.set_delay("sendMessage", 0.5)

    async with _bot(server.base_url, connection_pool_size=1, pool_timeout=0.1) as bot:
        first = asyncio.create_task(bot.send_message(CHAT, "first"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut, match="Pool timeout") as raised:
            await bot.send_message(CHAT, "second")
        await first

    assert isinstance(raised.value.__cause__, RequestNotSent)
    assert [m["text"] for m in server.fake.sent_messages(CHAT)] == ["first"]


async def test_a_stalled_upload_times_out_by_the_write_timeout(deaf_server: int) -> None:
    big = b"\0" * (32 * 1024 * 1024)
    bot = _bot(f"http://127.0.0.1:{deaf_server}/bot", read_timeout=30.0)
    await bot.request.initialize()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(TimedOut) as raised:
            await bot.send_document(CHAT, big, filename="big.bin", write_timeout=0.3)
    finally:
        await bot.request.shutdown()

    assert loop.time() - started < 10, "the read timeout (30 s) must not be what ended it"
    assert not isinstance(raised.value.__cause__, RequestNotSent)


async def test_the_sender_retries_only_what_certainly_did_not_leave(
    server: TelegramServer, closed_port: int
) -> None:
    prompt = Prompt(text="Why did you leave?", buttons=())
    refused = _bot(f"http://127.0.0.1:{closed_port}/bot")
    await refused.request.initialize()
    try:
        with pytest.raises(TemporaryFailure):
            await TelegramSender(refused).send(CHAT, prompt)
    finally:
        await refused.request.shutdown()

    server.fake.set_delay("sendMessage", 1.0)
    async with _bot(server.base_url, read_timeout=0.2) as slow:
        with pytest.raises(DeliveryUncertain):
            await TelegramSender(slow).send(CHAT, prompt)


async def test_requests_need_initialize_and_survive_a_restart(server: TelegramServer) -> None:
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=server.base_url, request=request)
    with pytest.raises(NetworkError, match="not initialized"):
        await bot.send_message(CHAT, "too early")
    async with bot:
        await bot.send_message(CHAT, "one")
    async with bot:
        await bot.send_message(CHAT, "two")

    assert request.read_timeout == 5.0
    assert [m["text"] for m in server.fake.sent_messages(CHAT)] == ["one", "two"]
