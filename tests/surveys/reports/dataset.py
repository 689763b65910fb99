"""A small churn history whose true figures are worked out by hand (see KNOWN).

Week 2026-W46 (Mon 9 – Sun 15 Nov 2026, UTC) is the period under test; 2026-W45 before it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    Event,
    InvitationStatus,
    LabelCorrection,
    SurveyInvitation,
)

WEEK = "2026-W46"
PERIOD_START = datetime(2026, 11, 9, tzinfo=UTC)


def at(day: int, month: int = 11, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass
class Builder:
    """Inserts rows directly, as the survey engine and the classifier would leave them."""

    session: Session
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    customers: dict[str, Customer] = field(default_factory=dict)

    def customer(self, key: str, *, revenue: float | None = 100.0, name: str | None = None):
        row = Customer(external_id=key, name=name, monthly_revenue=revenue, language="en")
        self.session.add(row)
        self.session.flush()
        self.customers[key] = row
        return row

    def event(self, key: str, type: str, when: datetime, **data: Any) -> Event:
        row = Event(
            source_event_id=f"e{next(self.ids)}",
            type=type,
            customer_id=self.customers[key].id,
            occurred_at=when,
            data=data,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def start(self, key: str, when: datetime) -> Event:
        return self.event(key, "subscription.started", when)

    def cancel(self, key: str, when: datetime, **data: Any) -> Event:
        return self.event(key, "subscription.cancelled", when, **data)

    def invitation(
        self, key: str, survey: str, sent: datetime, *, completed: bool, event: Event | None = None
    ) -> SurveyInvitation:
        row = SurveyInvitation(
            customer_id=self.customers[key].id,
            survey_key=survey,
            event_id=event.id if event else None,
            status=InvitationStatus.COMPLETED if completed else InvitationStatus.SENT,
            due_at=sent,
            sent_at=sent,
            completed_at=sent if completed else None,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def answer(
        self,
        key: str,
        question: str,
        when: datetime,
        *,
        invitation: SurveyInvitation | None = None,
        survey: str | None = None,
        value: int | None = None,
        choice: str | None = None,
        text: str | None = None,
        category: str | None = None,
        sentiment: str = "neutral",
    ) -> Answer:
        row = Answer(
            customer_id=self.customers[key].id,
            invitation_id=invitation.id if invitation else None,
            survey_key=survey or (invitation.survey_key if invitation else None),
            question_key=question,
            numeric_value=value,
            choice_key=choice,
            text=text,
            language="en",
            answered_at=when,
        )
        self.session.add(row)
        self.session.flush()
        if category is not None:
            self.session.add(
                AnswerClassification(
                    answer_id=row.id,
                    category=category,
                    sentiment=sentiment,
                    method="test",
                    classifier_version="test",
                    confidence=1.0,
                )
            )
            self.session.flush()
        return row

    def exit_survey(
        self,
        key: str,
        when: datetime,
        reason: str,
        details: str | None = None,
        *,
        event: Event | None = None,
        sentiment: str = "negative",
    ) -> tuple[Answer, Answer | None]:
        invitation = self.invitation(key, "exit", when, completed=True, event=event)
        first = self.answer(
            key, "reason", when, invitation=invitation, choice=reason, category=reason
        )
        second = None
        if details is not None:
            second = self.answer(
                key,
                "details",
                when,
                invitation=invitation,
                text=details,
                category=reason,
                sentiment=sentiment,
            )
        return first, second

    def correct(self, answer: Answer, category: str, when: datetime, by: str = "U1") -> None:
        self.session.add(
            LabelCorrection(
                answer_id=answer.id, category=category, corrected_by=by, corrected_at=when
            )
        )
        self.session.flush()


# The truth of week 2026-W46, computed by hand from `build` below.
KNOWN = {
    "at_start": 11,  # c0..c9 (since October) + r1 (cancelled, then back before the week)
    "at_end": 9,  # 11 + 2 new - 4 lost
    "new": 2,  # n2, n3 (n1 started and cancelled within the week: neither new nor lost)
    "lost_voluntary": 3,  # c0, c1, c2
    "lost_involuntary": 1,  # c3
    "came_and_went": 1,  # n1
    "revenue_at_start": 1050.0,  # 10 x 100 + 50 (r1)
    "revenue_lost": 380.0,  # c0 80 (event data) + c1 100 + c2 100 + c3 100
    "reasons": {"price": 1, "competitor": 1, "bugs_reliability": 1, "other": 1},
    "previous_reasons": {"price": 2, "hard_to_use": 1},
    "invitations_sent": 8,
    "invitations_completed": 7,
    "csat": {5: 1, 4: 1, 2: 1, 1: 1},  # c4, c5 (unsolicited), c5, c6
    "churned_after_low_score": 1,  # c0: CSAT 1 in October, cancelled in the week
    "at_risk": 2,  # c5 (CSAT 2 in the week) and c6 (CSAT 1 in the week)
}


def build(engine: Engine) -> dict[str, Any]:
    """Insert the history; return the answers tests refer to."""
    with Session(engine, expire_on_commit=False) as session:
        b = Builder(session)
        for index in range(10):
            b.customer(f"c{index}", name="Carla Diaz" if index == 0 else None)
            b.start(f"c{index}", at(1, 10))
        # Started and cancelled before the week: in neither S nor E.
        for key in ("g1", "g2"):
            b.customer(key)
            b.start(key, at(5, 10))
            b.cancel(key, at(20, 10))
        # Cancelled, then came back before the week: subscribed at the start.
        b.customer("r1", revenue=50.0)
        b.start("r1", at(1, 10))
        b.cancel("r1", at(10, 10))
        b.start("r1", at(15, 10))
        for key in ("n1", "n2", "n3"):
            b.customer(key, revenue=30.0)
            b.start(key, at(10))

        b.answer("c0", "csat", at(25, 10), survey="post_interaction", value=1)
        cancel_c0 = b.cancel("c0", at(10), voluntary=True, monthly_revenue=80)
        price, _ = b.exit_survey(
            "c0",
            at(10, hour=13),
            "price",
            "Too expensive for us. Contact me at carla@example.com or +1 415 555 0100, Carla",
            event=cancel_c0,
        )
        cancel_c1 = b.cancel("c1", at(11), voluntary=True)
        switched, _ = b.exit_survey(
            "c1", at(11, hour=13), "price", "We moved to a rival tool", event=cancel_c1
        )
        b.correct(switched, "price", at(12, hour=9), by="U0")
        b.correct(switched, "competitor", at(12, hour=10), by="U1")  # the latest wins
        cancel_c2 = b.cancel("c2", at(12), voluntary=True)
        b.exit_survey(
            "c2", at(12, hour=13), "bugs_reliability", "Sync kept crashing", event=cancel_c2
        )
        b.cancel("c3", at(13), voluntary=False)  # involuntary: no exit survey
        cancel_n1 = b.cancel("n1", at(14))
        b.exit_survey(
            "n1", at(14, hour=13), "other", "The mobile app sync is missing", event=cancel_n1
        )

        for key, day, score in (("c4", 10, 5), ("c5", 11, 2), ("c6", 12, 1)):
            invitation = b.invitation(key, "post_interaction", at(day), completed=True)
            b.answer(key, "csat", at(day), invitation=invitation, value=score)
        b.answer("c5", "csat", at(14), survey="post_interaction", value=4)  # unsolicited
        b.invitation("c7", "post_interaction", at(13), completed=False)

        # The week before: two price reasons and one hard_to_use.
        for key, reason in (("g1", "price"), ("g2", "price"), ("r1", "hard_to_use")):
            b.exit_survey(key, at(3), reason, None)
        session.commit()
        return {"price": price, "switched": switched}
