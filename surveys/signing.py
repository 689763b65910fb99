"""Signed, compact tokens: deep-link tokens and inline-button data.

Both travel through the customer's client and come back to us, so both carry an HMAC
over their content made with `SECRET_KEY` (or the generated key) at its current
generation. `churnbot secret rotate` moves to the next generation: every token names the
generation it was made at, so one from an earlier generation is recognised as expired (the
customer is told so) rather than as forged. Telegram limits a start parameter to 64
characters of [A-Za-z0-9_-] and callback data to 64 bytes; these formats fit both.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

LINK_SIGNATURE_BYTES = 12
LINK_NONCE_BYTES = 8
BUTTON_SIGNATURE_CHARS = 11
# customer id, expiry (unix seconds), key generation; the customer's link nonce follows.
_LINK_LAYOUT = ">QIH"
# Links made before they carried a nonce and a generation: customer id and expiry only.
_FIRST_LINK_BYTES = struct.calcsize(">QI") + LINK_SIGNATURE_BYTES


class InvalidToken(Exception):
    """The token was not made by us (forged or damaged)."""


class ExpiredToken(Exception):
    """The token was made by us but its time is over."""


class RetiredToken(ExpiredToken):
    """The token was made with a key generation that `churnbot secret rotate` retired."""


@dataclass(frozen=True)
class SigningKey:
    """The secret and its generation; generation 1 signs with the secret itself, so links
    and buttons made before rotation existed stay valid until the first rotation."""

    secret: bytes
    generation: int = 1

    def mac_key(self) -> bytes:
        if self.generation == 1:
            return self.secret
        label = b"churnbot signing key, generation %d" % self.generation
        return hmac.new(self.secret, label, hashlib.sha256).digest()


def _key(key: SigningKey | bytes) -> SigningKey:
    return key if isinstance(key, SigningKey) else SigningKey(key)


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link token says: the customer's id and their link nonce. The nonce
    makes the link name the customer durably: SQLite reuses the id of a deleted row, but
    the customer created with it gets a new nonce."""

    customer_id: int
    nonce: str


def _mac(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, purpose + b"\0" + payload, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_link_token(
    key: SigningKey | bytes, customer_id: int, nonce: str, expires_at: datetime
) -> str:
    """A start-parameter token binding a chat to the customer with `customer_id` and the
    link nonce `nonce` (URL-safe base64 of LINK_NONCE_BYTES bytes) until `expires_at`."""
    key = _key(key)
    raw_nonce = _unb64(nonce)
    if len(raw_nonce) != LINK_NONCE_BYTES:
        raise ValueError("a link nonce is 8 bytes in URL-safe base64")
    payload = struct.pack(_LINK_LAYOUT, customer_id, int(expires_at.timestamp()), key.generation)
    payload += raw_nonce
    return _b64(payload + _mac(key.mac_key(), b"link", payload)[:LINK_SIGNATURE_BYTES])


def read_link_token(key: SigningKey | bytes, token: str, now: datetime) -> LinkClaim:
    """Return what a valid token claims; raise InvalidToken, ExpiredToken or RetiredToken.
    The caller still checks the nonce against the customer's."""
    key = _key(key)
    size = struct.calcsize(_LINK_LAYOUT) + LINK_NONCE_BYTES
    token = token.strip()
    try:
        raw = _unb64(token)
    except (ValueError, TypeError) as error:
        raise InvalidToken("not a link token") from error
    if _b64(raw) != token:
        # base64 ignores the spare bits of the last character: one token, one spelling.
        raise InvalidToken("not a link token")
    if len(raw) == _FIRST_LINK_BYTES:
        raise RetiredToken("a link of the first format, without a nonce")
    if len(raw) != size + LINK_SIGNATURE_BYTES:
        raise InvalidToken("not a link token")
    payload, signature = raw[:size], raw[size:]
    customer_id, expires, generation = struct.unpack_from(_LINK_LAYOUT, payload)
    if generation < key.generation:
        raise RetiredToken("made with a retired key generation")
    expected = _mac(key.mac_key(), b"link", payload)[:LINK_SIGNATURE_BYTES]
    if generation != key.generation or not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    if datetime.fromtimestamp(expires, UTC) < now:
        raise ExpiredToken("link expired")
    return LinkClaim(customer_id, _b64(payload[struct.calcsize(_LINK_LAYOUT) :]))


class ButtonAction(enum.StrEnum):
    """What a button does; the value is what its callback data starts with."""

    ANSWER = "a"
    SKIP = "s"
    FORGET_YES = "fy"
    FORGET_NO = "fn"
    OFFER_ACCEPT = "oa"  # target: the win-back offer's id
    OFFER_DECLINE = "od"


@dataclass(frozen=True)
class ButtonData:
    """What a tapped inline button means: an action on an invitation's question."""

    action: ButtonAction
    target: int  # invitation id, or customer id for forget
    step: int = 0  # question index in the survey
    value: int = 0  # option index or scale value


def _button_body(data: ButtonData, generation: int) -> str:
    body = f"{data.action}:{data.target}:{data.step}:{data.value}"
    # Generation 1 keeps the first format, so buttons already in chats stay valid.
    return body if generation == 1 else f"{body}:{generation}"


def sign_button(key: SigningKey | bytes, data: ButtonData) -> str:
    key = _key(key)
    body = _button_body(data, key.generation)
    signature = _b64(_mac(key.mac_key(), b"button", body.encode()))[:BUTTON_SIGNATURE_CHARS]
    return f"{body}:{signature}"


def read_button(key: SigningKey | bytes, raw: str) -> ButtonData:
    """Parse and verify callback data; raise InvalidToken for anything we did not sign and
    RetiredToken for a button of a retired key generation."""
    key = _key(key)
    parts = (raw or "").split(":")
    if len(parts) not in (5, 6):
        raise InvalidToken("malformed button data")
    action, target, step, value = parts[:4]
    generation_text = parts[4] if len(parts) == 6 else "1"
    if not generation_text.isdigit() or len(generation_text) > 6:
        raise InvalidToken("malformed button data")
    generation = int(generation_text)
    if generation < key.generation:
        raise RetiredToken("button of a retired key generation")
    if generation != key.generation:
        raise InvalidToken("bad button signature")
    body = ":".join(parts[:-1])
    expected = _b64(_mac(key.mac_key(), b"button", body.encode()))[:BUTTON_SIGNATURE_CHARS]
    if not hmac.compare_digest(parts[-1].encode(), expected.encode()):
        raise InvalidToken("bad button signature")
    try:
        return ButtonData(ButtonAction(action), int(target), int(step), int(value))
    except ValueError as error:
        raise InvalidToken("malformed button data") from error
