"""`churnbot run` with no TELEGRAM_BOT_TOKEN starts the sandbox and prints one address line."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.auxil.sandbox_process import clean_env, running

pytestmark = pytest.mark.e2e


def test_run_without_a_token_starts_the_sandbox_and_prints_its_address(tmp_path: Path) -> None:
    env = clean_env(None)
    with running(["run"], cwd=tmp_path, env=env) as (url, lines):
        assert len(lines) == 1, lines
        assert lines[0].startswith("churnbot sandbox")
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200
        assert "churnbot sandbox" in page.text
        info = httpx.get(f"{url}sandbox/api/info", timeout=10).json()
        assert info["ready"] is True
        # The real bot answers through the stand-in: link a customer and see the reply.
        link = httpx.post(
            f"{url}sandbox/api/link", json={"customer_id": "c-1", "language": "de"}, timeout=10
        ).json()
        httpx.post(
            f"{url}sandbox/api/telegram/send",
            json={"chat_id": link["chat_id"], "text": f"/start {link['token']}", "language": "de"},
            timeout=10,
        )
        deadline = time.monotonic() + 15
        messages: list[dict] = []
        while time.monotonic() < deadline and not any(m["from"] == "bot" for m in messages):
            time.sleep(0.1)
            messages = httpx.get(
                f"{url}sandbox/api/telegram/chat", params={"chat_id": link["chat_id"]}, timeout=10
            ).json()["messages"]
        assert [m["from"] for m in messages] == ["me", "bot"]

        # /stats from the customer's own account gets the help text; from the sandbox's
        # Telegram admin (whose id the page shows), the figures.
        def reply_to(text: str, *, as_admin: bool) -> str:
            before = len(chat(url, link["chat_id"]))
            httpx.post(
                f"{url}sandbox/api/telegram/send",
                json={"chat_id": link["chat_id"], "text": text, "as_admin": as_admin},
                timeout=10,
            )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                bot = [m for m in chat(url, link["chat_id"])[before:] if m["from"] == "bot"]
                if bot:
                    return str(bot[-1]["text"])
                time.sleep(0.1)
            raise AssertionError(f"no answer to {text!r}")

        assert isinstance(info["admin_id"], int)
        as_customer = reply_to("/stats", as_admin=False)
        as_admin = reply_to("/stats", as_admin=True)
        assert as_admin != as_customer
        assert "churn" in as_admin.lower()
        lines = chat(url, link["chat_id"])
        assert [m.get("admin") for m in lines if m["from"] == "me"] == [False, False, True]
    assert (tmp_path / "churnbot-sandbox.db").exists()


def chat(url: str, chat_id: int) -> list[dict]:
    return httpx.get(
        f"{url}sandbox/api/telegram/chat", params={"chat_id": chat_id}, timeout=10
    ).json()["messages"]


def test_two_clicks_on_the_sandbox_cancel_button_queue_one_exit_survey(tmp_path: Path) -> None:
    env = clean_env(None)
    with running(["run"], cwd=tmp_path, env=env) as (url, _):
        clicks = [
            httpx.post(
                f"{url}sandbox/api/event",
                json={"customer_id": "c-1", "type": "subscription.cancelled"},
                timeout=10,
            ).json()
            for _ in range(2)
        ]
    first, second = (click["answer"] for click in clicks)
    assert clicks[0]["event"]["event_id"] != clicks[1]["event"]["event_id"]
    assert first["recorded"] is True
    assert len(first["invitations"]) == 1
    assert second["recorded"] is True  # a second report of the cancellation is stored ...
    assert second["invitations"] == []  # ... but queues no second exit survey


def test_the_cancel_in_stripe_button_reaches_the_bot_as_signed_stripe_webhooks(
    tmp_path: Path,
) -> None:
    env = clean_env(None)
    with running(["run"], cwd=tmp_path, env=env) as (url, _):
        clicks = [
            httpx.post(
                f"{url}sandbox/api/stripe/cancel", json={"customer_id": "c-s"}, timeout=20
            ).json()
            for _ in range(2)
        ]
    first, second = clicks
    assert [(h["type"], h["status"], h["answer"]["outcome"]) for h in first["webhooks"]] == [
        ("customer.subscription.created", 200, "subscription started"),
        ("customer.subscription.updated", 200, "cancellation scheduled: exit survey"),
    ]
    assert second == {"subscription": first["subscription"], "webhooks": []}
