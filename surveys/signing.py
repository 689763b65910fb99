"""Signed, compact tokens: deep-link tokens and inline-button data.

Both travel through the customer's client and come back to us, so both carry an HMAC
over their content made with `SECRET_KEY`. Telegram limits a start parameter to 64
characters of [A-Za-z0-9_-] and callback data to 64 bytes; these formats fit both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

LINK_SIGNATURE_BYTES = 12
BUTTON_SIGNATURE_CHARS = 11
_LINK_LAYOUT = ">QI"


class InvalidToken(Exception):
    """The token was not made by us (forged or damaged)."""


class ExpiredToken(Exception):
    """The token was made by us but its time is over."""


def _mac(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, purpose + b"\0" + payload, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_link_token(secret: bytes, customer_id: int, expires_at: datetime) -> str:
    """A start-parameter token binding a chat to `customer_id` until `expires_at`."""
    payload = struct.pack(_LINK_LAYOUT, customer_id, int(expires_at.timestamp()))
    return _b64(payload + _mac(secret, b"link", payload)[:LINK_SIGNATURE_BYTES])


def read_link_token(secret: bytes, token: str, now: datetime) -> int:
    """Return the customer id of a valid token; raise InvalidToken or ExpiredToken."""
    size = struct.calcsize(_LINK_LAYOUT)
    try:
        raw = _unb64(token.strip())
    except (ValueError, TypeError) as error:
        raise InvalidToken("not a link token") from error
    if len(raw) != size + LINK_SIGNATURE_BYTES:
        raise InvalidToken("not a link token")
    payload, signature = raw[:size], raw[size:]
    if not hmac.compare_digest(signature, _mac(secret, b"link", payload)[:LINK_SIGNATURE_BYTES]):
        raise InvalidToken("bad signature")
    customer_id, expires = struct.unpack(_LINK_LAYOUT, payload)
    if datetime.fromtimestamp(expires, UTC) < now:
        raise ExpiredToken("link expired")
    return customer_id


@dataclass(frozen=True)
class ButtonData:
    """What a tapped inline button means: an action on an invitation's question."""

    action: str  # "a" answer, "s" skip, "fy"/"fn" forget yes/no
    target: int  # invitation id, or customer id for forget
    step: int = 0  # question index in the survey
    value: int = 0  # option index or scale value


def sign_button(secret: bytes, data: ButtonData) -> str:
    body = f"{data.action}:{data.target}:{data.step}:{data.value}"
    signature = _b64(_mac(secret, b"button", body.encode()))[:BUTTON_SIGNATURE_CHARS]
    return f"{body}:{signature}"


def read_button(secret: bytes, raw: str) -> ButtonData:
    """Parse and verify callback data; raise InvalidToken for anything we did not sign."""
    parts = (raw or "").split(":")
    if len(parts) != 5:
        raise InvalidToken("malformed button data")
    action, target, step, value, signature = parts
    body = f"{action}:{target}:{step}:{value}"
    expected = _b64(_mac(secret, b"button", body.encode()))[:BUTTON_SIGNATURE_CHARS]
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise InvalidToken("bad button signature")
    try:
        return ButtonData(action, int(target), int(step), int(value))
    except ValueError as error:
        raise InvalidToken("malformed button data") from error
