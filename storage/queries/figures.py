"""Aggregate queries behind the churn figures; the reports in `surveys/reports` shape them.

Everything is filtered by an indexed time column (see the indexes in storage/models.py):
event(type, occurred_at, customer_id), answer(question_key, answered_at),
survey_invitation(sent_at). Large sets are counted in SQL; only the period's cancellations
and reason answers (thousands, not millions) come back as rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import CTE
from sqlmodel import Session, col

from storage.clock import as_utc
from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    Event,
    InvitationStatus,
    LabelCorrection,
    SurveyInvitation,
)

STARTED = "subscription.started"
CANCELLED = "subscription.cancelled"
LOW_CSAT = 2  # at most: a detractor on the 1-5 scale
LOW_NPS = 6  # at most: a detractor on the 0-10 scale


@dataclass(frozen=True, slots=True)
class CustomerCounts:
    """S, E, N, L of a period (see `customer_counts`); E = S + N - L by construction."""

    at_start: int
    at_end: int
    new: int
    lost: int
    came_and_went: int
    revenue_at_start: float
    revenue_known_at_start: int


@dataclass(frozen=True, slots=True)
class Cancellation:
    customer_id: int
    occurred_at: datetime
    voluntary: bool
    revenue: float | None


@dataclass(frozen=True, slots=True)
class ReasonRow:
    """One exit survey's reason answer with what is needed to count, weigh and quote it."""

    answer_id: int
    invitation_id: int | None
    customer_id: int
    answered_at: datetime
    choice: str | None
    automatic: str | None
    automatic_sentiment: str | None
    text: str | None
    language: str | None
    details_id: int | None
    details_text: str | None
    details_automatic: str | None
    details_sentiment: str | None
    customer_name: str | None
    customer_external_id: str
    revenue: float | None
    # The model was unsure of the reason's or the details' label (see AnswerClassification).
    needs_review: bool = False


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    answer_id: int
    category: str
    sentiment: str | None
    corrected_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class AtRiskRow:
    customer_id: int
    external_id: str
    name: str | None
    score: int
    question: str
    answered_at: datetime


def _states(start: datetime, end: datetime) -> CTE:
    """Per customer with start/cancel events: subscribed at `start` (s0), at `end` (s1), and
    whether the state changed in [start, end) (moved).

    The rule (docs/summary.md): the latest start/cancel event before a moment decides, in
    `occurred_at` order (events arrive out of order), a start before a cancel at the same
    moment; before a customer's first event, one whose first event is a cancel was
    subscribed. Conditional aggregates over one scan of the events, no window functions
    (three times faster on SQLite). From subscribed, the first cancel is the change; from
    not subscribed, the first start: so "moved" only needs to know whether there was one.
    """
    occurred = col(Event.occurred_at)
    is_start = col(Event.type) == STARTED
    is_cancel = col(Event.type) == CANCELLED
    within = and_(occurred >= start, occurred < end)

    def latest(kind: Any, moment: datetime) -> Any:
        return func.max(case((and_(kind, occurred < moment), occurred)))

    per_customer = (
        select(
            col(Event.customer_id).label("customer_id"),
            latest(is_start, start).label("ls0"),
            latest(is_cancel, start).label("lc0"),
            latest(is_start, end).label("ls1"),
            latest(is_cancel, end).label("lc1"),
            func.min(case((is_start, occurred))).label("fs"),
            func.min(case((is_cancel, occurred))).label("fc"),
            func.max(case((and_(is_start, within), 1), else_=0)).label("start_in"),
            func.max(case((and_(is_cancel, within), 1), else_=0)).label("cancel_in"),
        )
        .where(col(Event.type).in_((STARTED, CANCELLED)))
        .group_by(col(Event.customer_id))
        .subquery("per_customer")
    )
    c = per_customer.c
    cancelled_first = and_(c.fc.is_not(None), or_(c.fs.is_(None), c.fc < c.fs))

    def subscribed(last_start: Any, last_cancel: Any) -> Any:
        return case(
            (
                and_(last_start.is_(None), last_cancel.is_(None)),
                case((cancelled_first, 1), else_=0),
            ),
            (
                and_(
                    last_start.is_not(None), or_(last_cancel.is_(None), last_start > last_cancel)
                ),
                1,
            ),
            else_=0,
        )

    s0 = subscribed(c.ls0, c.lc0)
    return (
        select(
            c.customer_id,
            s0.label("s0"),
            subscribed(c.ls1, c.lc1).label("s1"),
            case((s0 == 1, c.cancel_in), else_=c.start_in).label("moved"),
        )
        .cte("states")
        .prefix_with("MATERIALIZED")
    )  # computed once, not per use of s0/s1


