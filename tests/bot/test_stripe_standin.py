"""The Stripe stand-in speaks to the official `stripe` library as Stripe does."""

from __future__ import annotations

import json

import pytest
import stripe

from tests.auxil.stripe_api import API_KEY, WEBHOOK_SECRET, FakeStripe, StripeServer, sign_payload


def _client(server: StripeServer, **options: object) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": server.base}, max_network_retries=0, **options
    )


def test_the_official_client_reads_and_modifies_a_subscription(
    stripe_server: StripeServer,
) -> None:
    fake = stripe_server.fake
    customer = fake.create_customer(churnbot_customer_id="cust-1")
    created = fake.create_subscription(customer["id"], unit_amount=9900, interval="year")
    subscription_id = created["data"]["object"]["id"]
    fake.schedule_cancel(subscription_id, feedback="too_expensive")
    client = _client(stripe_server)

    read = client.v1.subscriptions.retrieve(subscription_id)
    updated = client.v1.subscriptions.update(
        subscription_id,
        {"cancel_at_period_end": False, "discounts": [{"coupon": "WINBACK30"}]},
        {"idempotency_key": "accept-1"},
    )

    assert read.cancel_at_period_end is True
    assert read["items"].data[0].price.unit_amount == 9900
    assert updated.cancel_at_period_end is False
    assert [d["coupon"]["id"] for d in updated.discounts] == ["WINBACK30"]
    assert fake.subscription(subscription_id)["cancel_at_period_end"] is False
    call = fake.calls("subscriptions.update")[0]
    assert call.params == {"cancel_at_period_end": "false", "discounts": [{"coupon": "WINBACK30"}]}
    assert call.idempotency_key == "accept-1"
    assert fake.events()[-1]["type"] == "customer.subscription.updated"
    assert client.v1.customers.retrieve(customer["id"]).metadata["churnbot_customer_id"] == (
        "cust-1"
    )


def test_a_repeated_idempotency_key_replays_the_first_answer_and_changes_nothing(
    stripe_server: StripeServer,
) -> None:
    fake = stripe_server.fake
    customer = fake.create_customer()
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]
    client = _client(stripe_server)
    params = {"coupon": "WINBACK30"}

    first = client.v1.subscriptions.update(subscription_id, params, {"idempotency_key": "k"})
    again = client.v1.subscriptions.update(subscription_id, params, {"idempotency_key": "k"})

    assert first.discounts[0]["id"] == again.discounts[0]["id"]
    assert [c.replayed for c in fake.calls("subscriptions.update")] == [False, True]
    assert len(fake.events("customer.subscription.updated")) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.subscriptions.update(
            subscription_id, {"cancel_at_period_end": True}, {"idempotency_key": "k"}
        )


def test_an_injected_500_fails_once_and_the_retry_with_the_same_key_applies(
    stripe_server: StripeServer,
) -> None:
    fake = stripe_server.fake
    customer = fake.create_customer()
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]
    fake.fail_next("subscriptions.update")
    client = _client(stripe_server)
    params = {"coupon": "WINBACK30"}

    with pytest.raises(stripe.APIError):
        client.v1.subscriptions.update(subscription_id, params, {"idempotency_key": "k"})
    assert fake.subscription(subscription_id)["discounts"] == []
    done = client.v1.subscriptions.update(subscription_id, params, {"idempotency_key": "k"})

    assert done.discounts[0]["coupon"]["id"] == "WINBACK30"
    assert [c.status for c in fake.calls("subscriptions.update")] == [500, 200]


def test_unknown_objects_wrong_keys_and_ended_subscriptions_are_refused(
    stripe_server: StripeServer,
) -> None:
    fake = stripe_server.fake
    customer = fake.create_customer()
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]
    fake.end_subscription(subscription_id)
    client = _client(stripe_server)

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.retrieve("in_nope")
    stranger = stripe.StripeClient("sk_wrong", base_addresses={"api": stripe_server.base})
    with pytest.raises(stripe.AuthenticationError):
        stranger.v1.customers.retrieve(customer["id"])
    with pytest.raises(stripe.InvalidRequestError) as ended:
        client.v1.subscriptions.update(subscription_id, {"cancel_at_period_end": False})

    assert missing.value.code == "resource_missing"
    assert "canceled subscription" in str(ended.value)
    assert fake.subscription(subscription_id)["status"] == "canceled"


def test_an_unknown_coupon_is_refused_and_changes_nothing(stripe_server: StripeServer) -> None:
    fake = stripe_server.fake
    customer = fake.create_customer()
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]

    with pytest.raises(stripe.InvalidRequestError) as refused:
        _client(stripe_server).v1.subscriptions.update(subscription_id, {"coupon": "NOPE"})

    assert refused.value.code == "resource_missing"
    assert fake.subscription(subscription_id)["discounts"] == []


def test_webhook_payloads_are_signed_as_the_official_library_verifies() -> None:
    fake = FakeStripe()
    customer = fake.create_customer()
    event = fake.create_subscription(customer["id"])
    body, headers = fake.signed_delivery(event)

    verified = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)

    assert verified.id == event["id"]
    assert verified.type == "customer.subscription.created"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, sign_payload(body, "whsec_other"), WEBHOOK_SECRET)
    assert json.loads(body)["data"]["object"]["customer"] == customer["id"]


def test_failed_and_paid_invoices_carry_the_hosted_link_and_the_subscription() -> None:
    fake = FakeStripe()
    customer = fake.create_customer()
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]

    failed = fake.fail_payment(subscription_id)["data"]["object"]
    paid = fake.pay_invoice(failed["id"])["data"]["object"]

    assert failed["hosted_invoice_url"].startswith("https://")
    assert paid["parent"]["subscription_details"]["subscription"] == subscription_id
    assert paid["status"] == "paid"
    assert fake.subscription(subscription_id)["status"] == "active"
