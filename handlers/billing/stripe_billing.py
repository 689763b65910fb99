"""Applies accepted offers in Stripe through the official client (the `Billing` port).

One write per offer: `cancel_at_period_end=false` (the scheduled cancellation undone) and the
coupon, with the offer's idempotency key, so a retry after a crash or a lost answer replays
Stripe's first answer instead of applying anything twice. The client retries 5xx answers and
connection failures itself (Stripe marks them `Stripe-Should-Retry`); what still fails is
`BillingUnavailable`, and the outbox tries again later.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe

from surveys.offers import BillingRefused, BillingUnavailable

log = logging.getLogger(__name__)

ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


def stripe_client(
    api_key: str, base_url: str, *, max_network_retries: int = 2
) -> stripe.StripeClient:
    """The Stripe client churnbot uses, pointed at STRIPE_API_BASE_URL."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base_url},
        max_network_retries=max_network_retries,
        http_client=stripe.HTTPXClient(),
    )


class StripeBilling:
    """`surveys.offers.Billing` on Stripe."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    async def apply(
        self,
        *,
        subscription_ref: str,
        coupon: str | None,
        resume: bool,
        idempotency_key: str,
    ) -> None:
        try:
            subscription = await self._client.v1.subscriptions.retrieve_async(subscription_ref)
            if subscription.status in ENDED_STATUSES:
                raise BillingRefused(f"the subscription has ended ({subscription.status})")
            params: dict[str, Any] = {}
            if resume:
                params["cancel_at_period_end"] = False
            if coupon:
                params["discounts"] = [{"coupon": coupon}]
            if not params:
                return
            await self._client.v1.subscriptions.update_async(
                subscription_ref,
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise BillingUnavailable(_describe(error)) from error
        except stripe.StripeError as error:
            status = error.http_status or 0
            if status >= 500 or status == 409:
                raise BillingUnavailable(_describe(error)) from error
            raise BillingRefused(_describe(error)) from error


def _describe(error: stripe.StripeError) -> str:
    """Stripe's own message (never the key)."""
    message = error.user_message or str(error) or type(error).__name__
    return f"Stripe {error.http_status or 'unreachable'}: {message}"[:300]
