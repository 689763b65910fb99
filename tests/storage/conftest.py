"""Fixtures for the storage tests: customers and events in a migrated database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from storage.models import Customer, Event, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.queries import events as event_queries
from storage.queries import invitations as invitation_queries
from storage.session import run_unit
from tests.auxil.environment import FakeClock
from tests.auxil.factories import MakeCustomer


@pytest.fixture
def make_customer(db: Engine) -> MakeCustomer:
    """Create (or update) a customer by external id, committed."""

    def make(external_id: str, **attributes: object) -> Customer:
        return run_unit(
            db,
            lambda session: customer_queries.upsert_customer(
                session=session, external_id=external_id, attributes=attributes
            ),
        )

    return make


@pytest.fixture
def customer(make_customer: MakeCustomer) -> Customer:
    return make_customer("cust-1", name="Ada")


@pytest.fixture
def event(db: Engine, customer: Customer, clock: FakeClock) -> Event:
    assert customer.id is not None
    stored, created = run_unit(
        db,
        lambda session: event_queries.record_event(
            session=session,
            source_event_id="evt-1",
            type="subscription.cancelled",
            customer_id=customer.id,
            occurred_at=clock(),
        ),
    )
    assert created
    return stored


@pytest.fixture
def invitation(db: Engine, customer: Customer, event: Event, clock: FakeClock) -> SurveyInvitation:
    assert customer.id is not None
    created, is_new = run_unit(
        db,
        lambda session: invitation_queries.create_invitation(
            session=session,
            customer_id=customer.id,
            survey_key="exit",
            event_id=event.id,
            due_at=clock(),
            expires_at=clock() + timedelta(days=7),
            now=clock(),
        ),
    )
    assert is_new
    return created
