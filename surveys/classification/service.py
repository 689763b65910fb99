"""Classification of stored answers: on arrival, on a manager's correction, on demand."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection
from sqlmodel import Session

from storage.clock import utcnow
from storage.models import Answer, AnswerClassification, LabelCorrection
from storage.queries import classification as queries
from storage.queries.answering import NewAnswer, StoredAnswer
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
    reason = None
    if answer.question_key != REASON_QUESTION and answer.invitation_id is not None:
        stored = queries.reason_answer(session=session, invitation_id=answer.invitation_id)
        if stored is not None and stored.id != answer.id:
            reason = stored.choice_key
    return classification_for(
        classifier,
        answer_id=answer.id,
        question_key=answer.question_key,
        choice_key=answer.choice_key,
        text=answer.text,
        language=answer.language,
        reason_choice=reason,
    )


def classification_for(
    classifier: Classifier,
    *,
    answer_id: int | None,
    question_key: str,
    choice_key: str | None,
    text: str | None,
    language: str | None,
    reason_choice: str | None,
) -> Classification | None:
    """The label of one answer, given the invitation's reason choice (if another answer).

    None for answers with nothing to classify (a bare score, an empty text).
    """
    text = (text or "").strip()
    if question_key == REASON_QUESTION and choice_key and not text:
        if choice_key not in CATEGORIES:
            logger.warning("answer %s has unknown reason choice %r", answer_id, choice_key)
            return None
        return Classification(
            category=choice_key,
            secondary=(),
            sentiment="neutral",
            polarity=None,
            subjectivity=None,
            confidence=1.0 if choice_key != "other" else 0.0,
            language=language or "unknown",
            method="customer_choice",
        )
    if not text:
        return None
    choice = choice_key if question_key == REASON_QUESTION else reason_choice
    return classifier.classify(text, language=language, choice=choice)


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


class ClassifyOnArrival:
    """The survey engine's answer hook: classify each stored answer as it arrives.

    Corrections teach the classifier, and another instance may have added one, so the
    memory of corrections is checked on every text answer; it is rebuilt only when the
    table changed (a cheap count and highest id), not read in full each time. The hook
    runs in worker threads, hence the lock.
    """

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier
        self._learned = classifier
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def __call__(
        self,
        *,
        connection: Connection,
        answer_id: int,
        answer: NewAnswer,
        answers: Sequence[StoredAnswer],
    ) -> Classification | None:
        reason = next(
            (
                earlier.choice_key
                for earlier in answers
                if earlier.question_key == REASON_QUESTION and earlier.id != answer_id
            ),
            None,
        )
        classifier = self._classifier
        if answer.text and answer.text.strip():
            classifier = self._with_current_corrections(connection)
        result = classification_for(
            classifier,
            answer_id=answer_id,
            question_key=answer.question_key,
            choice_key=answer.choice_key,
            text=answer.text,
            language=answer.language,
            reason_choice=reason,
        )
        if result is not None:
            queries.insert_classification(
                connection,
                answer_id=answer_id,
                category=result.category,
                secondary=list(result.secondary),
                sentiment=result.sentiment,
                polarity=result.polarity,
                subjectivity=result.subjectivity,
                confidence=result.confidence,
                language=result.language,
                method=result.method,
                classifier_version=classifier.version,
                classified_at=utcnow(),
            )
        return result

    def _with_current_corrections(self, connection: Connection) -> Classifier:
        stamp = queries.corrections_stamp(connection)
        with self._lock:
            if stamp != self._stamp:
                memory = CorrectionMemory(queries.corrections_with_text(connection))
                self._learned = self._classifier.with_corrections(memory)
                self._stamp = stamp
            return self._learned
