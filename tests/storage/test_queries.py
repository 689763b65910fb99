"""Query functions: idempotent inserts, atomic claims, chat linking and erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import (
    Answer,
    AnswerClassification,
    AppState,
    Customer,
    Event,
    LabelCorrection,
    SurveyInvitation,
)
from storage.queries import app_state, delivering
from storage.queries import customers as customer_queries
from storage.queries import events as event_queries
from storage.queries import invitations as invitation_queries
from storage.session import run_unit
from tests.conftest import FakeClock
from tests.storage.conftest import MakeCustomer


def _count(db: Engine, table: type, *where: object) -> int:
    return run_unit(
        db,
        lambda session: session.exec(select(func.count()).select_from(table).where(*where)).one(),
    )


def test_duplicate_source_event_id_records_one_event(
    db: Engine, customer: Customer, clock: FakeClock
) -> None:
    assert customer.id is not None

    def record(session: Session) -> tuple[Event, bool]:
        return event_queries.record_event(
            session=session,
            source_event_id="evt-dup",
            type="interaction.completed",
            customer_id=customer.id,
            occurred_at=clock(),
            data={"reference": "T-1"},
        )

    first, first_created = run_unit(db, record)
    second, second_created = run_unit(db, record)

    assert first_created is True
    assert second_created is False
    assert second.id == first.id
    assert _count(db, Event) == 1


def test_second_invitation_for_same_event_and_survey_returns_the_existing_one(
    db: Engine, customer: Customer, event: Event, invitation: SurveyInvitation, clock: FakeClock
) -> None:
    assert customer.id is not None
    again, created = run_unit(
        db,
        lambda session: invitation_queries.create_invitation(
            session=session,
            customer_id=customer.id,
            survey_key="exit",
            event_id=event.id,
            due_at=clock() + timedelta(hours=1),
            expires_at=clock() + timedelta(days=1),
            now=clock(),
        ),
    )

    assert created is False
    assert again.id == invitation.id
    assert _count(db, SurveyInvitation) == 1


def test_raw_insert_of_second_invitation_violates_the_unique_constraint(
    db: Engine, customer: Customer, event: Event, invitation: SurveyInvitation, clock: FakeClock
) -> None:
    statement = insert(SurveyInvitation).values(
        customer_id=customer.id,
        survey_key="exit",
        event_id=event.id,
        status="pending",
        due_at=clock(),
        send_attempts=0,
        created_at=clock(),
        updated_at=clock(),
    )

    with pytest.raises(IntegrityError):
        run_unit(db, lambda session: session.exec(statement))
    assert _count(db, SurveyInvitation) == 1


def test_claiming_an_invitation_succeeds_once_and_fails_the_second_time(
    db: Engine, invitation: SurveyInvitation, clock: FakeClock
) -> None:
    def claim(session: Session) -> list[int]:
        return delivering.claim_due(session=session, now=clock(), limit=10)

    assert run_unit(db, claim) == [invitation.id]
    clock.advance(seconds=1)
    assert run_unit(db, claim) == []
    stored = run_unit(db, lambda session: session.get(SurveyInvitation, invitation.id))
    assert stored is not None
    assert stored.send_claimed_at == clock() - timedelta(seconds=1)


def test_invitation_not_yet_due_is_not_claimed(
    db: Engine, invitation: SurveyInvitation, clock: FakeClock
) -> None:
    claimed = run_unit(
        db,
        lambda session: delivering.claim_due(
            session=session, now=clock() - timedelta(seconds=1), limit=10
        ),
    )

    assert claimed == []


def test_forget_customer_deletes_the_customer_and_everything_about_them(
    db: Engine,
    make_customer: MakeCustomer,
    customer: Customer,
    event: Event,
    invitation: SurveyInvitation,
    clock: FakeClock,
) -> None:
    other = make_customer("cust-2")

    def populate(session: Session) -> None:
        for owner, invitation_id in ((customer, invitation.id), (other, None)):
            answer = Answer(
                customer_id=owner.id,
                invitation_id=invitation_id,
                question_key="feedback" if invitation_id is None else "reason",
                text="too expensive",
            )
            session.add(answer)
            session.flush()
            session.add(
                AnswerClassification(
                    answer_id=answer.id,
                    category="price",
                    sentiment="neutral",
                    method="lexicon",
                    classifier_version="1",
                )
            )
            session.add(LabelCorrection(answer_id=answer.id, category="price", corrected_by="t"))
        session.add(Answer(customer_id=customer.id, question_key="feedback", text="unsolicited"))

    run_unit(db, populate)
    assert _count(db, Answer, Answer.customer_id == customer.id) == 2

    run_unit(
        db,
        lambda session: customer_queries.forget_customer(session=session, customer_id=customer.id),
    )

    assert _count(db, Customer, Customer.id == customer.id) == 0
    assert _count(db, Event, Event.customer_id == customer.id) == 0
    assert _count(db, SurveyInvitation, SurveyInvitation.customer_id == customer.id) == 0
    assert _count(db, Answer, Answer.customer_id == customer.id) == 0
    # Only the other customer's rows remain.
    assert _count(db, Customer) == 1
    assert _count(db, Answer) == 1
    assert _count(db, AnswerClassification) == 1
    assert _count(db, LabelCorrection) == 1


def test_link_chat_moves_the_chat_id_from_another_customer(
    db: Engine, make_customer: MakeCustomer
) -> None:
    first = make_customer("cust-a", telegram_chat_id=4242)
    second = make_customer("cust-b")

    def link(session: Session) -> None:
        target = session.get(Customer, second.id)
        assert target is not None
        customer_queries.link_chat(session=session, customer=target, chat_id=4242, language="de")

    run_unit(db, link)

    def reload(session: Session) -> tuple[Customer | None, Customer | None, Customer | None]:
        return (
            session.get(Customer, first.id),
            session.get(Customer, second.id),
            customer_queries.get_by_chat(session=session, chat_id=4242),
        )

    old, new, holder = run_unit(db, reload)
    assert old is not None
    assert new is not None
    assert old.telegram_chat_id is None
    assert new.telegram_chat_id == 4242
    assert new.language == "de"
    assert holder is not None
    assert holder.id == second.id


def test_app_state_get_or_create_keeps_the_first_value(db: Engine) -> None:
    first = run_unit(
        db, lambda session: app_state.get_or_create(session=session, key="k", make="first")
    )
    second = run_unit(
        db, lambda session: app_state.get_or_create(session=session, key="k", make="second")
    )

    assert first == "first"
    assert second == "first"
    stored = run_unit(db, lambda session: session.get(AppState, "k"))
    assert stored is not None
    assert stored.value == "first"
