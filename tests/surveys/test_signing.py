"""Signed deep-link tokens and button data: compact enough for Telegram, unforgeable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from surveys.signing import (
    ButtonData,
    ExpiredToken,
    InvalidToken,
    make_link_token,
    read_button,
    read_link_token,
    sign_button,
)

SECRET = b"test-secret"
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LARGE_ID = 2**63 - 1


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("customer_id", [1, 123_456, 2**31, LARGE_ID])
def test_link_token_fits_telegram_start_parameter(customer_id: int) -> None:
    token = make_link_token(SECRET, customer_id, NOW + timedelta(days=365))

    assert START_PARAMETER.match(token), token


def test_link_token_round_trips() -> None:
    token = make_link_token(SECRET, 98765, NOW + timedelta(days=30))

    assert read_link_token(SECRET, token, NOW) == 98765
    assert read_link_token(SECRET, token, NOW + timedelta(days=29)) == 98765


def test_expired_link_token_raises_expired_token() -> None:
    token = make_link_token(SECRET, 7, NOW + timedelta(days=30))

    with pytest.raises(ExpiredToken):
        read_link_token(SECRET, token, NOW + timedelta(days=31))


@pytest.mark.parametrize("index", [0, 5, 11, 15, -1])
def test_link_token_with_one_changed_character_is_invalid(index: int) -> None:
    token = make_link_token(SECRET, 7, NOW + timedelta(days=30))
    damaged = _flip(token, index % len(token))

    assert damaged != token
    with pytest.raises(InvalidToken):
        read_link_token(SECRET, damaged, NOW)


def test_link_token_signed_with_another_secret_is_invalid() -> None:
    token = make_link_token(b"someone-else", 7, NOW + timedelta(days=30))

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