def _is_lost(states: CTE) -> Any:
    """Subscribed at the start and cancelled during the period (even if back at the end)."""
    c = states.c
    return and_(c.s0 == 1, or_(c.s1 == 0, c.moved == 1))


def customer_counts(*, session: Session, start: datetime, end: datetime) -> CustomerCounts:
    """S, E, N, L of [start, end), one customer counted at most once in each:

    - S / E: customers subscribed at `start` / `end`;
    - L: customers of S who cancelled during the period (back by the end or not);
    - N: customers of E who were not subscribed at the start, or who were lost and came back;
    - came and went: not subscribed at either end but started and cancelled in between
      (in neither N nor L, so that L <= S and E = S + N - L).
    """
    states = _states(start, end)
    c = states.c
    is_new = and_(c.s1 == 1, or_(c.s0 == 0, c.moved == 1))
    came_and_went = and_(c.s0 == 0, c.s1 == 0, c.moved == 1)
    at_start = c.s0 == 1
    revenue = col(Customer.monthly_revenue)

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    statement = select(
        count(at_start),
        count(c.s1 == 1),
        count(is_new),
        count(_is_lost(states)),
        count(came_and_went),
        func.coalesce(func.sum(case((at_start, revenue), else_=0.0)), 0.0),
        count(and_(at_start, revenue.is_not(None))),
    ).select_from(states.outerjoin(Customer, col(Customer.id) == c.customer_id))
    at_s, at_e, new, lost, came, revenue_sum, known = session.exec(statement).one()
    return CustomerCounts(
        int(at_s), int(at_e), int(new), int(lost), int(came), float(revenue_sum), int(known)
    )


def subscribed_at(history: list[tuple[datetime, str]], moment: datetime) -> bool:
    """The rule of `_states` for one customer's (occurred_at, type) events, in Python."""
    ordered = sorted(history, key=_event_order)
    before = [kind for at, kind in ordered if as_utc(at) < as_utc(moment)]
    if before:
        return before[-1] == STARTED
    return bool(ordered) and ordered[0][1] == CANCELLED


def _event_order(item: tuple[datetime, str]) -> tuple[datetime, int]:
    return as_utc(item[0]), 0 if item[1] == STARTED else 1


def _revenue(data: dict[str, Any] | None, fallback: float | None) -> float | None:
    value = (data or {}).get("monthly_revenue")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return fallback


def losses(*, session: Session, start: datetime, end: datetime) -> list[Cancellation]:
    """The customers lost in [start, end) (L of `customer_counts`), each with the cancel
    that ended their subscription (their first cancel of the period): voluntary unless that
    event says otherwise; the revenue lost is its monthly_revenue, else the customer's.

    Only customers who cancelled in the period can be lost: their cancels come from the
    (type, occurred_at) index, and whether they were subscribed at the start from their
    own events (a few hundred customers, not every customer)."""
    statement = (
        select(
            col(Event.customer_id),
            col(Event.occurred_at),
            Event.data,
            Customer.monthly_revenue,
        )
        .join(Customer, col(Customer.id) == col(Event.customer_id))
        .where(
            col(Event.type) == CANCELLED,
            col(Event.occurred_at) >= start,
            col(Event.occurred_at) < end,
        )
        .order_by(col(Event.customer_id), col(Event.occurred_at), col(Event.id))
    )
    first: dict[int, Cancellation] = {}
    for customer_id, occurred_at, data, fallback in session.exec(statement):
        if customer_id not in first:  # lost at most once: the first cancel ends it
            first[customer_id] = Cancellation(
                customer_id=customer_id,
                occurred_at=occurred_at,
                voluntary=(data or {}).get("voluntary", True) is not False,
                revenue=_revenue(data, fallback),
            )
    histories: dict[int, list[tuple[datetime, str]]] = {}
    ids = sorted(first)
    for offset in range(0, len(ids), 500):  # bounded IN lists
        events = select(col(Event.customer_id), col(Event.occurred_at), col(Event.type)).where(
            col(Event.customer_id).in_(ids[offset : offset + 500]),
            col(Event.type).in_((STARTED, CANCELLED)),
        )
        for customer_id, occurred_at, kind in session.exec(events):
            histories.setdefault(customer_id, []).append((occurred_at, kind))
    return [
        item
        for customer_id, item in first.items()
        if subscribed_at(histories.get(customer_id, []), start)
    ]


