"""One local HTTP server for the sandbox: both stand-ins, the page, and the page's JSON API.

The Telegram stand-in is mounted at ``/telegram`` (the bot's TELEGRAM_API_BASE_URL is
``…/telegram/bot``), the Slack stand-in at ``/slack`` (SLACK_API_BASE_URL ``…/slack/api/``).
The page's endpoints under ``/sandbox/api`` act as the customer's Telegram app and as Slack
itself: they push updates to the Telegram stand-in, and they send signed slash commands and
events to the real application's HTTP server, over real HTTP like Slack and a billing system.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot.context import Deps
from bot.sandbox.slack_api import FakeSlack, signed_headers
from bot.sandbox.stripe_api import FakeStripe
from bot.sandbox.telegram_api import FakeTelegram
from bot.sandbox.threaded import ThreadedServer
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events

BOT_TOKEN = "424242:SANDBOX-TOKEN"
BOT_USERNAME = "churnbot_sandbox_bot"
SLACK_TOKEN = "xoxb-sandbox-token"
SUMMARY_CHANNEL = "C0SUMMARY"
ALERTS_CHANNEL = "C0ALERTS"
MANAGER_ID = "U0MANAGER"
# The sandbox's Telegram admin (TELEGRAM_ADMIN_IDS): the page sends /stats and /reasons as
# this user, into the chat on show. Outside the range of `chat_id_for`, so no customer is it.
ADMIN_USER_ID = 4242
CHANNEL_NAMES = {SUMMARY_CHANNEL: "churn-summary", ALERTS_CHANNEL: "churn-alerts"}
COMMAND_CHANNEL = "C0COMMANDS"
LANGUAGES = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "hu": "Magyar",
    "lv": "Latviešu",
    "fa": "فارسی",
    "zh": "中文",
    "ko": "한국어",
}
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/sandbox.js": ("sandbox.js", "text/javascript; charset=utf-8"),
    "/sandbox.css": ("sandbox.css", "text/css; charset=utf-8"),
}
MAX_TEXT = 4096  # what Telegram accepts in one message
# Events are dated this far back, past the CSAT survey's one-hour delay, so they show at once.
EVENT_AGE = timedelta(hours=2)


def chat_id_for(customer_id: str) -> int:
    """A stable private-chat id per customer id, so a restart finds the same chat."""
    return 700_000_000 + zlib.crc32(customer_id.encode()) % 100_000_000


@dataclass
class ChatLine:
    """A message typed on the page (the stand-in keeps only the bot's): the customer's, or
    the sandbox admin's."""

    chat_id: int
    message_id: int
    text: str
    date: int
    admin: bool = False


class SandboxServer:
    """The stand-ins and the page, served by uvicorn on 127.0.0.1 from a daemon thread."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        # Fresh per start: a published sandbox secret must never open a real deployment.
        self.events_token = secrets.token_urlsafe(24)
        self.signing_secret = secrets.token_urlsafe(24)
        self.telegram = FakeTelegram(
            BOT_TOKEN, bot_username=BOT_USERNAME, bot_first_name="Churnbot"
        )
        self.slack = FakeSlack(SLACK_TOKEN)
        self.stripe = FakeStripe(
            f"sk_test_{secrets.token_urlsafe(18)}",
            webhook_secret=f"whsec_{secrets.token_urlsafe(24)}",
        )
        # Each page customer's Stripe customer and subscription (made at the first click).
        self._stripe_subscriptions: dict[str, str] = {}
        self.deps: Deps | None = None  # set by attach() once the database is open
        self.app_url = ""  # the real application's HTTP server, set once it listens
        self._lines: list[ChatLine] = []
        self._lock = threading.Lock()
        self._serving: ThreadedServer | None = None
        self.app = Starlette(
            routes=[
                *(Route(path, self._static, methods=["GET"]) for path in STATIC_FILES),
                Route("/sandbox/api/info", self._info, methods=["GET"]),
                Route("/sandbox/api/link", self._link, methods=["POST"]),
                Route("/sandbox/api/telegram/chat", self._chat, methods=["GET"]),
                Route("/sandbox/api/telegram/send", self._send, methods=["POST"]),
                Route("/sandbox/api/telegram/tap", self._tap, methods=["POST"]),
                Route("/sandbox/api/slack/feed", self._feed, methods=["GET"]),
                Route("/sandbox/api/slack/file/{file_id}", self._file, methods=["GET"]),
                Route("/sandbox/api/slack/command", self._command, methods=["POST"]),
                Route("/sandbox/api/slack/select", self._select, methods=["POST"]),
                Route("/sandbox/api/event", self._event, methods=["POST"]),
                Route("/sandbox/api/stripe/cancel", self._stripe_cancel, methods=["POST"]),
                Mount("/telegram", app=self.telegram.app),
                Mount("/slack", app=self.slack.app),
                Mount("/stripe", app=self.stripe.app),
            ]
        )

    # --- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def telegram_base_url(self) -> str:
        return f"{self.url}/telegram/bot"

    @property
    def telegram_file_url(self) -> str:
        return f"{self.url}/telegram/file/bot"

    @property
    def slack_api_url(self) -> str:
        return f"{self.url}/slack/api/"

    @property
    def stripe_api_url(self) -> str:
        return f"{self.url}/stripe"

    def attach(self, deps: Deps) -> None:
        self.deps = deps

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._serving = ThreadedServer(
            self.app, name="churnbot-sandbox", host=self.host, port=self.port
        )
        self.port = self._serving.start(timeout)
        self.slack.base = f"{self.url}/slack"
        return self

    def stop(self) -> None:
        self.telegram.release_polls()
        if self._serving is not None:
            self._serving.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the page -------------------------------------------------------------------------

    async def _static(self, request: Request) -> Response:
        name, media_type = STATIC_FILES[request.url.path]
        content = resources.files("bot.sandbox").joinpath("static", name).read_bytes()
        return Response(content, media_type=media_type, headers={"Cache-Control": "no-store"})

    async def _info(self, _request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "bot_username": BOT_USERNAME,
                "languages": LANGUAGES,
                "manager_id": MANAGER_ID,
                "admin_id": ADMIN_USER_ID,
                "channels": CHANNEL_NAMES,
                "command": self.deps.settings.slack_command if self.deps else "/churn",
                "ready": bool(self.app_url),
                "events_url": f"{self.app_url}/api/events" if self.app_url else None,
                "events_token": self.events_token,
            }
        )

    async def _link(self, request: Request) -> JSONResponse:
        """Create (or update) the customer and make a deep-link token, as `churnbot link`."""
        body = await _json(request)
        customer_id = str(body.get("customer_id") or "").strip()
        language = str(body.get("language") or "en")
        if not customer_id or language not in LANGUAGES:
            return JSONResponse({"error": "customer_id and a known language, please"}, 400)
        if self.deps is None:
            return JSONResponse({"error": "the bot is still starting"}, 503)
        deps = self.deps

        def work(session: Any) -> str:
            customer = customer_queries.upsert_customer(
                session=session, external_id=customer_id, attributes={"language": language}
            )
            return deps.accounts.link_token(customer, days=deps.settings.link_token_days)

        token = await asyncio.to_thread(run_unit, deps.db, work)
        return JSONResponse(
            {
                "customer_id": customer_id,
                "chat_id": chat_id_for(customer_id),
                "token": token,
                "link": f"https://t.me/{BOT_USERNAME}?start={token}",
            }
        )

    async def _chat(self, request: Request) -> JSONResponse:
        """The chat as the customer sees it: their lines and the bot's messages, in order."""
        chat_id = int(request.query_params.get("chat_id") or 0)
        entries: list[dict[str, Any]] = [
            {**message, "from": "bot"} for message in self.telegram.sent_messages(chat_id)
        ]
        with self._lock:
            entries += [
                {
                    "from": "me",
                    "message_id": line.message_id,
                    "text": line.text,
                    "date": line.date,
                    "admin": line.admin,
                }
                for line in self._lines
                if line.chat_id == chat_id
            ]
        entries.sort(key=lambda entry: entry["message_id"])
        # Pop-up notices of tapped buttons (answerCallbackQuery text); the page shows new ones.
        toasts = [a["text"] for a in self.telegram.callback_answers() if a.get("text")]
        return JSONResponse({"messages": entries, "toasts": toasts})

    async def _send(self, request: Request) -> JSONResponse:
        """A message typed in the chat: by the customer, or (`as_admin`) by the sandbox's
        Telegram admin, whose /stats and /reasons the bot answers in this chat."""
        body = await _json(request)
        try:
            chat_id = int(body.get("chat_id") or 0)
        except (TypeError, ValueError):
            chat_id = 0
        text = str(body.get("text") or "").replace("\x00", "").strip()
        if not chat_id or not text:
            return JSONResponse({"error": "chat_id and text, please"}, 400)
        as_admin = body.get("as_admin") is True
        update = self.telegram.push_message(
            chat_id,
            text[:MAX_TEXT],
            first_name="Admin" if as_admin else str(body.get("first_name") or "Alex")[:64],
            language_code=str(body.get("language") or "en")[:16],
            user_id=ADMIN_USER_ID if as_admin else None,
        )
        message = update["message"]
        line = ChatLine(chat_id, message["message_id"], message["text"], message["date"], as_admin)
        with self._lock:
            self._lines.append(line)
        return JSONResponse({"update_id": update["update_id"]})

    async def _tap(self, request: Request) -> JSONResponse:
        body = await _json(request)
        try:
            update = self.telegram.push_callback(
                int(body["chat_id"]),
                int(body["message_id"]),
                str(body["data"]),
                language_code=str(body.get("language") or "en"),
            )
        except (KeyError, ValueError, LookupError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse({"update_id": update["update_id"]})

    async def _feed(self, _request: Request) -> JSONResponse:
        return JSONResponse({"entries": self.slack.feed(), "channels": CHANNEL_NAMES})

    async def _file(self, request: Request) -> Response:
        content = self.slack.upload_content(request.path_params["file_id"])
        if content is None:
            return Response(status_code=404)
        return Response(content, media_type="image/png")

    async def _command(self, request: Request) -> JSONResponse:
        """Send `/churn …` to the app exactly as Slack does: form body, signed, real HTTP."""
        body = await _json(request)
        text = str(body.get("text") or "").strip()
        command = self.deps.settings.slack_command if self.deps else "/churn"
        if text.startswith(command):
            text = text[len(command) :].strip()
        user = str(body.get("user_id") or MANAGER_ID)
        key = uuid.uuid4().hex[:12]
        self.slack.add_note(user=user, text=f"{command} {text}".rstrip())
        form = urlencode(
            {
                "token": "sandbox-verification-token",
                "team_id": "T0SANDBOX",
                "team_domain": "sandbox",
                "channel_id": COMMAND_CHANNEL,
                "channel_name": "churn",
                "user_id": user,
                "user_name": "manager" if user == MANAGER_ID else user.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A0SANDBOX",
                "response_url": f"{self.slack.base}/respond/{key}",
                "trigger_id": f"{time.time():.0f}.1.{key}",
            }
        )
        response = await self._post_to_app("/slack/commands", form, signed=True)
        if response.status_code == 200 and response.content:
            # An immediate answer (bolt's ack with text), shown as Slack would show it.
            self.slack.add_note(**_ack_payload(response))
        return JSONResponse({"status": response.status_code, "key": key})

    async def _select(self, request: Request) -> JSONResponse:
        """A manager picks a category in an alert's select menu: a signed block_actions."""
        body = await _json(request)
        key = uuid.uuid4().hex[:12]
        payload = {
            "type": "block_actions",
            "team": {"id": "T0SANDBOX", "domain": "sandbox"},
            "user": {"id": MANAGER_ID, "username": "manager", "team_id": "T0SANDBOX"},
            "api_app_id": "A0SANDBOX",
            "token": "sandbox-verification-token",
            "container": {
                "type": "message",
                "message_ts": body.get("ts"),
                "channel_id": body.get("channel"),
            },
            "trigger_id": f"{time.time():.0f}.2.{key}",
            "channel": {"id": body.get("channel"), "name": "churn-alerts"},
            "message": {"ts": body.get("ts"), "text": "alert"},
            "response_url": f"{self.slack.base}/respond/{key}",
            "actions": [
                {
                    "type": "static_select",
                    "action_id": body.get("action_id"),
                    "block_id": body.get("block_id"),
                    "selected_option": {
                        "text": {"type": "plain_text", "text": str(body.get("value"))},
                        "value": body.get("value"),
                    },
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        form = urlencode({"payload": json.dumps(payload)})
        response = await self._post_to_app("/slack/interactivity", form, signed=True)
        return JSONResponse({"status": response.status_code})

    async def _event(self, request: Request) -> JSONResponse:
        """Report a business event to `POST /api/events` with the bearer token."""
        body = await _json(request)
        customer_id = str(body.get("customer_id") or "").strip()
        kind = str(body.get("type") or "")
        if not customer_id or kind not in (
            events.INTERACTION_COMPLETED,
            events.SUBSCRIPTION_CANCELLED,
        ):
            return JSONResponse({"error": "customer_id and a supported type, please"}, 400)
        click = uuid.uuid4().hex[:6]
        # A sandbox customer has one subscription: every click on cancel names it, so a
        # second click is the same cancellation reported again (one exit survey).
        reference = f"T-{click}" if kind == events.INTERACTION_COMPLETED else f"SUB-{customer_id}"
        data: dict[str, Any] = {"reference": reference}
        if kind == events.INTERACTION_COMPLETED:
            data["kind"] = "support_ticket"
        else:
            data["voluntary"] = True
        event = {
            "event_id": f"sandbox:{kind}:{customer_id}:{click}",
            "type": kind,
            "customer_id": customer_id,
            "occurred_at": (datetime.now(UTC) - EVENT_AGE).isoformat(),
            "data": data,
        }
        response = await self._post_to_app("/api/events", json.dumps(event), signed=False)
        try:
            answer = response.json()
        except ValueError:
            answer = {"body": response.text}
        return JSONResponse({"status": response.status_code, "answer": answer, "event": event})

    async def _stripe_cancel(self, request: Request) -> JSONResponse:
        """Play the customer cancelling in Stripe's portal: the subscription (made at the
        first click, tagged with the page's customer id) is set to cancel at period end,
        and Stripe's signed webhooks reach `POST /api/stripe/webhook`."""
        body = await _json(request)
        customer_id = str(body.get("customer_id") or "").strip()[:200]
        if not customer_id:
            return JSONResponse({"error": "customer_id, please"}, 400)
        if not self.app_url:
            return JSONResponse({"error": "the bot is still starting"}, 503)
        with self._lock:
            subscription_id = self._stripe_subscriptions.get(customer_id)
            to_send = []
            if subscription_id is None:
                customer = self.stripe.create_customer(churnbot_customer_id=customer_id)
                created = self.stripe.create_subscription(customer["id"])
                subscription_id = created["data"]["object"]["id"]
                self._stripe_subscriptions[customer_id] = subscription_id
                to_send.append(created)
            if not self.stripe.subscription(subscription_id)["cancel_at_period_end"]:
                to_send.append(self.stripe.schedule_cancel(subscription_id))
        answers = []
        async with httpx.AsyncClient(base_url=self.app_url, timeout=10) as client:
            for event in to_send:
                content, headers = self.stripe.signed_delivery(event)
                response = await client.post(
                    "/api/stripe/webhook", content=content, headers=headers
                )
                answers.append({"type": event["type"], "status": response.status_code})
                with contextlib.suppress(ValueError):
                    answers[-1]["answer"] = response.json()
        return JSONResponse({"subscription": subscription_id, "webhooks": answers})

    async def _post_to_app(self, path: str, body: str, *, signed: bool) -> httpx.Response:
        if not self.app_url:
            return httpx.Response(503, json={"error": "the bot is still starting"})
        if signed:
            headers = signed_headers(self.signing_secret, body)
        else:
            headers = {
                "Authorization": f"Bearer {self.events_token}",
                "Content-Type": "application/json",
            }
        async with httpx.AsyncClient(base_url=self.app_url, timeout=10) as client:
            return await client.post(path, content=body.encode(), headers=headers)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _ack_payload(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return {"user": "churnbot", "ack": True, **payload}
    return {"user": "churnbot", "ack": True, "text": response.text, "response_type": "ephemeral"}
