"""Win-back offers in the domain: buttons on the closing message, the tap, and the outbox
when churnbot does not apply offers itself (no Stripe): a team alert and the webhook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.cli_reports import figures_json
from bot.context import Deps
from bot.wiring import build_deps
from storage.models import (
    Customer,
    NoticeStatus,
    OfferStatus,
    SurveyInvitation,
    WinbackOffer,
)
from storage.queries import offers as offer_queries
from storage.session import run_unit
from surveys import events
from surveys.definition import SurveyRoles
from surveys.offers import BillingUnavailable, OfferTap, SaveDesk
from surveys.replies import Prompt
from surveys.reports.figures import compute_figures
from surveys.reports.periods import Period
from surveys.reports.render import stats_text
from tests.auxil.environment import FakeClock, make_settings
from tests.auxil.factories import OpenSurvey, button_data, next_after_tap, open_survey, tap

OTHER_CHAT = 2002


class Recorder:
    """Every port of the save desk at once: records what it was asked to do."""

    def __init__(self, failures: int = 0) -> None:
        self.told: list[tuple[int, str]] = []
        self.posted: list[str] = []
        self.payloads: list[dict[str, Any]] = []
        self.failures = failures

    async def tell(self, chat_id: int, text: str) -> None:
        self.told.append((chat_id, text))

    async def post(self, text: str) -> None:
        self.posted.append(text)

    async def deliver(self, payload: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("save webhook answered HTTP 503")
        self.payloads.append(payload)


def _desk(deps: Deps, ports: Recorder) -> SaveDesk:
    return SaveDesk(
        db=deps.db,
        clock=deps.clock,
        messages=deps.surveys.messages,
        customers=ports,
        team=ports,
        webhook=ports,
    )


@pytest.fixture
def exit_for_cust42(deps: Deps) -> OpenSurvey:
    survey = open_survey(deps, customer="cust-42", event_type=events.SUBSCRIPTION_CANCELLED)

    def set_revenue(session: Any) -> None:
        customer = session.get(Customer, survey.customer_id)
        customer.monthly_revenue = 49.0
        session.add(customer)

    run_unit(deps.db, set_revenue)
    return survey


def _closing_after(deps: Deps, survey: OpenSurvey, reason: str) -> Prompt:
    details = next_after_tap(tap(deps, survey.chat_id, button_data(survey.prompt, reason)))
    return next_after_tap(tap(deps, survey.chat_id, button_data(details, "Skip")))


def _press(deps: Deps, chat_id: int, data: str) -> OfferTap:
    return run_unit(
        deps.db,
        lambda session: deps.offers.on_button(
            session, chat_id=chat_id, language_code="en", raw=data
        ),
    )


def _offers(deps: Deps) -> list[WinbackOffer]:
    return run_unit(deps.db, lambda session: list(session.exec(select(WinbackOffer)).all()))


def test_the_price_offer_closes_with_accept_and_no_thanks(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")

    labels = [button.label for row in closing.buttons for button in row]
    assert labels == ["Accept 30% off", "No thanks"]
    (offer,) = _offers(deps)
    assert (offer.status, offer.summary, offer.choice_key) == (
        OfferStatus.OFFERED,
        "30% off for 3 months",
        "price",
    )
    assert offer.billing is False  # no STRIPE_API_KEY in these settings


def test_an_offer_without_an_action_shows_no_buttons_and_records_nothing(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "Disappointing customer support")

    assert closing.buttons == ()
    assert _offers(deps) == []


async def test_an_accept_without_stripe_goes_to_the_team_and_the_webhook_once(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")
    pressed = _press(deps, exit_for_cust42.chat_id, button_data(closing, "Accept 30% off"))
    ports = Recorder()
    desk = _desk(deps, ports)

    assert pressed.accepted is not None
    assert pressed.reply.messages[0].text == deps.surveys.messages.get("offer_team", "en")
    await desk.process(pressed.accepted)
    await desk.sweep()

    (alert,) = ports.posted
    assert alert.startswith("*cust-42* accepted 30% off for 3 months: apply it")
    assert "Revenue at stake: 49.00 USD a month" in alert
    (payload,) = ports.payloads
    assert payload["customer_id"] == "cust-42"
    assert payload["summary"] == "30% off for 3 months"
    assert payload["resume"] is True
    assert ports.told == []  # the tap's own answer told the customer
    (offer,) = _offers(deps)
    assert offer.status == OfferStatus.HANDED_OVER
    assert (offer.team_notice, offer.webhook_notice) == (NoticeStatus.SENT, NoticeStatus.SENT)


async def test_a_failing_webhook_is_retried_with_backoff(
    deps: Deps, exit_for_cust42: OpenSurvey, clock: FakeClock
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")
    pressed = _press(deps, exit_for_cust42.chat_id, button_data(closing, "Accept 30% off"))
    ports = Recorder(failures=1)
    desk = _desk(deps, ports)
    assert pressed.accepted is not None

    await desk.process(pressed.accepted)
    (offer,) = _offers(deps)
    assert offer.webhook_notice == NoticeStatus.RETRY
    await desk.sweep()
    assert ports.payloads == []  # not due yet
    clock.advance(seconds=31)
    await desk.sweep()

    assert len(ports.payloads) == 1
    assert len(ports.posted) == 1
    (offer,) = _offers(deps)
    assert (offer.webhook_notice, offer.webhook_attempts) == (NoticeStatus.SENT, 2)


def test_no_thanks_is_recorded_and_a_second_tap_changes_nothing(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")
    chat = exit_for_cust42.chat_id

    declined = _press(deps, chat, button_data(closing, "No thanks"))
    again = _press(deps, chat, button_data(closing, "Accept 30% off"))

    assert declined.accepted is None
    assert declined.reply.messages[0].text == deps.surveys.messages.get("offer_declined", "en")
    assert again.accepted is None
    assert again.reply.toast == deps.surveys.messages.get("offer_answered", "en")
    (offer,) = _offers(deps)
    assert offer.status == OfferStatus.DECLINED


def test_a_tap_from_another_chat_or_with_forged_data_changes_nothing(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")
    genuine = button_data(closing, "Accept 30% off")
    forged = genuine.replace("oa:", "od:", 1)

    elsewhere = _press(deps, OTHER_CHAT, genuine)
    tampered = _press(deps, exit_for_cust42.chat_id, forged)

    invalid = deps.surveys.messages.get("invalid_button", "en")
    assert (elsewhere.reply.toast, tampered.reply.toast) == (invalid, invalid)
    assert elsewhere.accepted is None
    assert tampered.accepted is None
    (offer,) = _offers(deps)
    assert offer.status == OfferStatus.OFFERED


def test_save_months_count_offers_accepts_and_revenue(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")
    _press(deps, exit_for_cust42.chat_id, button_data(closing, "Accept 30% off"))
    now = deps.clock()

    (month,) = run_unit(
        deps.db,
        lambda session: offer_queries.save_months(
            session=session, since=now.replace(day=1), until=now.replace(year=now.year + 1)
        ),
    )

    assert (month.offered, month.accepted, month.saved, month.revenue_saved) == (1, 1, 1, 49.0)


def test_stats_show_the_save_rate_and_the_revenue_saved(
    deps: Deps, exit_for_cust42: OpenSurvey
) -> None:
    closing = _closing_after(deps, exit_for_cust42, "It's too expensive")
    _press(deps, exit_for_cust42.chat_id, button_data(closing, "Accept 30% off"))
    now = deps.clock()
    period = Period(now - timedelta(days=30), now + timedelta(hours=1), "30d")

    figures = run_unit(
        deps.db,
        lambda session: compute_figures(
            session=session, period=period, now=now, roles=SurveyRoles.of(deps.definitions)
        ),
    )

    assert "Save rate: 100.0% (1 of 1 offer accepted), 49.00 USD a month saved" in (
        stats_text(figures)
    )
    assert figures_json(figures)["saves"] == {
        "offers_made": 1,
        "offers_accepted": 1,
        "saves": 1,
        "save_rate": 100.0,
        "revenue_saved_monthly": 49.0,
        "months": [
            {
                "month": "2026-11",
                "offers_made": 1,
                "offers_accepted": 1,
                "revenue_saved_monthly": 49.0,
            }
        ],
    }


class FlakyBilling:
    """A billing that is unavailable `outages` times, then applies; records every call."""

    def __init__(self, outages: int) -> None:
        self.outages = outages
        self.calls: list[dict[str, Any]] = []

    async def apply(self, **call: Any) -> None:
        self.calls.append(call)
        if self.outages:
            self.outages -= 1
            raise BillingUnavailable("Stripe 503: try later")


@pytest.fixture
def stripe_deps(database_url: str, clock: FakeClock) -> Iterator[Deps]:
    settings = make_settings(
        database_url, stripe_api_key="sk_test_offers", stripe_winback_coupon="WINBACK30"
    )
    built = build_deps(settings, clock=clock)
    yield built
    built.db.dispose()


async def test_billing_unavailable_is_retried_later_with_the_same_idempotency_key(
    stripe_deps: Deps, clock: FakeClock
) -> None:
    deps = stripe_deps
    survey = open_survey(deps, customer="cust-42", event_type=events.SUBSCRIPTION_CANCELLED)

    def about_a_subscription(session: Any) -> None:
        invitation = session.get(SurveyInvitation, survey.invitation_id)
        invitation.subscription_ref = "sub_42"
        session.add(invitation)

    run_unit(deps.db, about_a_subscription)
    closing = _closing_after(deps, survey, "It's too expensive")
    pressed = _press(deps, survey.chat_id, button_data(closing, "Accept 30% off"))
    billing, ports = FlakyBilling(outages=1), Recorder()
    desk = SaveDesk(
        db=deps.db,
        clock=deps.clock,
        messages=deps.surveys.messages,
        billing=billing,
        customers=ports,
        team=ports,
    )
    assert pressed.accepted is not None
    assert pressed.reply.messages[0].text == deps.surveys.messages.get("offer_accepted", "en")

    await desk.process(pressed.accepted)
    (offer,) = _offers(deps)
    assert offer.status == OfferStatus.ACCEPTED
    await desk.sweep()
    assert len(billing.calls) == 1  # not due again yet
    clock.advance(seconds=31)
    await desk.sweep()

    first, second = billing.calls
    assert (
        first
        == second
        == {
            "subscription_ref": "sub_42",
            "coupon": "WINBACK30",
            "resume": True,
            "idempotency_key": offer.idempotency_key,
        }
    )
    (offer,) = _offers(deps)
    assert (offer.status, offer.attempts) == (OfferStatus.APPLIED, 2)
    assert ports.told == [(survey.chat_id, deps.surveys.messages.get("offer_applied", "en"))]
    (alert,) = ports.posted
    assert alert.startswith(":tada: Saved: *cust-42* accepted 30% off for 3 months")


def test_the_offer_replies_speak_the_language_of_the_survey(deps: Deps) -> None:
    survey = open_survey(
        deps, customer="cust-de", event_type=events.SUBSCRIPTION_CANCELLED, language="de"
    )
    closing = _closing_after_in(deps, survey, "Zu teuer", skip="Überspringen")

    pressed = _press(deps, survey.chat_id, button_data(closing, "Nein, danke"))

    assert pressed.reply.messages[0].text == deps.surveys.messages.get("offer_declined", "de")


def _closing_after_in(deps: Deps, survey: OpenSurvey, reason: str, *, skip: str) -> Prompt:
    details = next_after_tap(tap(deps, survey.chat_id, button_data(survey.prompt, reason)))
    return next_after_tap(tap(deps, survey.chat_id, button_data(details, skip)))
