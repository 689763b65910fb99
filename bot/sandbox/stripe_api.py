"""A local stand-in of the Stripe API (only what churnbot uses), served over real HTTP.

The official `stripe` library reaches it through
``StripeClient(api_key, base_addresses={"api": server.base})``. Endpoints:
``GET /v1/subscriptions/{id}``, ``POST /v1/subscriptions/{id}`` (``cancel_at_period_end``,
``coupon`` or ``discounts[n][coupon]``, ``metadata``), ``GET /v1/customers/{id}`` and
``GET /v1/invoices/{id}``. Writes honour ``Idempotency-Key`` as Stripe does: the same key
with the same parameters replays the first answer (``Idempotent-Replayed: true``) and changes
nothing; the same key with other parameters is refused.

The test side plays the customer and Stripe's own billing: ``create_customer``,
``create_subscription``, ``schedule_cancel``, ``end_subscription``, ``fail_payment``,
``pay_invoice`` change the state and return the event Stripe would send, and
``signed_delivery`` gives the body and ``Stripe-Signature`` header of its webhook request,
signed exactly as Stripe signs (``t=…,v1=HMAC-SHA256(secret, "{t}.{body}")``).
``fail_next`` answers the next call(s) of one operation with an HTTP error before anything
is executed (so nothing is stored under its idempotency key: a retry can succeed).
State sits behind one lock: tests read it from another thread.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.threaded import ThreadedServer
from bot.sandbox.waiting import poll_until

API_KEY = "sk_test_churnbot_standin"
WEBHOOK_SECRET = "whsec_churnbot_standin"
API_VERSION = "2026-10-28.endive"
WINBACK_COUPON = "WINBACK30"
SIGNATURE_HEADER = "Stripe-Signature"


@dataclass(frozen=True)
class StripeCall:
    """One API request as the stand-in received it (``operation`` e.g. subscriptions.update)."""

    operation: str
    object_id: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int
    replayed: bool = False


def sign_payload(payload: bytes | str, secret: str, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value Stripe sends with ``payload``."""
    body = payload.decode() if isinstance(payload, bytes) else payload
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            child: Any = value if last else ([] if _is_index(following) else {})
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if node[position] is None or last:
                    node[position] = child
                node = node[position]
            else:
                if part not in node or last:
                    node[part] = child
                node = node[part]
    return root


def _is_index(part: str | None) -> bool:
    return part is not None and part.isdigit()


