"""`POST /api/stripe/webhook`: Stripe reports subscription and invoice events here.

Every request is verified with the official library (`stripe.Webhook.construct_event`,
five minutes' tolerance) before anything is read or stored: a bad or missing signature
gets 400 and changes nothing. The domain records each event once by its id, so Stripe's
retries and reorderings are harmless; the answer is 200 for anything verified, so Stripe
stops retrying it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from surveys.billing import stripe_intake
from surveys.inbound import UnacceptableJson, clean_json
from surveys.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 300

# Hears of each event handled: its type and "recorded", "duplicate" or "ignored".
OnEvent = Callable[[str, str], None]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> bytes | None:
    """The raw body (the signature covers its exact bytes), or None past the limit."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def routes(
    services: Services,
    *,
    secret: str | None,
    client: stripe.StripeClient | None,
    on_event: OnEvent,
) -> list[Route]:
    """The webhook, verified with `secret` (disabled without one); `client` (None without
    STRIPE_API_KEY) reads a Stripe customer's metadata to match an event that waits."""

    async def _match_by_customer_metadata(
        client: stripe.StripeClient, event_id: str, customer_id: str
    ) -> stripe_intake.Outcome | None:
        """Read the Stripe customer's own metadata (events carry only its id); when it
        names a churnbot customer, match them and apply what waited."""
        try:
            customer = await client.v1.customers.retrieve_async(customer_id)
        except stripe.StripeError as error:
            log.warning("could not read Stripe customer %s: %s", customer_id, error.code)
            return None
        metadata: dict[str, object] = dict(customer.to_dict().get("metadata") or {})
        named = metadata.get(stripe_intake.CUSTOMER_ID_KEY)
        if not isinstance(named, str) or not named.strip():
            return None
        return await services.stripe.link(
            event_id=event_id, stripe_customer_id=customer_id, churnbot_customer_id=named
        )

    async def receive_stripe_event(request: Request) -> JSONResponse:
        """Verify the signature, then record and apply the event in one transaction."""
        if not secret:
            return _error(503, "the Stripe webhook is disabled: set STRIPE_WEBHOOK_SECRET")
        body = await _body(request)
        if body is None:
            return _error(413, f"body over {MAX_BODY_BYTES} bytes")
        signature = request.headers.get("stripe-signature")
        if not signature:
            return _error(400, "missing Stripe-Signature header")
        try:
            stripe.Webhook.construct_event(body, signature, secret, tolerance=TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError:
            log.warning("rejected a Stripe webhook request with a bad signature")
            return _error(400, "signature verification failed")
        except ValueError:
            return _error(400, "malformed JSON")
        try:
            event = clean_json(json.loads(body))
        except (UnacceptableJson, RecursionError, ValueError) as error:
            return _error(400, f"unacceptable JSON: {error}")
        notice = stripe_intake.notice_from_event(event) if isinstance(event, dict) else None
        if notice is None:
            on_event("stripe", "ignored")
            return JSONResponse({"received": True, "handled": False})
        outcome = await services.stripe.receive(notice)
        result = outcome.outcome
        customer_id = notice.stripe_customer_id
        if result == stripe_intake.Outcome.WAITING and client is not None and customer_id:
            result = await _match_by_customer_metadata(client, notice.id, customer_id) or result
        on_event(notice.type, "recorded" if outcome.recorded else "duplicate")
        return JSONResponse(
            {
                "received": True,
                "handled": True,
                "id": outcome.event_id,
                "duplicate": not outcome.recorded,
                "outcome": result.value,
            }
        )

    return [Route("/api/stripe/webhook", receive_stripe_event, methods=["POST"])]
