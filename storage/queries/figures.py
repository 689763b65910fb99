"""Aggregate queries behind the churn figures; the reports in `surveys/reports` shape them.

Everything is filtered by an indexed time column (see the indexes in storage/models.py):
event(type, occurred_at, customer_id), answer(question_key, survey_key, answered_at),
survey_invitation(sent_at). Large sets are counted in SQL; only the period's cancellations
and reason answers (thousands, not millions) come back as rows.

Storage knows no survey: which questions are churn reasons, details or scores, and where a
low score starts, come in as parameters (`ReasonSource`, `ScoreSource`) from the survey
definitions' roles (surveys.definition.SurveyRoles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, and_, case, exists, false, func, not_, or_, select
from sqlalchemy.sql.expression import CTE
from sqlmodel import Session, SQLModel, col

from storage.clock import as_utc
from storage.models import (
    Answer,
    Customer,
    Event,
    InvitationStatus,
    LabelCorrection,
    SurveyInvitation,
)

STARTED = "subscription.started"
CANCELLED = "subscription.cancelled"
_ANSWERS: Table = SQLModel.metadata.tables["answer"]
_LABELS: Table = SQLModel.metadata.tables["answer_classification"]


class ReasonSource(Protocol):
    """A survey's churn-reason question and its details question (surveys.definition)."""

    @property
    def survey_key(self) -> str: ...
    @property
    def reason_key(self) -> str: ...
    @property
    def details_key(self) -> str | None: ...


class ScoreSource(Protocol):
    """A survey's rating question whose scores up to `detractor_at_most` are low."""

    @property
    def survey_key(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def detractor_at_most(self) -> int: ...


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
    survey_key: str | None = None


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
    at_s, at_e, new, lost, came, revenue_sum, known = session.connection().execute(statement).one()
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
            col(Event.data),
            col(Customer.monthly_revenue),
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
    for customer_id, occurred_at, data, fallback in session.connection().execute(statement):
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
        for customer_id, occurred_at, kind in session.connection().execute(events):
            histories.setdefault(customer_id, []).append((occurred_at, kind))
    return [
        item
        for customer_id, item in first.items()
        if subscribed_at(histories.get(customer_id, []), start)
    ]


def _is_reason(answers: Any, sources: Sequence[ReasonSource]) -> ColumnElement[bool]:
    """The answer is the reason answer of one of `sources`' surveys."""
    if not sources:
        return false()
    return or_(
        *(
            and_(
                answers.c.survey_key == item.survey_key, answers.c.question_key == item.reason_key
            )
            for item in sources
        )
    )


def _is_details(answers: Any, sources: Sequence[ReasonSource]) -> ColumnElement[bool]:
    """The answer is the details answer of one of `sources`' surveys."""
    pairs = [(item.survey_key, item.details_key) for item in sources if item.details_key]
    if not pairs:
        return false()
    return or_(
        *(
            and_(answers.c.survey_key == survey, answers.c.question_key == question)
            for survey, question in pairs
        )
    )


def reason_rows(
    *,
    session: Session,
    sources: Sequence[ReasonSource],
    start: datetime | None,
    end: datetime | None,
    light: bool = False,
    invitation_id: int | None = None,
) -> list[ReasonRow]:
    """The reason answers of `sources` given in [start, end) (or of one invitation), with
    their details answer, automatic labels, customer and lost revenue. `light` skips texts
    and revenue."""
    if not sources:
        return []
    reason = _ANSWERS.alias("reason")
    details = _ANSWERS.alias("details")
    reason_label = _LABELS.alias("reason_label")
    details_label = _LABELS.alias("details_label")
    columns: list[Any] = [
        reason.c.id,
        reason.c.invitation_id,
        reason.c.customer_id,
        reason.c.answered_at,
        reason.c.choice_key,
        reason_label.c.category,
        reason_label.c.sentiment,
        details.c.id,
        details_label.c.category,
        details_label.c.sentiment,
        reason_label.c.needs_review,
        details_label.c.needs_review,
    ]
    if not light:
        columns += [
            reason.c.text,
            reason.c.language,
            details.c.text,
            col(Customer.name),
            col(Customer.monthly_revenue),
            col(Event.data),
        ]
    joined: Any = (
        reason.outerjoin(reason_label, reason_label.c.answer_id == reason.c.id)
        .outerjoin(
            details,
            and_(details.c.invitation_id == reason.c.invitation_id, _is_details(details, sources)),
        )
        .outerjoin(details_label, details_label.c.answer_id == details.c.id)
    )
    if not light:
        joined = (
            joined.join(Customer, col(Customer.id) == reason.c.customer_id)
            .outerjoin(SurveyInvitation, col(SurveyInvitation.id) == reason.c.invitation_id)
            .outerjoin(Event, col(Event.id) == col(SurveyInvitation.event_id))
        )
    statement = select(*columns).select_from(joined).where(_is_reason(reason, sources))
    if invitation_id is not None:
        statement = statement.where(reason.c.invitation_id == invitation_id)
    if start is not None and end is not None:
        statement = statement.where(reason.c.answered_at >= start, reason.c.answered_at < end)
    rows = []
    for row in session.connection().execute(statement):
        (aid, iid, cid, at, choice, auto, auto_s, did, d_auto, d_s, review, d_review) = row[:12]
        text = language = details_text = name = None
        revenue = None
        if not light:
            text, language, details_text, name, fallback, data = row[12:]
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
                revenue=revenue,
                needs_review=bool(review or d_review),
            )
        )
    return rows


