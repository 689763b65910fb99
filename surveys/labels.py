"""The label that counts for an answer, or for a reason with its details: one rule.

A manager's latest correction (of either answer) wins; otherwise the automatic label of
the reason answer (or the customer's choice), and when that is `other`, the automatic label
of the details text. The sentiment is the correction's if it gives one, else the details
text's, else the reason's. Reports, alerts and the customer card all go through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from storage.models import AnswerClassification
from storage.queries import classification as queries
from surveys.vocabulary import Category


class CorrectionLike(Protocol):
    @property
    def category(self) -> str: ...
    @property
    def sentiment(self) -> str | None: ...
    @property
    def corrected_at(self) -> datetime: ...
    @property
    def id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Automatic:
    """What the classifier (or the customer's button) said about one answer."""

    category: str | None
    sentiment: str | None
    needs_review: bool = False


@dataclass(frozen=True, slots=True)
class Label:
    category: str
    sentiment: str | None
    corrected: bool
    needs_review: bool = False


def label_that_counts(
    *,
    corrections: Iterable[CorrectionLike],
    reason: Automatic | None,
    details: Automatic | None = None,
    choice: str | None = None,
) -> Label | None:
    """The rule of the module docstring; None when nothing labels the answer at all."""
    latest = max(corrections, key=lambda c: (c.corrected_at, c.id or 0), default=None)
    automatic_sentiment = (details.sentiment if details else None) or (
        reason.sentiment if reason else None
    )
    if latest is not None:
        return Label(latest.category, latest.sentiment or automatic_sentiment, corrected=True)
    category = (reason.category if reason else None) or choice
    details_category = details.category if details else None
    if category is None and details_category is None:
        return None
    if (category or Category.OTHER) == Category.OTHER and details_category not in (
        None,
        Category.OTHER,
    ):
        category = details_category
    review = bool((reason and reason.needs_review) or (details and details.needs_review))
    return Label(category or Category.OTHER, automatic_sentiment, False, review)


def effective_label(*, session: Session, answer_id: int) -> Label | None:
    """The label that counts for one answer (a detractor's comment, a customer card line)."""
    correction = queries.latest_correction(session=session, answer_id=answer_id)
    automatic = session.get(AnswerClassification, answer_id)
    return label_that_counts(
        corrections=[correction] if correction is not None else [],
        reason=Automatic(automatic.category, automatic.sentiment, automatic.needs_review)
        if automatic is not None
        else None,
    )
