"""The sandbox never touches what the user configured for production (issue 14, item 1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from bot.sandbox import SANDBOX_DATABASE_URL, SandboxServer, sandbox_settings, serve_sandbox
from bot.sandbox.slack_api import signed_headers
from tests.auxil.cli import Invoke
from tests.auxil.environment import make_settings

REAL_EVENTS_TOKEN = "real-events-token-0123456789"
REAL_SIGNING_SECRET = "real-signing-secret-0123456789"
REAL_SECRET_KEY = "real-secret-key-0123456789"
# What the sandbox used before: public in the source, so anyone could use them.
OLD_EVENTS_TOKEN = "sandbox-events-token"
OLD_SIGNING_SECRET = "sandbox-signing-secret"

PRODUCTION_SETTINGS = {
    "DATABASE_URL": "sqlite:///production.db",
    "EVENTS_API_TOKEN": REAL_EVENTS_TOKEN,
    "SLACK_BOT_TOKEN": "xoxb-real",
    "SLACK_SIGNING_SECRET": REAL_SIGNING_SECRET,
    "SLACK_APP_TOKEN": "xapp-real",
    "TELEGRAM_WEBHOOK_URL": "https://bot.example.com",
    "STRIPE_WEBHOOK_SECRET": "whsec_real",
    "STRIPE_API_KEY": "sk_live_real",
}


@pytest.mark.parametrize("name", sorted(PRODUCTION_SETTINGS))
@pytest.mark.parametrize("source", ["environment", ".env"])
def test_run_without_token_refuses_the_sandbox_when_a_production_setting_is_present(
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    source: str,
) -> None:
    monkeypatch.delenv("DATABASE_URL")  # the fixture's own test database
    if source == "environment":
        monkeypatch.setenv(name, PRODUCTION_SETTINGS[name])
    else:
        (tmp_path / ".env").write_text(f"{name}={PRODUCTION_SETTINGS[name]}\n")

    result = invoke("run")

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "TELEGRAM_BOT_TOKEN is not set" in lines[0]
    assert name in lines[0]
    assert "churnbot sandbox" not in result.stdout
    assert not (tmp_path / "churnbot-sandbox.db").exists()
    assert not (tmp_path / "production.db").exists()


def test_sandbox_settings_replace_the_database_secrets_and_host(tmp_path: Path) -> None:
    configured = make_settings(
        f"sqlite:///{tmp_path / 'production.db'}",
        events_api_token=REAL_EVENTS_TOKEN,
        slack_signing_secret=REAL_SIGNING_SECRET,
        secret_key=REAL_SECRET_KEY,
        telegram_webhook_secret="real-webhook-secret",
        http_host="0.0.0.0",
    )
    first, second = SandboxServer(), SandboxServer()

    one = sandbox_settings(configured, first)
    other = sandbox_settings(configured, second)

    assert one.database_url == SANDBOX_DATABASE_URL
    assert one.http_host == "127.0.0.1"
    assert one.telegram_webhook_secret is None
    secrets = [(s.events_api_token, s.slack_signing_secret, s.secret_key) for s in (one, other)]
    for events_token, signing_secret, secret_key in secrets:
        assert events_token is not None
        assert signing_secret is not None
        assert secret_key is not None
        values = {
            events_token.get_secret_value(),
            signing_secret.get_secret_value(),
            secret_key.get_secret_value(),
        }
        assert not values & {REAL_EVENTS_TOKEN, REAL_SIGNING_SECRET, REAL_SECRET_KEY}
        assert not values & {OLD_EVENTS_TOKEN, OLD_SIGNING_SECRET}
    assert secrets[0][0] != secrets[1][0]  # fresh at every start
    assert secrets[0][2] != secrets[1][2]


@pytest.mark.e2e
async def test_old_attack_fails_real_and_public_tokens_are_refused_and_real_db_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A deployment whose bot token is lost, started as the sandbox on purpose: neither its
    events token nor the formerly public sandbox secrets open anything, and its database
    is never opened."""
    monkeypatch.chdir(tmp_path)
    production = tmp_path / "production.db"
    configured = make_settings(
        f"sqlite:///{production}",
        events_api_token=REAL_EVENTS_TOKEN,
        slack_signing_secret=REAL_SIGNING_SECRET,
        secret_key=REAL_SECRET_KEY,
        http_host="0.0.0.0",
        http_port=0,
    )
    ready: list[str] = []
    events_api: list[tuple[str, str]] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_sandbox(
            configured,
            port=0,
            stop=stop,
            handle_signals=False,
            on_ready=ready.append,
            on_events_api=lambda url, token: events_api.append((url, token)),
        )
    )
    try:
        async with asyncio.timeout(30):
            while not events_api:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        [(events_url, token)] = events_api
        assert events_url.startswith("http://127.0.0.1:")
        event = {
            "event_id": "attack-1",
            "type": "subscription.cancelled",
            "customer_id": "victim",
            "data": {"reference": "SUB-1"},
        }
        async with httpx.AsyncClient(timeout=10) as client:
            statuses = {}
            for name, bearer in (
                ("real", REAL_EVENTS_TOKEN),
                ("old", OLD_EVENTS_TOKEN),
                ("this run", token),
            ):
                response = await client.post(
                    events_url, json=event, headers={"Authorization": f"Bearer {bearer}"}
                )
                statuses[name] = response.status_code
            command = urlencode({"command": "/churn", "text": "customer victim", "user_id": "U1"})
            slack_url = events_url.replace("/api/events", "/slack/commands")
            signed = {}
            for name, secret in (("real", REAL_SIGNING_SECRET), ("old", OLD_SIGNING_SECRET)):
                response = await client.post(
                    slack_url, content=command, headers=signed_headers(secret, command)
                )
                signed[name] = response.status_code
            info = (await client.get(f"{ready[0]}sandbox/api/info")).json()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    assert statuses == {"real": 401, "old": 401, "this run": 202}
    assert signed == {"real": 401, "old": 401}
    assert info["events_token"] == token
    assert not production.exists()  # the configured database was never opened
    sandbox_db = tmp_path / "churnbot-sandbox.db"
    tables = inspect(create_engine(f"sqlite:///{sandbox_db}")).get_table_names()
    assert "customer" in tables  # the sandbox migrated its own file instead
    assert json.dumps(info).count(REAL_EVENTS_TOKEN) == 0


def test_only_an_explicit_sandbox_database_replaces_the_sandbox_file(tmp_path: Path) -> None:
    configured = make_settings(f"sqlite:///{tmp_path / 'production.db'}")
    chosen = f"sqlite:///{tmp_path / 'demo.db'}"

    assert sandbox_settings(configured, SandboxServer(), database_url=chosen).database_url == (
        chosen
    )
