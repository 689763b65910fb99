"""The save webhook over real HTTP: a signed JSON body a receiver can verify; errors raise."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.sandbox.threaded import ThreadedServer
from handlers.http.save_webhook import SIGNATURE_HEADER, SignedSaveWebhook

SECRET = "save-webhook-secret"


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[bytes, str]] = []
        self.status = 200

    async def endpoint(self, request: Request) -> Response:
        self.requests.append((await request.body(), request.headers.get(SIGNATURE_HEADER, "")))
        return Response(status_code=self.status)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/saves", receiver.endpoint, methods=["POST"])])
    server = ThreadedServer(app, name="save-webhook-receiver")
    server.start(10)
    try:
        yield receiver, f"http://127.0.0.1:{server.port}/saves"
    finally:
        server.stop()


def _verified(body: bytes, header: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(parts["v1"], expected.hexdigest())


async def test_the_payload_arrives_signed_with_the_shared_secret(
    receiver: tuple[Receiver, str],
) -> None:
    fake, url = receiver
    payload: dict[str, Any] = {"type": "winback_offer.accepted", "customer_id": "cust-42"}

    await SignedSaveWebhook(url, SECRET).deliver(payload)

    ((body, header),) = fake.requests
    assert json.loads(body) == payload
    assert _verified(body, header)
    assert not _verified(body.replace(b"cust-42", b"cust-43"), header)


async def test_a_non_2xx_answer_raises_so_the_outbox_retries(
    receiver: tuple[Receiver, str],
) -> None:
    fake, url = receiver
    fake.status = 503

    with pytest.raises(RuntimeError, match="HTTP 503"):
        await SignedSaveWebhook(url, SECRET).deliver({"type": "winback_offer.accepted"})
