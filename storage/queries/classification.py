"""Queries for answer classifications and managers' label corrections."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, delete, desc, func, insert, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from storage.clock import as_utc, utcnow
from storage.models import (
    Answer,
    AnswerClassification,
    ClassifierModel,
    LabelCorrection,
    TrainingExample,
)


class AutomaticLabel(Protocol):
    """What the classifier decided about an answer (`surveys.classification.Classification`)."""

    @property
    def category(self) -> str: ...
    @property
    def secondary(self) -> Sequence[str]: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def language(self) -> str | None: ...
    @property
    def method(self) -> str: ...
    @property
    def needs_review(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class EffectiveLabel:
    """The label that counts for an answer: a correction if any, else the automatic one."""

    answer_id: int
    category: str
    sentiment: str | None
    corrected: bool
    source: str
    needs_review: bool = False


_CLASSIFICATIONS = AnswerClassification.__table__  # type: ignore[attr-defined]
_INSERT_CLASSIFICATION = insert(_CLASSIFICATIONS)
_DELETE_CLASSIFICATION = delete(_CLASSIFICATIONS).where(
    _CLASSIFICATIONS.c.answer_id == bindparam("answer_id")
)


def save_classification(
    *,
    session: Session,
    answer_id: int,
    label: AutomaticLabel,
    classifier_version: str,
    replace: bool = True,
    classified_at: datetime | None = None,
) -> None:
    """Store the automatic classification of an answer, replacing the one it had (the
    caller commits). `replace=False` says the answer was just stored, so there is nothing
    to replace: the answer path saves a statement."""
    connection = session.connection()
    if replace:
        connection.execute(_DELETE_CLASSIFICATION, {"answer_id": answer_id})
    connection.execute(
        _INSERT_CLASSIFICATION,
        {
            "answer_id": answer_id,
            "category": label.category,
            "secondary": list(label.secondary),
            "sentiment": label.sentiment,
            "confidence": label.confidence,
            "needs_review": label.needs_review,
            "language": label.language,
            "method": label.method,
            "classifier_version": classifier_version,
            "classified_at": as_utc(classified_at) if classified_at else utcnow(),
        },
    )


def get_classification(*, session: Session, answer_id: int) -> AnswerClassification | None:
    """Return the automatic classification of an answer, if it has one."""
    return session.get(AnswerClassification, answer_id)


def add_correction(
    *,
    session: Session,
    answer_id: int,
    category: str,
    corrected_by: str,
    sentiment: str | None = None,
    corrected_at: datetime | None = None,
) -> LabelCorrection:
    """Record a manager's correction; earlier corrections stay as history."""
    row = LabelCorrection(
        answer_id=answer_id,
        category=category,
        sentiment=sentiment,
        corrected_by=corrected_by,
        corrected_at=as_utc(corrected_at) if corrected_at else utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def latest_correction(*, session: Session, answer_id: int) -> LabelCorrection | None:
    """Return the most recent correction of an answer, if any."""
    statement = (
        select(LabelCorrection)
        .where(LabelCorrection.answer_id == answer_id)
        .order_by(col(LabelCorrection.corrected_at).desc(), col(LabelCorrection.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


_CORRECTIONS = LabelCorrection.__table__  # type: ignore[attr-defined]
_ANSWERS = Answer.__table__  # type: ignore[attr-defined]
_CORRECTIONS_WITH_TEXT = (
    core_select(
        _ANSWERS.c.text,
        _CORRECTIONS.c.category,
        _CORRECTIONS.c.sentiment,
        _CORRECTIONS.c.answer_id,
    )
    .join(_ANSWERS, _ANSWERS.c.id == _CORRECTIONS.c.answer_id)
    .where(_ANSWERS.c.text.is_not(None))
    .order_by(_CORRECTIONS.c.corrected_at, _CORRECTIONS.c.id)
)
_CORRECTIONS_STAMP = core_select(func.count(), func.coalesce(func.max(_CORRECTIONS.c.id), 0))


def corrections_with_text(*, session: Session) -> list[tuple[str, str, str | None]]:
    """Return (answer text, category, sentiment) of the latest correction per text answer.

    Ordered oldest first, so a `CorrectionMemory` built from it lets later ones win.
    """
    latest: dict[int, tuple[str, str, str | None]] = {}
    rows = session.connection().execute(_CORRECTIONS_WITH_TEXT)
    for text, category, sentiment, answer_id in rows:
        if text and text.strip():
            latest.pop(answer_id, None)
            latest[answer_id] = (text, category, sentiment)
    return list(latest.values())


def corrections_stamp(*, session: Session) -> tuple[int, int]:
    """How many corrections there are and the highest id: changes whenever one is added
    or removed (with its answer), so a cache of them knows when to rebuild."""
    count, highest = session.connection().execute(_CORRECTIONS_STAMP).one()
    return int(count), int(highest)


def iter_answers_to_classify(
    *, session: Session, since: datetime | None = None, batch_size: int = 500
) -> Iterator[Answer]:
    """Yield answers with text or a reason choice (answered at or after `since`), by id."""
    last_id = 0
    while True:
        statement = (
            select(Answer)
            .where(col(Answer.id) > last_id)
            .where(or_(col(Answer.text).is_not(None), col(Answer.choice_key).is_not(None)))
            .order_by(col(Answer.id))
            .limit(batch_size)
        )
        if since is not None:
            statement = statement.where(col(Answer.answered_at) >= as_utc(since))
        batch = list(session.exec(statement))
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id or last_id


def reason_answer(*, session: Session, invitation_id: int) -> Answer | None:
    """Return the exit survey's "reason" answer of an invitation, if given."""
    statement = select(Answer).where(
        Answer.invitation_id == invitation_id, Answer.question_key == "reason"
    )
    return session.exec(statement).first()


def effective_label(*, session: Session, answer_id: int) -> EffectiveLabel | None:
    """Return the label that counts: the latest correction wins over the automatic one."""
    correction = latest_correction(session=session, answer_id=answer_id)
    automatic = session.get(AnswerClassification, answer_id)
    if correction is not None:
        sentiment = correction.sentiment or (automatic.sentiment if automatic else None)
        return EffectiveLabel(
            answer_id,
            correction.category,
            sentiment,
            True,
            f"correction by {correction.corrected_by}",
        )
    if automatic is not None:
        return EffectiveLabel(
            answer_id,
            automatic.category,
            automatic.sentiment,
            False,
            automatic.method,
            automatic.needs_review,
        )
    return None


_EXAMPLES = TrainingExample.__table__  # type: ignore[attr-defined]
_MODELS = ClassifierModel.__table__  # type: ignore[attr-defined]
_INSERT_EXAMPLE = insert(_EXAMPLES)
_MODEL_STAMP = core_select(_MODELS.c.id, _MODELS.c.sha256).order_by(desc(_MODELS.c.id)).limit(1)


def insert_training_example(
    *,
    session: Session,
    answer_id: int,
    text: str,
    language: str | None,
    category: str,
    sentiment: str | None,
    source: str,
    created_at: datetime | None = None,
) -> None:
    """Keep a labelled text of this instance as a training example (the caller commits)."""
    session.connection().execute(
        _INSERT_EXAMPLE,
        {
            "answer_id": answer_id,
            "text": text,
            "language": language,
            "category": category,
            "sentiment": sentiment,
            "source": source,
            "created_at": as_utc(created_at) if created_at else utcnow(),
        },
    )


def list_training_examples(*, session: Session) -> list[TrainingExample]:
    """Every training example of this instance, oldest first (a later one of the same
    text wins when they are merged)."""
    statement = select(TrainingExample).order_by(
        col(TrainingExample.created_at), col(TrainingExample.id)
    )
    return list(session.exec(statement))


def save_model(
    *, session: Session, version: str, sha256: str, data: bytes, figures: dict[str, object]
) -> ClassifierModel:
    """Store a retrained model; being the newest row makes it the one in use."""
    row = ClassifierModel(version=version, sha256=sha256, data=data, figures=figures)
    session.add(row)
    session.flush()
    return row


def model_stamp(*, session: Session) -> tuple[int, str] | None:
    """(id, sha256) of the newest stored model, or None: cheap to ask on every answer."""
    row = session.connection().execute(_MODEL_STAMP).first()
    return (int(row[0]), str(row[1])) if row is not None else None


def model_data(*, session: Session, model_id: int) -> bytes | None:
    """The bytes of one stored model."""
    statement = core_select(_MODELS.c.data).where(_MODELS.c.id == model_id)
    row = session.connection().execute(statement).first()
    return bytes(row[0]) if row is not None else None