def reason_rows(
    *,
    session: Session,
    start: datetime | None,
    end: datetime | None,
    light: bool = False,
    invitation_id: int | None = None,
) -> list[ReasonRow]:
    """The exit survey reason answers given in [start, end) (or of one invitation), with
    their details answer, automatic labels, customer and lost revenue. `light` skips texts
    and revenue."""
    reason = aliased(Answer, name="reason")
    details = aliased(Answer, name="details")
    reason_label = aliased(AnswerClassification, name="reason_label")
    details_label = aliased(AnswerClassification, name="details_label")
    columns: list[Any] = [
        reason.id,
        reason.invitation_id,
        reason.customer_id,
        reason.answered_at,
        reason.choice_key,
        reason_label.category,
        reason_label.sentiment,
        details.id,
        details_label.category,
        details_label.sentiment,
        reason_label.needs_review,
        details_label.needs_review,
    ]
    if not light:
        columns += [
            reason.text,
            reason.language,
            details.text,
            Customer.name,
            Customer.external_id,
            Customer.monthly_revenue,
            Event.data,
        ]
    statement = (
        select(*columns)
        .select_from(reason)
        .outerjoin(reason_label, reason_label.answer_id == reason.id)
        .outerjoin(
            details,
            and_(details.invitation_id == reason.invitation_id, details.question_key == "details"),
        )
        .outerjoin(details_label, details_label.answer_id == details.id)
        .where(reason.question_key == "reason", reason.survey_key == "exit")
    )
    if invitation_id is not None:
        statement = statement.where(reason.invitation_id == invitation_id)
    if start is not None and end is not None:
        statement = statement.where(reason.answered_at >= start, reason.answered_at < end)
    if not light:
        statement = (
            statement.join(Customer, col(Customer.id) == reason.customer_id)
            .outerjoin(SurveyInvitation, col(SurveyInvitation.id) == reason.invitation_id)
            .outerjoin(Event, col(Event.id) == col(SurveyInvitation.event_id))
        )
    rows = []
    for row in session.exec(statement):
        (aid, iid, cid, at, choice, auto, auto_s, did, d_auto, d_s, review, d_review) = row[:12]
        text = language = details_text = name = external = None
        revenue = None
        if not light:
            text, language, details_text, name, external, fallback, data = row[12:]
            revenue = _revenue(data, fallback)
        rows.append(
            ReasonRow(
                answer_id=aid,
                invitation_id=iid,
                customer_id=cid,
                answered_at=at,
                choice=choice,
                automatic=auto,
                automatic_sentiment=auto_s,
                text=text,
                language=language,
                details_id=did,
                details_text=details_text,
                details_automatic=d_auto,
                details_sentiment=d_s,
                customer_name=name,
                customer_external_id=external or "",
                revenue=revenue,
                needs_review=bool(review or d_review),
            )
        )
    return rows


def corrections_near(*, session: Session, start: datetime, end: datetime) -> list[CorrectionRow]:
    """Corrections of reason and details answers given around [start, end), oldest first
    (a details answer may come a little after its reason answer)."""
    statement = (
        select(
            col(LabelCorrection.answer_id),
            col(LabelCorrection.category),
            col(LabelCorrection.sentiment),
            col(LabelCorrection.corrected_at),
            col(LabelCorrection.id),
        )
        .join(Answer, col(Answer.id) == col(LabelCorrection.answer_id))
        .where(
            col(Answer.question_key).in_(("reason", "details")),
            col(Answer.answered_at) >= start - timedelta(days=2),
            col(Answer.answered_at) < end + timedelta(days=2),
        )
        .order_by(col(LabelCorrection.corrected_at), col(LabelCorrection.id))
    )
    return [CorrectionRow(*row) for row in session.exec(statement)]


