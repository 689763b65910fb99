"""Business events: recorded once, each creating the invitations of the surveys it triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from bot.context import Deps
from storage.models import Event, InvitationStatus, SurveyInvitation
from storage.session import run_unit
from surveys import events
from tests.auxil.factories import customer_row, event_input


def _record(deps: Deps, event: events.EventInput) -> events.EventOutcome:
    return run_unit(
        deps.db,
        lambda session: events.record_event(
            session, event, surveys=deps.definitions, now=deps.clock()
        ),
    )


def _invitations(deps: Deps) -> list[SurveyInvitation]:
    return run_unit(
        deps.db,
        lambda session: list(session.exec(select(SurveyInvitation).order_by(SurveyInvitation.id))),
    )


def _event_count(deps: Deps) -> int:
    return run_unit(
        deps.db, lambda session: session.exec(select(func.count()).select_from(Event)).one()
    )


def test_interaction_completed_creates_a_post_interaction_invitation(deps: Deps) -> None:
    outcome = _record(
        deps,
        event_input(
            events.INTERACTION_COMPLETED,
            occurred_at=deps.clock(),
            data={"kind": "support_ticket", "reference": "T-1"},
        ),
    )

    [invitation] = _invitations(deps)
    assert outcome.recorded is True
    assert outcome.invitations == (invitation.id,)
    assert invitation.survey_key == "post_interaction"
    assert invitation.status == InvitationStatus.PENDING
    delivery = deps.definitions["post_interaction"].delivery
    assert invitation.due_at == deps.clock() + timedelta(minutes=delivery.delay_minutes)
    assert invitation.expires_at == deps.clock() + timedelta(hours=delivery.expires_after_hours)


def test_subscription_cancelled_creates_an_exit_invitation(deps: Deps) -> None:
    outcome = _record(
        deps,
        event_input(
            events.SUBSCRIPTION_CANCELLED,
            occurred_at=deps.clock(),
            data={"reference": "SUB-9", "voluntary": True},
        ),
    )

    [invitation] = _invitations(deps)
    assert outcome.invitations == (invitation.id,)
    assert invitation.survey_key == "exit"
    assert invitation.status == InvitationStatus.PENDING
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert invitation.customer_id == customer.id


def test_event_in_the_past_is_due_now_not_in_the_past(deps: Deps) -> None:
    _record(
        deps,
        event_input(events.SUBSCRIPTION_CANCELLED, occurred_at=deps.clock() - timedelta(days=2)),
    )

    [invitation] = _invitations(deps)
    delay = timedelta(minutes=deps.definitions["exit"].delivery.delay_minutes)
    assert invitation.due_at == max(deps.clock() - timedelta(days=2) + delay, deps.clock())
    assert invitation.due_at >= deps.clock()


def test_involuntary_cancellation_skips_the_exit_survey_with_a_reason(deps: Deps) -> None:
    outcome = _record(
        deps,
        event_input(
            events.SUBSCRIPTION_CANCELLED,
            occurred_at=deps.clock(),
            data={"reference": "SUB-9", "voluntary": False},
        ),
    )

    [invitation] = _invitations(deps)
    assert outcome.invitations == (invitation.id,)
    assert invitation.status == InvitationStatus.SKIPPED
    assert invitation.status_reason
    assert "involuntary" in invitation.status_reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"type": "order.shipped"}, "type", id="unknown-type"),
        pytest.param({"event_id": ""}, "event_id", id="empty-event-id"),
        pytest.param({"event_id": "   "}, "event_id", id="blank-event-id"),
        pytest.param({"customer_id": ""}, "customer_id", id="empty-customer-id"),
    ],
)
def test_invalid_event_raises_event_error_naming_the_field(
    deps: Deps, changes: dict[str, str], field: str
) -> None:
    values: dict[str, object] = {
        "event_id": "evt-1",
        "type": events.INTERACTION_COMPLETED,
        "customer_id": "cust-1",
        "occurred_at": deps.clock(),
    }
    values.update(changes)

    with pytest.raises(events.EventError, match=rf"^{field}: "):
        _record(deps, events.EventInput(**values))  # type: ignore[arg-type]
    assert _event_count(deps) == 0
    assert customer_row(deps.db, "cust-1") is None


def test_same_event_twice_gives_one_event_and_one_invitation(deps: Deps) -> None:
    event = event_input(events.SUBSCRIPTION_CANCELLED, event_id="evt-42", occurred_at=deps.clock())

    first = _record(deps, event)
    second = _record(deps, event)

    assert first.recorded is True
    assert len(first.invitations) == 1
    assert second.recorded is False
    assert second.invitations == ()
    assert _event_count(deps) == 1
    assert len(_invitations(deps)) == 1


def test_customer_upserted_sets_profile_and_keeps_unknown_keys_in_attributes(deps: Deps) -> None:
    outcome = _record(
        deps,
        event_input(
            events.CUSTOMER_UPSERTED,
            occurred_at=deps.clock(),
            data={
                "plan": "pro",
                "monthly_revenue": 49.5,
                "language": "lv",
                "company": "Acme SIA",
                "seats": 12,
            },
        ),
    )

    assert outcome.recorded is True
    assert outcome.invitations == ()
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.plan == "pro"
    assert customer.monthly_revenue == 49.5
    assert customer.language == "lv"
    assert customer.attributes == {"company": "Acme SIA", "seats": 12}


def test_later_customer_upserted_updates_and_merges_attributes(deps: Deps) -> None:
    _record(
        deps,
        event_input(
            events.CUSTOMER_UPSERTED,
            event_id="u1",
            occurred_at=deps.clock(),
            data={"plan": "basic", "company": "Acme"},
        ),
    )
    _record(
        deps,
        event_input(
            events.CUSTOMER_UPSERTED,
            event_id="u2",
            occurred_at=deps.clock(),
            data={"plan": "pro", "region": "EU"},
        ),
    )

    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.plan == "pro"
    assert customer.attributes == {"company": "Acme", "region": "EU"}


def test_other_events_do_not_change_the_profile(deps: Deps) -> None:
    _record(
        deps,
        event_input(
            events.INTERACTION_COMPLETED,
            occurred_at=deps.clock(),
            data={"plan": "enterprise", "reference": "T-1"},
        ),
    )

    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.plan is None
    assert customer.attributes == {}


def test_event_data_is_stored_with_the_event(deps: Deps) -> None:
    _record(
        deps,
        event_input(
            events.INTERACTION_COMPLETED,
            event_id="evt-7",
            occurred_at=deps.clock(),
            data={"reference": "Т-7 «заказ»"},
        ),
    )

    def load(session: Session) -> Event | None:
        return session.exec(select(Event).where(Event.source_event_id == "evt-7")).first()

    stored = run_unit(deps.db, load)
    assert stored is not None
    assert stored.type == events.INTERACTION_COMPLETED
    assert stored.data == {"reference": "Т-7 «заказ»"}
    assert stored.occurred_at == deps.clock()


def test_customer_upserted_with_a_chat_id_held_by_another_customer_is_handled(
    deps: Deps,
) -> None:
    _record(
        deps,
        event_input(
            events.CUSTOMER_UPSERTED,
            customer="old",
            event_id="u1",
            occurred_at=deps.clock(),
            data={"telegram_chat_id": 5005},
        ),
    )

    refused: events.EventError | None = None
    try:
        _record(
            deps,
            event_input(
                events.CUSTOMER_UPSERTED,
                customer="new",
                event_id="u2",
                occurred_at=deps.clock(),
                data={"telegram_chat_id": 5005},
            ),
        )
    except events.EventError as error:
        refused = error

    if refused is not None:
        # Refusing is acceptable too, as long as the error names the field.
        assert "telegram_chat_id" in str(refused)
        return
    old, new = customer_row(deps.db, "old"), customer_row(deps.db, "new")
    assert old is not None
    assert new is not None
    assert (old.telegram_chat_id, new.telegram_chat_id) == (None, 5005)


def _cancel(deps: Deps, event_id: str, reference: str, **data: object) -> events.EventOutcome:
    return _record(
        deps,
        event_input(
            events.SUBSCRIPTION_CANCELLED,
            event_id=event_id,
            occurred_at=deps.clock(),
            data={"reference": reference, **data},
        ),
    )


def test_second_cancel_of_a_subscription_queues_no_second_exit_survey(deps: Deps) -> None:
    first = _cancel(deps, "billing-1", "SUB-9")
    second = _cancel(deps, "billing-2", "SUB-9")  # the same cancellation, another event id
    third = _cancel(deps, "billing-3", " SUB-9 ")

    [invitation] = _invitations(deps)
    assert first.invitations == (invitation.id,)
    assert second.recorded is True
    assert second.invitations == ()
    assert third.invitations == ()
    [detail] = second.details
    assert (detail.id, detail.created, detail.subscription_ref) == (invitation.id, False, "SUB-9")
    assert _event_count(deps) == 3


def test_each_cancelled_subscription_gets_its_own_exit_survey(deps: Deps) -> None:
    _cancel(deps, "billing-1", "SUB-9")
    _cancel(deps, "billing-2", "SUB-10")
    _record(  # the same reference at another customer is another subscription
        deps,
        event_input(
            events.SUBSCRIPTION_CANCELLED,
            customer="cust-2",
            event_id="billing-3",
            occurred_at=deps.clock(),
            data={"reference": "SUB-9"},
        ),
    )

    assert [row.subscription_ref for row in _invitations(deps)] == ["SUB-9", "SUB-10", "SUB-9"]


def test_a_repeated_involuntary_cancel_reports_the_skipped_invitation_as_stored(
    deps: Deps,
) -> None:
    first = _cancel(deps, "billing-1", "SUB-9", voluntary=False)
    [detail] = first.details
    assert (detail.status, detail.created) == (InvitationStatus.SKIPPED, True)
    assert detail.reason is not None
    assert "involuntary" in detail.reason


def test_the_database_refuses_a_second_invitation_for_one_subscription(deps: Deps) -> None:
    _cancel(deps, "billing-1", "SUB-9")
    [existing] = _invitations(deps)
    with Session(deps.db) as session:
        session.add(
            SurveyInvitation(
                customer_id=existing.customer_id, survey_key="exit", subscription_ref="SUB-9"
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_parse_event_removes_nul_from_every_string_whatever_the_source() -> None:
    parsed = events.parse_event(
        {
            "event_id": "ev\x00-1",
            "type": "customer.upserted",
            "customer_id": "cust\x00-9",
            "data": {"name": "Bad\x00Name"},
        },
        now=datetime(2026, 11, 2, tzinfo=UTC),
    )

    assert parsed.event_id == "ev-1"
    assert parsed.customer_id == "cust-9"
    assert parsed.data["name"] == "BadName"


def test_parse_event_refuses_a_non_finite_number_naming_the_field() -> None:
    with pytest.raises(events.EventError, match=r"\[3\]\.data\.monthly_revenue"):
        events.parse_event(
            {
                "event_id": "ev-2",
                "type": "customer.upserted",
                "customer_id": "cust-9",
                "data": {"monthly_revenue": float("inf")},
            },
            now=datetime(2026, 11, 2, tzinfo=UTC),
            where="[3].",
        )
