"""The Stripe API stand-in ships with churnbot (bot/sandbox); re-exported for tests."""

from bot.sandbox.stripe_api import (
    API_KEY,
    WEBHOOK_SECRET,
    WINBACK_COUPON,
    FakeStripe,
    StripeCall,
    StripeServer,
    sign_payload,
)

__all__ = [
    "API_KEY",
    "WEBHOOK_SECRET",
    "WINBACK_COUPON",
    "FakeStripe",
    "StripeCall",
    "StripeServer",
    "sign_payload",
]