def corrections_of(*, session: Session, answer_ids: list[int]) -> list[CorrectionRow]:
    """Corrections of a few answers, oldest first."""
    statement = (
        select(
            col(LabelCorrection.answer_id),
            col(LabelCorrection.category),
            col(LabelCorrection.sentiment),
            col(LabelCorrection.corrected_at),
            col(LabelCorrection.id),
        )
        .where(col(LabelCorrection.answer_id).in_(answer_ids))
        .order_by(col(LabelCorrection.corrected_at), col(LabelCorrection.id))
    )
    return [CorrectionRow(*row) for row in session.exec(statement)]


def invitations_sent(
    *, session: Session, start: datetime, end: datetime
) -> dict[str, tuple[int, int]]:
    """Per survey: invitations sent in [start, end) and how many of those were completed."""
    completed = col(SurveyInvitation.status) == InvitationStatus.COMPLETED
    statement = (
        select(
            col(SurveyInvitation.survey_key),
            func.count(),
            func.sum(case((completed, 1), else_=0)),
        )
        .where(col(SurveyInvitation.sent_at) >= start, col(SurveyInvitation.sent_at) < end)
        .group_by(col(SurveyInvitation.survey_key))
    )
    return {key: (int(sent), int(done or 0)) for key, sent, done in session.exec(statement)}


def score_distribution(
    *, session: Session, question: str, start: datetime, end: datetime
) -> dict[int, int]:
    """How many answers to a rating question gave each score in [start, end)."""
    statement = (
        select(col(Answer.numeric_value), func.count())
        .where(
            col(Answer.question_key) == question,
            col(Answer.answered_at) >= start,
            col(Answer.answered_at) < end,
            col(Answer.numeric_value).is_not(None),
        )
        .group_by(col(Answer.numeric_value))
    )
    return {int(value): int(count) for value, count in session.exec(statement)}


def _low_score() -> Any:
    return or_(
        and_(col(Answer.question_key) == "csat", col(Answer.numeric_value) <= LOW_CSAT),
        and_(col(Answer.question_key) == "nps", col(Answer.numeric_value) <= LOW_NPS),
    )


def churned_after_low_score(*, session: Session, lost: list[Cancellation]) -> int:
    """How many of the lost customers had given a low CSAT/NPS score before cancelling."""
    when = {item.customer_id: item.occurred_at for item in lost}
    ids = sorted(when)
    count = 0
    for offset in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[offset : offset + 500]
        statement = (
            select(col(Answer.customer_id), func.min(col(Answer.answered_at)))
            .where(col(Answer.customer_id).in_(chunk), _low_score())
            .group_by(col(Answer.customer_id))
        )
        for customer_id, earliest in session.exec(statement):
            if as_utc(earliest) < as_utc(when[customer_id]):
                count += 1
    return count


def at_risk(
    *, session: Session, since: datetime, end: datetime, limit: int = 10
) -> tuple[int, list[AtRiskRow]]:
    """Customers with a low score in [since, end) who are not cancelled at `end`: how many,
    and the most recent ones."""
    cancel = aliased(Event, name="cancel")
    restart = aliased(Event, name="restart")
    restarted = exists().where(
        restart.customer_id == cancel.customer_id,
        restart.type == STARTED,
        restart.occurred_at > cancel.occurred_at,
        restart.occurred_at < end,
    )
    cancelled = exists().where(
        cancel.customer_id == col(Answer.customer_id),
        cancel.type == CANCELLED,
        cancel.occurred_at < end,
        not_(restarted),
    )
    where = (
        col(Answer.answered_at) >= since,
        col(Answer.answered_at) < end,
        col(Answer.question_key).in_(("csat", "nps")),
        _low_score(),
        not_(cancelled),
    )
    count = session.exec(select(func.count(func.distinct(col(Answer.customer_id)))).where(*where))
    total = int(count.scalar_one())
    statement = (
        select(
            col(Answer.customer_id),
            col(Customer.external_id),
            col(Customer.name),
            col(Answer.numeric_value),
            col(Answer.question_key),
            col(Answer.answered_at),
        )
        .join(Customer, col(Customer.id) == col(Answer.customer_id))
        .where(*where)
        .order_by(col(Answer.answered_at).desc())
        .limit(limit * 4)
    )
    seen: set[int] = set()
    rows = []
    for customer_id, external_id, name, score, question, answered_at in session.exec(statement):
        if customer_id in seen:
            continue
        seen.add(customer_id)
        rows.append(AtRiskRow(customer_id, external_id, name, int(score), question, answered_at))
        if len(rows) >= limit:
            break
    return total, rows