def _correction_columns() -> tuple[Any, ...]:
    return (
        col(LabelCorrection.answer_id),
        col(LabelCorrection.category),
        col(LabelCorrection.sentiment),
        col(LabelCorrection.corrected_at),
        col(LabelCorrection.id),
    )


def corrections_near(
    *, session: Session, sources: Sequence[ReasonSource], start: datetime, end: datetime
) -> list[CorrectionRow]:
    """Corrections of the reason and details answers of `sources` given around
    [start, end), oldest first (a details answer may come a little after its reason)."""
    statement = (
        select(*_correction_columns())
        .join(_ANSWERS, _ANSWERS.c.id == col(LabelCorrection.answer_id))
        .where(
            or_(_is_reason(_ANSWERS, sources), _is_details(_ANSWERS, sources)),
            _ANSWERS.c.answered_at >= start - timedelta(days=2),
            _ANSWERS.c.answered_at < end + timedelta(days=2),
        )
        .order_by(col(LabelCorrection.corrected_at), col(LabelCorrection.id))
    )
    return [CorrectionRow(*row) for row in session.connection().execute(statement)]


def corrections_of(*, session: Session, answer_ids: list[int]) -> list[CorrectionRow]:
    """Corrections of a few answers, oldest first."""
    statement = (
        select(*_correction_columns())
        .where(col(LabelCorrection.answer_id).in_(answer_ids))
        .order_by(col(LabelCorrection.corrected_at), col(LabelCorrection.id))
    )
    return [CorrectionRow(*row) for row in session.connection().execute(statement)]


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
    return {
        key: (int(sent), int(done or 0))
        for key, sent, done in session.connection().execute(statement)
    }


def _is_question(questions: Sequence[ScoreSource]) -> ColumnElement[bool]:
    if not questions:
        return false()
    return or_(
        *(
            and_(col(Answer.survey_key) == item.survey_key, col(Answer.question_key) == item.key)
            for item in questions
        )
    )


def score_distribution(
    *, session: Session, questions: Sequence[ScoreSource], start: datetime, end: datetime
) -> dict[int, int]:
    """How many answers to these rating questions gave each score in [start, end)."""
    if not questions:
        return {}
    statement = (
        select(col(Answer.numeric_value), func.count())
        .where(
            _is_question(questions),
            col(Answer.answered_at) >= start,
            col(Answer.answered_at) < end,
            col(Answer.numeric_value).is_not(None),
        )
        .group_by(col(Answer.numeric_value))
    )
    rows = session.connection().execute(statement)
    return {int(value): int(count) for value, count in rows if value is not None}


def _low_score(questions: Sequence[ScoreSource]) -> ColumnElement[bool]:
    """A score at most the detractor threshold of its question."""
    if not questions:
        return false()
    return or_(
        *(
            and_(
                col(Answer.survey_key) == item.survey_key,
                col(Answer.question_key) == item.key,
                col(Answer.numeric_value) <= item.detractor_at_most,
            )
            for item in questions
        )
    )


def churned_after_low_score(
    *, session: Session, lost: list[Cancellation], questions: Sequence[ScoreSource]
) -> int:
    """How many of the lost customers had given a low score to one of `questions` before
    cancelling."""
    when = {item.customer_id: item.occurred_at for item in lost}
    ids = sorted(when)
    count = 0
    for offset in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[offset : offset + 500]
        statement = (
            select(col(Answer.customer_id), func.min(col(Answer.answered_at)))
            .where(col(Answer.customer_id).in_(chunk), _low_score(questions))
            .group_by(col(Answer.customer_id))
        )
        for customer_id, earliest in session.connection().execute(statement):
            if as_utc(earliest) < as_utc(when[customer_id]):
                count += 1
    return count


def at_risk(
    *,
    session: Session,
    questions: Sequence[ScoreSource],
    since: datetime,
    end: datetime,
    limit: int = 10,
) -> tuple[int, list[AtRiskRow]]:
    """Customers with a low score to one of `questions` in [since, end) who are not
    cancelled at `end`: how many, and the most recent ones."""
    cancel = SQLModel.metadata.tables["event"].alias("cancel")
    restart = SQLModel.metadata.tables["event"].alias("restart")
    restarted = exists().where(
        restart.c.customer_id == cancel.c.customer_id,
        restart.c.type == STARTED,
        restart.c.occurred_at > cancel.c.occurred_at,
        restart.c.occurred_at < end,
    )
    cancelled = exists().where(
        cancel.c.customer_id == col(Answer.customer_id),
        cancel.c.type == CANCELLED,
        cancel.c.occurred_at < end,
        not_(restarted),
    )
    where = (
        col(Answer.answered_at) >= since,
        col(Answer.answered_at) < end,
        _low_score(questions),
        not_(cancelled),
    )
    connection = session.connection()
    count = connection.execute(
        select(func.count(func.distinct(col(Answer.customer_id)))).where(*where)
    )
    total = int(count.scalar_one())
    statement = (
        select(
            col(Answer.customer_id),
            col(Customer.external_id),
            col(Customer.name),
            col(Answer.numeric_value),
            col(Answer.question_key),
            col(Answer.answered_at),
            col(Answer.survey_key),
        )
        .join(Customer, col(Customer.id) == col(Answer.customer_id))
        .where(*where)
        .order_by(col(Answer.answered_at).desc())
        .limit(limit * 4)
    )
    seen: set[int] = set()
    rows = []
    for customer_id, external_id, name, score, question, answered_at, survey in connection.execute(
        statement
    ):
        if customer_id in seen or score is None:
            continue
        seen.add(customer_id)
        rows.append(
            AtRiskRow(customer_id, external_id, name, int(score), question, answered_at, survey)
        )
        if len(rows) >= limit:
            break
    return total, rows
