"""The Stripe intake in the domain: prices on a monthly footing, feedback categories, and
Stripe customers that `churnbot link` can name by their Stripe id."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from bot.context import Deps
from storage.models import Answer, Customer, StripeEvent, SurveyInvitation
from storage.session import run_unit
from surveys.billing import stripe_intake
from tests.auxil.stripe_api import FakeStripe


def _subscription(**price: Any) -> dict[str, Any]:
    fake = FakeStripe()
    return fake.create_subscription(fake.create_customer()["id"], **price)["data"]["object"]


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ({"unit_amount": 4900}, ("Pro", 49.0, "USD")),
        ({"unit_amount": 120000, "interval": "year"}, ("Pro", 100.0, "USD")),
        ({"unit_amount": 3000, "interval": "month", "interval_count": 3}, ("Pro", 10.0, "USD")),
        ({"unit_amount": 1000, "interval": "week"}, ("Pro", 43.48, "USD")),
        ({"unit_amount": 1500, "quantity": 4, "currency": "eur"}, ("Pro", 60.0, "EUR")),
        ({"unit_amount": 5000, "currency": "jpy"}, ("Pro", 5000.0, "JPY")),
    ],
)
def test_monthly_revenue_follows_the_price_normalised_to_a_month(
    price: dict[str, Any], expected: tuple[str, float, str]
) -> None:
    assert stripe_intake.subscription_price(_subscription(**price)) == expected


def test_every_stripe_feedback_maps_to_one_of_the_exit_surveys_reasons(deps: Deps) -> None:
    reasons = {option.key for option in deps.definitions["exit"].first.options}  # type: ignore[union-attr]
    assert set(stripe_intake.FEEDBACK_CATEGORIES.values()) <= reasons
    assert set(stripe_intake.FEEDBACK_CATEGORIES) == {
        "too_expensive",
        "missing_features",
        "switched_service",
        "unused",
        "customer_service",
        "too_complex",
        "low_quality",
        "other",
    }


def _receive(deps: Deps, event: dict[str, Any]) -> stripe_intake.ReceiveOutcome:
    notice = stripe_intake.notice_from_event(event)
    assert notice is not None
    return run_unit(
        deps.db,
        lambda session: stripe_intake.receive(
            session, notice, surveys=deps.definitions, now=deps.clock()
        ),
    )


def test_linking_a_stripe_customer_by_its_stripe_id_applies_what_waited(deps: Deps) -> None:
    fake = FakeStripe(clock=lambda: deps.clock().timestamp())
    customer = fake.create_customer()
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]
    scheduled = fake.schedule_cancel(subscription_id, comment="Too many clicks")
    assert _receive(deps, scheduled).outcome == stripe_intake.Outcome.WAITING

    linked = run_unit(
        deps.db,
        lambda session: stripe_intake.customer_for_link(
            session, customer_id=customer["id"], surveys=deps.definitions, now=deps.clock()
        ),
    )
    again = run_unit(
        deps.db,
        lambda session: stripe_intake.customer_for_link(
            session, customer_id=customer["id"], surveys=deps.definitions, now=deps.clock()
        ),
    )

    assert linked.id == again.id
    assert linked.stripe_customer_id == customer["id"]
    rows = run_unit(deps.db, lambda s: list(s.exec(select(StripeEvent))))
    assert [(row.status, row.outcome) for row in rows] == [
        ("applied", "cancellation scheduled: exit survey")
    ]
    invitations = run_unit(deps.db, lambda s: list(s.exec(select(SurveyInvitation))))
    assert [(i.survey_key, i.subscription_ref) for i in invitations] == [("exit", subscription_id)]
    answers = run_unit(deps.db, lambda s: list(s.exec(select(Answer))))
    assert [(a.question_key, a.choice_key, a.text) for a in answers] == [
        ("reason", "other", "Too many clicks")
    ]


def test_an_ordinary_id_links_as_before(deps: Deps) -> None:
    customer = run_unit(
        deps.db,
        lambda session: stripe_intake.customer_for_link(
            session, customer_id="acme-42", surveys=deps.definitions, now=deps.clock()
        ),
    )
    assert customer.external_id == "acme-42"
    assert customer.stripe_customer_id is None
    assert run_unit(deps.db, lambda s: len(list(s.exec(select(Customer))))) == 1
