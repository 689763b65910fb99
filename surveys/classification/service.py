"""Classification of stored answers: on arrival, on a manager's correction, on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from storage.models import Answer, AnswerClassification, LabelCorrection
from storage.queries import classification as queries
from surveys.classification.classifier import Classifier
from surveys.classification.corrections import CorrectionMemory
from surveys.classification.model import CATEGORIES, SENTIMENTS, Classification

logger = logging.getLogger(__name__)

REASON_QUESTION = "reason"


def classify_answer(
    *, session: Session, answer: Answer, classifier: Classifier, fresh: bool = False
) -> AnswerClassification | None:
    """Classify a just-stored answer and save the result (the caller commits).

    A reason button is the customer's own answer: it sets the category with full
    confidence. Free text is classified; when the same invitation has a reason choice other
    than "other", that choice stays the primary category and the text adds sentiment and
    secondary categories. Answers with only a number (CSAT scores) get no classification.
    """
    if answer.id is None:
        session.flush()
    result = _classify(session=session, answer=answer, classifier=classifier)
    if result is None:
        return None
    return queries.save_classification(
        session=session,
        answer_id=answer.id,  # type: ignore[arg-type]
        category=result.category,
        secondary=list(result.secondary),
        sentiment=result.sentiment,
        polarity=result.polarity,
        subjectivity=result.subjectivity,
        confidence=result.confidence,
        language=result.language,
        method=result.method,
        classifier_version=classifier.version,
        fresh=fresh,
    )


def _classify(
    *, session: Session, answer: Answer, classifier: Classifier
) -> Classification | None:
    text = (answer.text or "").strip()
    if answer.question_key == REASON_QUESTION and answer.choice_key and not text:
        if answer.choice_key not in CATEGORIES:
            logger.warning("answer %s has unknown reason choice %r", answer.id, answer.choice_key)
            return None
        return Classification(
            category=answer.choice_key,
            secondary=(),
            sentiment="neutral",
            polarity=None,
            subjectivity=None,
            confidence=1.0 if answer.choice_key != "other" else 0.0,
            language=answer.language or "unknown",
            method="customer_choice",
        )
    if not text:
        return None
    choice = answer.choice_key if answer.question_key == REASON_QUESTION else None
    if choice is None and answer.invitation_id is not None:
        reason = queries.reason_answer(session=session, invitation_id=answer.invitation_id)
        if reason is not None and reason.id != answer.id:
            choice = reason.choice_key
    return classifier.classify(text, language=answer.language, choice=choice)


def relabel(
    *,
    session: Session,
    answer_id: int,
    category: str,
    corrected_by: str,
    sentiment: str | None = None,
) -> LabelCorrection:
    """Record a manager's correction of an answer's label (the caller commits).

    Raises ValueError naming the problem for an unknown category, sentiment or answer.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; use one of: {', '.join(CATEGORIES)}")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValueError(f"unknown sentiment {sentiment!r}; use one of: {', '.join(SENTIMENTS)}")
    if not corrected_by.strip():
        raise ValueError("corrected_by must name who made the correction")
    if session.get(Answer, answer_id) is None:
        raise ValueError(f"no answer with id {answer_id}")
    return queries.add_correction(
        session=session,
        answer_id=answer_id,
        category=category,
        sentiment=sentiment,
        corrected_by=corrected_by.strip(),
    )


def load_correction_memory(*, session: Session) -> CorrectionMemory:
    """Build the memory of corrected texts from the database (refresh by calling again)."""
    return CorrectionMemory(queries.list_corrections_with_text(session=session))


def reclassify(*, session: Session, classifier: Classifier, since: datetime | None = None) -> int:
    """Re-run the classifier over stored answers; corrections stay and keep winning.

    The classifier consults the current corrections, so similar texts learn from them.
    Returns how many answers got a new classification (the caller commits).
    """
    classifier = classifier.with_corrections(load_correction_memory(session=session))
    count = 0
    for answer in queries.iter_answers_to_classify(session=session, since=since):
        if classify_answer(session=session, answer=answer, classifier=classifier) is not None:
            count += 1
    return count


def classify_on_arrival(classifier: Classifier) -> Callable[..., AnswerClassification | None]:
    """The survey engine's answer hook: classify each stored answer, learning from the
    corrections made so far (read afresh, since another instance may have added one)."""

    def hook(*, session: Session, answer: Answer) -> AnswerClassification | None:
        learned = classifier
        if answer.text and answer.text.strip():
            learned = classifier.with_corrections(load_correction_memory(session=session))
        return classify_answer(session=session, answer=answer, classifier=learned, fresh=True)

    return hook
