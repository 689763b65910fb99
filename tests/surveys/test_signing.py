"""Signed deep-link tokens and button data: compact enough for Telegram, unforgeable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from surveys.signing import (
    ButtonData,
    ExpiredToken,
    InvalidToken,
    LinkClaim,
    RetiredToken,
    SigningKey,
    make_link_token,
    read_button,
    read_link_token,
    sign_button,
)

SECRET = b"test-secret"
NONCE = "AAECAwQFBgc"
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LARGE_ID = 2**63 - 1


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("customer_id", [1, 123_456, 2**31, LARGE_ID])
def test_link_token_fits_telegram_start_parameter(customer_id: int) -> None:
    token = make_link_token(SECRET, customer_id, NONCE, NOW + timedelta(days=365))

    assert START_PARAMETER.match(token), token


def test_link_token_round_trips() -> None:
    token = make_link_token(SECRET, 98765, NONCE, NOW + timedelta(days=30))

    assert read_link_token(SECRET, token, NOW) == LinkClaim(98765, NONCE)
    assert read_link_token(SECRET, token, NOW + timedelta(days=29)) == LinkClaim(98765, NONCE)


def test_expired_link_token_raises_expired_token() -> None:
    token = make_link_token(SECRET, 7, NONCE, NOW + timedelta(days=30))

    with pytest.raises(ExpiredToken):
        read_link_token(SECRET, token, NOW + timedelta(days=31))


@pytest.mark.parametrize("index", [0, 5, 11, 15, -1])
def test_link_token_with_one_changed_character_is_invalid(index: int) -> None:
    token = make_link_token(SECRET, 7, NONCE, NOW + timedelta(days=30))
    damaged = _flip(token, index % len(token))

    assert damaged != token
    with pytest.raises(InvalidToken):
        read_link_token(SECRET, damaged, NOW)


def test_link_token_signed_with_another_secret_is_invalid() -> None:
    token = make_link_token(b"someone-else", 7, NONCE, NOW + timedelta(days=30))

    with pytest.raises(InvalidToken):
        read_link_token(SECRET, token, NOW)


@pytest.mark.parametrize("garbage", ["", "hello", "!!!!", "a" * 64])
def test_garbage_link_token_is_invalid(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        read_link_token(SECRET, garbage, NOW)


@pytest.mark.parametrize(
    "data",
    [
        ButtonData("a", 1, 0, 5),
        ButtonData("s", 42, 3, 0),
        ButtonData("fy", LARGE_ID),
        ButtonData("a", LARGE_ID, 19, 10),
    ],
)
def test_button_data_fits_64_bytes_and_round_trips(data: ButtonData) -> None:
    raw = sign_button(SECRET, data)

    assert len(raw.encode("utf-8")) <= 64
    assert read_button(SECRET, raw) == data


def test_button_with_changed_value_but_same_signature_is_invalid() -> None:
    raw = sign_button(SECRET, ButtonData("a", 10, 0, 1))
    action, target, step, _value, signature = raw.split(":")

    with pytest.raises(InvalidToken):
        read_button(SECRET, f"{action}:{target}:{step}:5:{signature}")


def test_button_with_changed_invitation_but_same_signature_is_invalid() -> None:
    raw = sign_button(SECRET, ButtonData("a", 10, 0, 1))
    action, _target, step, value, signature = raw.split(":")

    with pytest.raises(InvalidToken):
        read_button(SECRET, f"{action}:11:{step}:{value}:{signature}")


def test_button_signed_with_another_secret_is_invalid() -> None:
    raw = sign_button(b"someone-else", ButtonData("a", 10, 0, 1))

    with pytest.raises(InvalidToken):
        read_button(SECRET, raw)


@pytest.mark.parametrize("garbage", ["", "a:1:0:1", "a:1:0:1:sig:extra", "x" * 64])
def test_malformed_button_data_is_invalid(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        read_button(SECRET, garbage)


def test_a_link_after_rotation_is_retired_and_a_new_link_is_valid() -> None:
    before, after = SigningKey(SECRET), SigningKey(SECRET, generation=2)
    old = make_link_token(before, 7, NONCE, NOW + timedelta(days=30))
    new = make_link_token(after, 7, NONCE, NOW + timedelta(days=30))

    with pytest.raises(RetiredToken):
        read_link_token(after, old, NOW)
    assert read_link_token(after, new, NOW) == LinkClaim(7, NONCE)
    assert START_PARAMETER.match(new)


def test_a_link_of_the_first_format_is_retired_not_accepted() -> None:
    first_format = "AAAAAAAAAAcAAAAAAAAAAAAAAAAAAAAA"  # 24 bytes: id and expiry only

    with pytest.raises(RetiredToken):
        read_link_token(SECRET, first_format, NOW)


def test_a_button_after_rotation_is_retired_and_a_new_button_is_valid() -> None:
    before, after = SigningKey(SECRET), SigningKey(SECRET, generation=2)
    data = ButtonData("a", 10, 0, 1)
    new = sign_button(after, data)

    with pytest.raises(RetiredToken):
        read_button(after, sign_button(before, data))
    assert read_button(after, new) == data
    assert len(new.encode()) <= 64


def test_a_button_claiming_a_later_generation_is_invalid() -> None:
    later = sign_button(SigningKey(b"guess", generation=3), ButtonData("a", 10, 0, 1))

    with pytest.raises(InvalidToken):
        read_button(SigningKey(SECRET, generation=2), later)


def test_a_new_generation_of_the_same_secret_signs_differently() -> None:
    data = ButtonData("a", 10, 0, 1)
    second = sign_button(SigningKey(SECRET, 2), data)
    third = sign_button(SigningKey(SECRET, 3), data)

    assert second.rsplit(":", 1)[1] != third.rsplit(":", 1)[1]
    with pytest.raises(InvalidToken):
        read_button(SigningKey(SECRET, 3), second.replace(":2:", ":3:"))
