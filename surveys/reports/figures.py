"""Churn figures for a period: one implementation behind Slack, Telegram and the CLI.

Definitions (shown to users with `Ratio.explain`; docs/summary.md has the long form):
- A customer is subscribed at a moment when their latest subscription.started/cancelled
  event before it is a start (events ordered by `occurred_at`, however late they arrive;
  at the same moment a start comes before a cancel).
  Before a customer's first event, one whose first event is a cancel was subscribed.
  A second cancel while cancelled changes nothing; a start after a cancel is a comeback.
- S: customers subscribed at the start, E: at the end. L: customers of S who cancelled
  during the period (at most once each, back by the end or not). N: customers of E who were
  not subscribed at the start, or who were lost and came back. Customers who started and
  cancelled within the period are in neither N nor L ("came and went"). So E = S + N - L,
  L <= S, and churn + retention = 100%.
- churn rate = L / S; retention = (E - N) / S x 100; both n/a (with the reason) when S = 0.
  revenue churn = revenue lost / revenue at start, where revenue lost comes from the
  cancellation event's `monthly_revenue` or the customer's, and revenue at start is the
  known `monthly_revenue` of the S customers.
- A reason is the effective label of an exit survey (the rule of surveys/labels.py): the
  latest manager correction of its reason or details answer, else the automatic label of
  the reason answer, else (when that is `other`) of the details text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlmodel import Session

from storage.queries import figures as queries
from surveys.definition import Role, SurveyRoles
from surveys.labels import Automatic, label_that_counts
from surveys.reports.periods import Period
from surveys.reports.saves import RecoveryFigures, SaveFigures, recovery_figures, save_figures
from surveys.reports.text import EmergingReason, Quote, emerging_reasons, representative, scrub
from surveys.vocabulary import Category, Sentiment

RECENT_DAYS = 30
TOP_REASONS_WITH_QUOTES = 3
QUOTES_PER_REASON = 3
NOT_ENOUGH_DATA = "not enough data"
NO_CUSTOMERS_AT_START = "no customers at the start of the period"
NO_REVENUE_AT_START = "no known revenue at the start of the period"


@dataclass(frozen=True)
class Ratio:
    """A figure that is a division, with its formula; no value when the divisor is zero."""

    name: str
    formula: str
    numerator: float
    denominator: float
    percent: bool = True
    undefined: str = NOT_ENOUGH_DATA

    @property
    def value(self) -> float | None:
        if not self.denominator:
            return None
        return self.numerator / self.denominator * (100.0 if self.percent else 1.0)

    @property
    def reason(self) -> str | None:
        """Why there is no value (None when there is one)."""
        return self.undefined if self.value is None else None

    def display(self) -> str:
        value = self.value
        if value is None:
            return f"n/a ({self.undefined})"
        return f"{value:.1f}%" if self.percent else f"{value:.2f}"

    def explain(self) -> str:
        """ "churn rate = L / S = 5 / 100 x 100 = 5.0%"; never a division by zero."""
        if self.value is None:
            return f"{self.name} = {self.formula}: {self.display()}"
        numbers = f"{_number(self.numerator)} / {_number(self.denominator)}"
        scale = " x 100" if self.percent else ""
        return f"{self.name} = {self.formula} = {numbers}{scale} = {self.display()}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@dataclass(frozen=True)
class CustomerFigures:
    """S, E, N, L of the module docstring (E = S + N - L) and the revenue figures."""

    at_start: int
    at_end: int
    new: int
    lost_voluntary: int
    lost_involuntary: int
    revenue_at_start: float
    revenue_lost: float
    revenue_known: bool
    came_and_went: int = 0

    @property
    def lost(self) -> int:
        return self.lost_voluntary + self.lost_involuntary

    @property
    def churn_rate(self) -> Ratio:
        return Ratio("churn rate", "L / S", self.lost, self.at_start, True, NO_CUSTOMERS_AT_START)

    @property
    def retention(self) -> Ratio:
        return Ratio(
            "retention",
            "(E - N) / S",
            self.at_end - self.new,
            self.at_start,
            True,
            NO_CUSTOMERS_AT_START,
        )

    @property
    def revenue_churn(self) -> Ratio:
        denominator = self.revenue_at_start if self.revenue_known else 0.0
        return Ratio(
            "revenue churn",
            "revenue lost / revenue at start",
            self.revenue_lost,
            denominator,
            True,
            NO_REVENUE_AT_START,
        )

    def formulas(self) -> list[str]:
        counts = (
            f"S = {self.at_start}, E = {self.at_end}, N = {self.new}, "
            f"L = {self.lost} ({self.lost_voluntary} voluntary, "
            f"{self.lost_involuntary} involuntary)"
        )
        if self.came_and_went:
            counts += f"; {self.came_and_went} started and cancelled within the period"
        return [
            counts,
            self.churn_rate.explain(),
            self.retention.explain(),
            self.revenue_churn.explain(),
        ]

    def as_dict(self) -> dict[str, object]:
        """The figures for scripts: counts, percentages as numbers, None plus a reason
        (`<rate>_reason`) where a rate has no value."""
        result: dict[str, object] = {
            "customers_start": self.at_start,
            "customers_end": self.at_end,
            "new": self.new,
            "lost": self.lost,
            "lost_voluntary": self.lost_voluntary,
            "lost_involuntary": self.lost_involuntary,
            "came_and_went": self.came_and_went,
            "revenue_at_start": round(self.revenue_at_start, 2),
            "revenue_lost": round(self.revenue_lost, 2),
        }
        rates = (
            ("churn_rate", self.churn_rate),
            ("retention_rate", self.retention),
            ("revenue_churn_rate", self.revenue_churn),
        )
        for key, ratio in rates:
            value = ratio.value
            result[key] = None if value is None else round(value, 2)
            if value is None:
                result[f"{key}_reason"] = ratio.undefined
        return result


@dataclass(frozen=True)
class ReasonFigure:
    category: str
    count: int
    share: Ratio
    previous_count: int
    revenue_lost: float
    sentiments: dict[str, int]
    quotes: tuple[Quote, ...] = ()

    @property
    def change(self) -> int:
        return self.count - self.previous_count

    @property
    def trend(self) -> str:
        """↑ more than last period, ↓ fewer, → the same, "new" when there were none."""
        if self.previous_count == 0 and self.count:
            return "new"
        return "↑" if self.change > 0 else "↓" if self.change < 0 else "→"


@dataclass(frozen=True)
class SurveyHealth:
    sent: dict[str, tuple[int, int]]
    csat: dict[int, int]
    nps: dict[int, int]
    churned: int
    churned_after_low_score: int
    at_risk_count: int
    at_risk: tuple[queries.AtRiskRow, ...]

    @property
    def invitations_sent(self) -> int:
        return sum(sent for sent, _ in self.sent.values())

    @property
    def response_rate(self) -> Ratio:
        done = sum(completed for _, completed in self.sent.values())
        return Ratio("response rate", "completed / sent", done, self.invitations_sent)

    @property
    def csat_count(self) -> int:
        return sum(self.csat.values())

    @property
    def csat_average(self) -> Ratio:
        total = sum(score * count for score, count in self.csat.items())
        return Ratio("CSAT average", "sum of scores / answers", total, self.csat_count, False)

    @property
    def nps_score(self) -> Ratio:
        """Promoters (9-10) minus detractors (0-6), as a percentage of NPS answers."""
        promoters = sum(count for score, count in self.nps.items() if score >= 9)
        detractors = sum(count for score, count in self.nps.items() if score <= 6)
        return Ratio(
            "NPS",
            "(promoters - detractors) / answers",
            promoters - detractors,
            sum(self.nps.values()),
        )


@dataclass(frozen=True)
class Figures:
    """Everything a summary shows for one period."""

    period: Period
    previous: Period
    customers: CustomerFigures
    reasons: tuple[ReasonFigure, ...]
    emerging: tuple[EmergingReason, ...]
    health: SurveyHealth
    generated_at: datetime
    answered_exits: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    needs_review: int = 0
    saves: SaveFigures | None = None
    recoveries: RecoveryFigures | None = None

    def reason(self, category: str) -> ReasonFigure | None:
        return next((reason for reason in self.reasons if reason.category == category), None)


@dataclass(frozen=True, slots=True)
class LabelledReason:
    row: queries.ReasonRow
    category: str
    sentiment: str
    needs_review: bool = False


def effective_labels(
    rows: list[queries.ReasonRow], corrections: list[queries.CorrectionRow]
) -> list[LabelledReason]:
    """Label each reason row by the one rule of surveys.labels."""
    by_answer: dict[int, list[queries.CorrectionRow]] = defaultdict(list)
    for correction in corrections:
        by_answer[correction.answer_id].append(correction)
    labelled = []
    for row in rows:
        label = label_that_counts(
            corrections=[
                c for i in (row.answer_id, row.details_id) if i is not None for c in by_answer[i]
            ],
            reason=Automatic(row.automatic, row.automatic_sentiment, row.needs_review),
            details=Automatic(row.details_automatic, row.details_sentiment),
            choice=row.choice or Category.OTHER,
        )
        assert label is not None  # a choice always gives a category
        labelled.append(
            LabelledReason(
                row, label.category, label.sentiment or Sentiment.NEUTRAL, label.needs_review
            )
        )
    return labelled


def labelled_reasons(
    *, session: Session, period: Period, roles: SurveyRoles, light: bool = False
) -> list[LabelledReason]:
    """The reason answers of [start, end) (every survey with a `reason` role), labelled."""
    sources = roles.reasons
    rows = queries.reason_rows(
        session=session, sources=sources, start=period.start, end=period.end, light=light
    )
    corrections = queries.corrections_near(
        session=session, sources=sources, start=period.start, end=period.end
    )
    return effective_labels(rows, corrections)


def quote_of(item: LabelledReason) -> Quote | None:
    text = (item.row.details_text or item.row.text or "").strip()
    if not text:
        return None
    cleaned = scrub(text, names=[item.row.customer_name])
    return Quote(
        answer_id=item.row.details_id or item.row.answer_id, text=cleaned, sentiment=item.sentiment
    )


def compute_figures(
    *,
    session: Session,
    period: Period,
    now: datetime,
    roles: SurveyRoles,
    quotes: bool = True,
    quoted_reasons: int = TOP_REASONS_WITH_QUOTES,
) -> Figures:
    """Compute every figure of `period` and the comparison with the period before it."""
    previous = period.previous()
    counts = queries.customer_counts(session=session, start=period.start, end=period.end)
    lost = queries.losses(session=session, start=period.start, end=period.end)
    revenue_lost = sum(item.revenue or 0.0 for item in lost)
    customers = CustomerFigures(
        at_start=counts.at_start,
        at_end=counts.at_end,
        new=counts.new,
        lost_voluntary=sum(1 for item in lost if item.voluntary),
        lost_involuntary=sum(1 for item in lost if not item.voluntary),
        revenue_at_start=counts.revenue_at_start,
        revenue_lost=revenue_lost,
        revenue_known=counts.revenue_known_at_start > 0,
        came_and_went=counts.came_and_went,
    )

    current = labelled_reasons(session=session, period=period, roles=roles)
    before = Counter(
        item.category
        for item in labelled_reasons(session=session, period=previous, roles=roles, light=True)
    )
    by_category: dict[str, list[LabelledReason]] = defaultdict(list)
    for item in current:
        by_category[item.category].append(item)
    total = len(current)

    def weight(category: str) -> tuple[int, float, str]:
        items = by_category[category]
        return (-len(items), -sum(item.row.revenue or 0.0 for item in items), category)

    ranked = sorted(by_category, key=weight)
    reasons = []
    for rank, category in enumerate(ranked):
        items = by_category[category]
        chosen: tuple[Quote, ...] = ()
        if quotes and rank < quoted_reasons:
            texts = [quote for item in items if (quote := quote_of(item)) is not None]
            chosen = tuple(representative(texts, count=QUOTES_PER_REASON))
        reasons.append(
            ReasonFigure(
                category=category,
                count=len(items),
                share=Ratio(
                    f"share of {category}", "answers with this reason / all", len(items), total
                ),
                previous_count=before.get(category, 0),
                revenue_lost=sum(item.row.revenue or 0.0 for item in items),
                sentiments=dict(Counter(item.sentiment for item in items)),
                quotes=chosen,
            )
        )
    for category in sorted(set(before) - set(by_category)):
        reasons.append(
            ReasonFigure(
                category=category,
                count=0,
                share=Ratio(f"share of {category}", "answers with this reason / all", 0, total),
                previous_count=before[category],
                revenue_lost=0.0,
                sentiments={},
            )
        )
    others = [q for item in by_category.get("other", []) if (q := quote_of(item)) is not None]
    emerging = tuple(emerging_reasons(others)) if quotes else ()

    at_risk_count, at_risk_rows = queries.at_risk(
        session=session,
        questions=roles.scores,
        since=period.end - timedelta(days=RECENT_DAYS),
        end=period.end,
    )
    health = SurveyHealth(
        sent=queries.invitations_sent(session=session, start=period.start, end=period.end),
        csat=queries.score_distribution(
            session=session,
            questions=roles.with_role(Role.CSAT),
            start=period.start,
            end=period.end,
        ),
        nps=queries.score_distribution(
            session=session,
            questions=roles.with_role(Role.NPS),
            start=period.start,
            end=period.end,
        ),
        churned=customers.lost,
        churned_after_low_score=queries.churned_after_low_score(
            session=session, lost=lost, questions=roles.scores
        ),
        at_risk_count=at_risk_count,
        # shown by role ("CSAT 2"), whatever the question's key in its survey
        at_risk=tuple(
            replace(row, question=roles.role_of(row.survey_key, row.question) or row.question)
            for row in at_risk_rows
        ),
    )
    return Figures(
        period=period,
        previous=previous,
        customers=customers,
        reasons=tuple(reasons),
        emerging=emerging,
        health=health,
        generated_at=now,
        answered_exits=total,
        needs_review=sum(1 for item in current if item.needs_review),
        saves=save_figures(session=session, start=period.start, end=period.end),
        recoveries=recovery_figures(session=session, start=period.start, end=period.end),
    )
