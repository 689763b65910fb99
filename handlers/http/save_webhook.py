"""The save webhook: an accepted offer POSTed as signed JSON to SAVE_WEBHOOK_URL.

Signed like Stripe signs its own webhooks, so a receiver can reuse that code:
`Churnbot-Signature: t=<unix time>,v1=<hex HMAC-SHA256(SAVE_WEBHOOK_SECRET, "<t>.<body>")>`.
A non-2xx answer raises; the outbox in surveys/offers.py retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

SIGNATURE_HEADER = "Churnbot-Signature"
TIMEOUT_SECONDS = 10


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class SignedSaveWebhook:
    """`surveys.offers.SaveWebhook` over HTTP."""

    def __init__(self, url: str, secret: str) -> None:
        self._url = url
        self._secret = secret

    async def deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body, int(time.time())),
        }
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(self._url, data=body, headers=headers) as response,
        ):
            if not 200 <= response.status < 300:
                raise RuntimeError(f"save webhook answered HTTP {response.status}")