def _error(
    status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        error["code"] = code
    return {"status": status, "body": {"error": error}}


class FakeStripe:
    """State and ASGI app of the stand-in."""

    def __init__(
        self,
        api_key: str = API_KEY,
        *,
        webhook_secret: str = WEBHOOK_SECRET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self._clock = clock
        self._cond = threading.Condition(threading.RLock())
        self._customers: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._coupons: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._calls: list[StripeCall] = []
        self._idempotent: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = {}
        self._failures: dict[str, deque[int]] = {}
        self._ids = itertools.count(1)
        self.add_coupon(WINBACK_COUPON, percent_off=30, duration_in_months=3)
        self.app = Starlette(
            routes=[
                Route("/v1/subscriptions/{id}", self._subscription, methods=["GET", "POST"]),
                Route("/v1/customers/{id}", self._customer, methods=["GET"]),
                Route("/v1/invoices/{id}", self._invoice, methods=["GET"]),
            ]
        )

    # --- HTTP ---------------------------------------------------------------------------

    async def _subscription(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._serve(request, "subscriptions.retrieve", self._get_subscription)
        return await self._serve(request, "subscriptions.update", self._update_subscription)

    async def _customer(self, request: Request) -> Response:
        return await self._serve(request, "customers.retrieve", self._get_customer)

    async def _invoice(self, request: Request) -> Response:
        return await self._serve(request, "invoices.retrieve", self._get_invoice)

    async def _serve(
        self,
        request: Request,
        operation: str,
        handler: Callable[[str, dict[str, Any]], dict[str, Any]],
    ) -> Response:
        object_id = request.path_params["id"]
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        params = parse_form(pairs + list(request.query_params.multi_items()))
        key = request.headers.get("idempotency-key")
        with self._cond:
            try:
                status, body, replayed = self._answer(
                    request, operation, object_id, params, key, handler
                )
                self._calls.append(
                    StripeCall(operation, object_id, params, key, status, replayed=replayed)
                )
            finally:
                self._cond.notify_all()
        headers = {"Request-Id": f"req_{next(self._ids)}", "Stripe-Version": API_VERSION}
        if key is not None:
            headers["Idempotency-Key"] = key
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if status >= 500:
            # An injected fault happened before Stripe did anything: safe to retry.
            headers["Stripe-Should-Retry"] = "true"
        return JSONResponse(body, status_code=status, headers=headers)

    def _answer(
        self,
        request: Request,
        operation: str,
        object_id: str,
        params: dict[str, Any],
        key: str | None,
        handler: Callable[[str, dict[str, Any]], dict[str, Any]],
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, body, replayed) of one request; the lock is held."""
        if request.headers.get("authorization", "") != f"Bearer {self.api_key}":
            answer = _error(401, "Invalid API Key provided")
            return answer["status"], answer["body"], False
        failures = self._failures.get(operation)
        if failures:
            status = failures.popleft()
            answer = _error(status, "An unexpected error occurred (injected).", kind="api_error")
            return answer["status"], answer["body"], False
        if key is not None and request.method == "POST":
            stored = self._idempotent.get(key)
            if stored is not None:
                first_params, status, body = stored
                if first_params != params:
                    answer = _error(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                        kind="idempotency_error",
                    )
                    return answer["status"], answer["body"], False
                return status, copy.deepcopy(body), True
        answer = handler(object_id, params)
        status, body = answer.get("status", 200), answer.get("body", answer)
        if key is not None and request.method == "POST" and status < 500:
            self._idempotent[key] = (params, status, copy.deepcopy(body))
        return status, body, False

    # --- API operations (lock held) -------------------------------------------------------

    def _get_subscription(self, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        subscription = self._subscriptions.get(object_id)
        if subscription is None:
            return _missing("subscription", object_id)
        return {"body": copy.deepcopy(subscription)}

    def _update_subscription(self, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        subscription = self._subscriptions.get(object_id)
        if subscription is None:
            return _missing("subscription", object_id)
        if subscription["status"] == "canceled":
            return _error(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        coupons = [params["coupon"]] if params.get("coupon") else []
        coupons += [
            item["coupon"]
            for item in params.get("discounts") or []
            if isinstance(item, dict) and item.get("coupon")
        ]
        for coupon in coupons:
            if coupon not in self._coupons:
                return _missing("coupon", coupon)
        previous: dict[str, Any] = {}
        if "cancel_at_period_end" in params:
            wanted = str(params["cancel_at_period_end"]).lower() == "true"
            if wanted != subscription["cancel_at_period_end"]:
                previous["cancel_at_period_end"] = subscription["cancel_at_period_end"]
                previous["cancel_at"] = subscription["cancel_at"]
                previous["cancellation_details"] = copy.deepcopy(
                    subscription["cancellation_details"]
                )
                subscription["cancel_at_period_end"] = wanted
                subscription["cancel_at"] = subscription["current_period_end"] if wanted else None
                if not wanted:
                    subscription["cancellation_details"] = _no_cancellation()
        if coupons:
            previous["discounts"] = copy.deepcopy(subscription["discounts"])
            subscription["discounts"] = [
                self._discount(coupon, subscription) for coupon in coupons
            ]
        if isinstance(params.get("metadata"), dict):
            previous["metadata"] = copy.deepcopy(subscription["metadata"])
            subscription["metadata"].update(params["metadata"])
        if previous:
            self._emit("customer.subscription.updated", subscription, previous)
        return {"body": copy.deepcopy(subscription)}

    def _get_customer(self, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._customers.get(object_id)
        if customer is None:
            return _missing("customer", object_id)
        return {"body": copy.deepcopy(customer)}

    def _get_invoice(self, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        invoice = self._invoices.get(object_id)
        if invoice is None:
            return _missing("invoice", object_id)
        return {"body": copy.deepcopy(invoice)}

    def _discount(self, coupon: str, subscription: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"di_{next(self._ids):06d}",
            "object": "discount",
            "coupon": copy.deepcopy(self._coupons[coupon]),
            "source": {"type": "coupon", "coupon": coupon},
            "customer": subscription["customer"],
            "subscription": subscription["id"],
            "start": int(self._clock()),
        }

    def _emit(
        self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = {
            "id": f"evt_{next(self._ids):06d}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(self._clock()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self._events.append(event)
        self._cond.notify_all()
        return copy.deepcopy(event)

    # --- Stripe's side: customers, billing, events ----------------------------------------

    def add_coupon(
        self,
        coupon_id: str,
        *,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration_in_months: int | None = None,
    ) -> dict[str, Any]:
        coupon = {
            "id": coupon_id,
            "object": "coupon",
            "percent_off": percent_off,
            "amount_off": amount_off,
            "currency": currency,
            "duration": "repeating" if duration_in_months else "forever",
            "duration_in_months": duration_in_months,
            "valid": True,
        }
        with self._cond:
            self._coupons[coupon_id] = coupon
        return copy.deepcopy(coupon)

    def create_customer(
        self,
        *,
        churnbot_customer_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        locales: list[str] | None = None,
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        """A Stripe customer; ``churnbot_customer_id`` goes to its metadata."""
        with self._cond:
            stripe_id = customer_id or f"cus_{next(self._ids):06d}"
            metadata = {}
            if churnbot_customer_id is not None:
                metadata["churnbot_customer_id"] = churnbot_customer_id
            customer = {
                "id": stripe_id,
                "object": "customer",
                "created": int(self._clock()),
                "email": email,
                "name": name,
                "metadata": metadata,
                "preferred_locales": list(locales or []),
                "livemode": False,
            }
            self._customers[stripe_id] = customer
            return copy.deepcopy(customer)

    def create_subscription(
        self,
        customer: str,
        *,
        unit_amount: int = 4900,
        currency: str = "usd",
        interval: str = "month",
        interval_count: int = 1,
        quantity: int = 1,
        metadata: dict[str, str] | None = None,
        plan_name: str = "Pro",
    ) -> dict[str, Any]:
        """An active subscription; returns its ``customer.subscription.created`` event.

        The subscription's metadata starts as the customer's (a business that tags its
        customers with ``churnbot_customer_id`` usually tags their subscriptions too).
        """
        with self._cond:
            now = int(self._clock())
            period_days = {"day": 1, "week": 7, "month": 30, "year": 365}[interval]
            period_end = now + period_days * interval_count * 86400
            subscription_id = f"sub_{next(self._ids):06d}"
            tags = dict(self._customers.get(customer, {}).get("metadata", {}))
            tags.update(metadata or {})
            price = {
                "id": f"price_{next(self._ids):06d}",
                "object": "price",
                "active": True,
                "currency": currency,
                "nickname": plan_name,
                "product": f"prod_{plan_name.lower()}",
                "recurring": {
                    "interval": interval,
                    "interval_count": interval_count,
                    "usage_type": "licensed",
                },
                "type": "recurring",
                "unit_amount": unit_amount,
            }
            subscription = {
                "id": subscription_id,
                "object": "subscription",
                "customer": customer,
                "status": "active",
                "currency": currency,
                "created": now,
                "start_date": now,
                "current_period_start": now,
                "current_period_end": period_end,
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "cancellation_details": _no_cancellation(),
                "discounts": [],
                "metadata": tags,
                "latest_invoice": None,
                "livemode": False,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"si_{next(self._ids):06d}",
                            "object": "subscription_item",
                            "price": price,
                            "quantity": quantity,
                            "current_period_start": now,
                            "current_period_end": period_end,
                            "subscription": subscription_id,
                        }
                    ],
                    "has_more": False,
                },
            }
            self._subscriptions[subscription_id] = subscription
            return self._emit("customer.subscription.created", subscription)

    def schedule_cancel(
        self, subscription_id: str, *, feedback: str | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        """The customer cancels in the portal (at period end); returns the updated event."""
        with self._cond:
            subscription = self._subscriptions[subscription_id]
            previous = {
                "cancel_at_period_end": subscription["cancel_at_period_end"],
                "cancel_at": subscription["cancel_at"],
                "canceled_at": subscription["canceled_at"],
                "cancellation_details": copy.deepcopy(subscription["cancellation_details"]),
            }
            subscription["cancel_at_period_end"] = True
            subscription["cancel_at"] = subscription["current_period_end"]
            subscription["canceled_at"] = int(self._clock())
            subscription["cancellation_details"] = {
                "reason": "cancellation_requested",
                "feedback": feedback,
                "comment": comment,
            }
            return self._emit("customer.subscription.updated", subscription, previous)

    def end_subscription(
        self,
        subscription_id: str,
        *,
        reason: str = "cancellation_requested",
        feedback: str | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """The subscription ends (period over, or unpaid); returns the deleted event.

        ``reason`` is Stripe's ``cancellation_details.reason``: ``cancellation_requested``,
        ``payment_failed`` or ``payment_disputed``. Feedback given earlier is kept.
        """
        with self._cond:
            subscription = self._subscriptions[subscription_id]
            details = subscription["cancellation_details"]
            now = int(self._clock())
            subscription["status"] = "canceled"
            subscription["ended_at"] = now
            subscription["canceled_at"] = subscription["canceled_at"] or now
            subscription["cancellation_details"] = {
                "reason": reason,
                "feedback": feedback or details.get("feedback"),
                "comment": comment or details.get("comment"),
            }
            return self._emit("customer.subscription.deleted", subscription)

    def fail_payment(self, subscription_id: str) -> dict[str, Any]:
        """A renewal invoice fails to be paid; returns ``invoice.payment_failed``."""
        with self._cond:
            subscription = self._subscriptions[subscription_id]
            item = subscription["items"]["data"][0]
            invoice_id = f"in_{next(self._ids):06d}"
            invoice = {
                "id": invoice_id,
                "object": "invoice",
                "customer": subscription["customer"],
                "status": "open",
                "currency": subscription["currency"],
                "amount_due": item["price"]["unit_amount"] * item["quantity"],
                "amount_paid": 0,
                "attempt_count": 1,
                "billing_reason": "subscription_cycle",
                "created": int(self._clock()),
                "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {
                        "subscription": subscription_id,
                        "metadata": copy.deepcopy(subscription["metadata"]),
                    },
                },
                "livemode": False,
            }
            self._invoices[invoice_id] = invoice
            subscription["status"] = "past_due"
            subscription["latest_invoice"] = invoice_id
            return self._emit("invoice.payment_failed", invoice)

    def retry_failed_payment(self, invoice_id: str) -> dict[str, Any]:
        """Stripe's next attempt fails too; returns another ``invoice.payment_failed``."""
        with self._cond:
            invoice = self._invoices[invoice_id]
            invoice["attempt_count"] += 1
            return self._emit("invoice.payment_failed", invoice)

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        """The customer pays (e.g. through the hosted link); returns ``invoice.paid``."""
        with self._cond:
            invoice = self._invoices[invoice_id]
            invoice["status"] = "paid"
            invoice["amount_paid"] = invoice["amount_due"]
            subscription_id = invoice["parent"]["subscription_details"]["subscription"]
            subscription = self._subscriptions.get(subscription_id)
            if subscription is not None and subscription["status"] == "past_due":
                subscription["status"] = "active"
            return self._emit("invoice.paid", invoice)

    def signed_delivery(
        self,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of the webhook request Stripe makes for ``event``."""
        body = json.dumps(event, indent=2).encode()
        moment = int(self._clock()) if timestamp is None else timestamp
        signature = sign_payload(body, secret or self.webhook_secret, timestamp=moment)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        return body, headers

    # --- test side ------------------------------------------------------------------------

    def fail_next(self, operation: str, *, status: int = 500, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``operation`` (e.g. ``subscriptions.update``)
        with HTTP ``status`` before executing anything."""
        with self._cond:
            self._failures.setdefault(operation, deque()).extend([status] * count)

    def calls(self, operation: str | None = None) -> list[StripeCall]:
        with self._cond:
            return [c for c in self._calls if operation is None or c.operation == operation]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event generated so far (by the test side or by API writes), oldest first."""
        with self._cond:
            return [copy.deepcopy(e) for e in self._events if kind is None or e["type"] == kind]

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._subscriptions[subscription_id])

    def customer(self, customer_id: str) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._customers[customer_id])

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._invoices[invoice_id])

    def dump(self) -> str:
        with self._cond:
            lines = [
                f"{c.operation} {c.object_id} {c.status} {json.dumps(c.params)[:200]}"
                for c in self._calls
            ]
            lines += [f"event {e['id']} {e['type']}" for e in self._events]
            return "\n".join(lines[-30:])

    async def async_wait_for(
        self,
        predicate: Callable[[FakeStripe], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Poll ``predicate(fake)`` with asyncio.sleep, leaving the loop free for the bot."""
        await poll_until(self._cond, lambda: predicate(self), self.dump, timeout)


def _missing(kind: str, object_id: str) -> dict[str, Any]:
    return _error(404, f"No such {kind}: '{object_id}'", code="resource_missing")


def _no_cancellation() -> dict[str, Any]:
    return {"reason": None, "feedback": None, "comment": None}


class StripeServer:
    """Serve a FakeStripe with uvicorn on 127.0.0.1 from a background thread."""

    def __init__(self, fake: FakeStripe | None = None) -> None:
        self.fake = fake if fake is not None else FakeStripe()
        self._serving = ThreadedServer(self.fake.app, name="stripe-standin")

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def base(self) -> str:
        """What STRIPE_API_BASE_URL would be."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> StripeServer:
        self._serving.start(timeout)
        return self

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> StripeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
