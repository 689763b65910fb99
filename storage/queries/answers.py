"""Answers read back for export (the answer path itself is `storage.queries.answering`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Answer, Customer


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


def iter_export_rows(
    *, session: Session, since: datetime | None = None, batch: int = 1000
) -> Iterator[ExportRow]:
    """Every answer with its customer's own id, oldest first, streamed in batches."""
    last_id = 0
    while True:
        query = (
            select(Answer, Customer.external_id)
            .join(Customer, col(Customer.id) == col(Answer.customer_id))
            .where(col(Answer.id) > last_id)
            .order_by(col(Answer.id))
            .limit(batch)
        )
        if since is not None:
            query = query.where(Answer.answered_at >= since)
        rows = session.exec(query).all()
        if not rows:
            return
        for answer, external_id in rows:
            assert answer.id is not None
            last_id = answer.id
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
            )
