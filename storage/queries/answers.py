"""Answers read back for export (the answer path itself is `storage.queries.answering`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Answer, AnswerClassification, Customer, LabelCorrection


@dataclass(frozen=True)
class ExportRow:
    answer_id: int
    customer_id: str
    survey: str | None
    question: str
    value: int | None
    choice: str | None
    text: str | None
    language: str | None
    answered_at: datetime
    # The automatic classification, if any.
    auto_category: str | None = None
    auto_sentiment: str | None = None
    confidence: float | None = None
    # The latest manager correction, if any.
    corrected_category: str | None = None
    corrected_sentiment: str | None = None
    corrected_by: str | None = None
    corrected_at: datetime | None = None

    @property
    def category(self) -> str | None:
        """The effective label: the latest correction, else the automatic one."""
        return self.corrected_category or self.auto_category

    @property
    def sentiment(self) -> str | None:
        return self.corrected_sentiment or self.auto_sentiment


def _latest_corrections(session: Session, answer_ids: list[int]) -> dict[int, LabelCorrection]:
    statement = (
        select(LabelCorrection)
        .where(col(LabelCorrection.answer_id).in_(answer_ids))
        .order_by(col(LabelCorrection.corrected_at), col(LabelCorrection.id))
    )
    return {row.answer_id: row for row in session.exec(statement)}  # the latest wins


def iter_export_rows(
    *, session: Session, since: datetime | None = None, batch: int = 1000
) -> Iterator[ExportRow]:
    """Every answer with its customer's own id, its automatic label and its latest
    correction, oldest first, streamed in batches."""
    last_id = 0
    while True:
        query = (
            select(Answer, Customer.external_id, AnswerClassification)
            .join(Customer, col(Customer.id) == col(Answer.customer_id))
            .outerjoin(AnswerClassification, col(AnswerClassification.answer_id) == col(Answer.id))
            .where(col(Answer.id) > last_id)
            .order_by(col(Answer.id))
            .limit(batch)
        )
        if since is not None:
            query = query.where(Answer.answered_at >= since)
        rows = session.exec(query).all()
        if not rows:
            return
        ids = [answer.id for answer, _, _ in rows if answer.id is not None]
        corrections = _latest_corrections(session, ids)
        for answer, external_id, label in rows:
            assert answer.id is not None
            last_id = answer.id
            correction = corrections.get(answer.id)
            yield ExportRow(
                answer_id=answer.id,
                customer_id=external_id,
                survey=answer.survey_key,
                question=answer.question_key,
                value=answer.numeric_value,
                choice=answer.choice_key,
                text=answer.text,
                language=answer.language,
                answered_at=answer.answered_at,
                auto_category=label.category if label else None,
                auto_sentiment=label.sentiment if label else None,
                confidence=label.confidence if label else None,
                corrected_category=correction.category if correction else None,
                corrected_sentiment=correction.sentiment if correction else None,
                corrected_by=correction.corrected_by if correction else None,
                corrected_at=correction.corrected_at if correction else None,
            )
