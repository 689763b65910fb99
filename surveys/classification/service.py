"""Classification of stored answers: on arrival, on a manager's correction, on demand."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from storage.models import Answer, ExampleSource, LabelCorrection
from storage.queries import classification as queries
from storage.queries.answering import NewAnswer, StoredAnswer
from surveys.classification.classifier import Classifier
from surveys.classification.corpus import MAX_TEXT_CHARS
from surveys.classification.corrections import CorrectionMemory
from surveys.classification.learned import LearnedModel, sha256
from surveys.classification.model import (
    CATEGORIES,
    SENTIMENTS,
    UNKNOWN_LANGUAGE,
    Classification,
    Method,
)

logger = logging.getLogger(__name__)

REASON_QUESTION = "reason"


def classify_answer(
    *, session: Session, answer: Answer, classifier: Classifier, fresh: bool = False
) -> Classification | None:
    """Classify a stored answer and save the result, replacing its label unless `fresh`
    (the caller commits). The answer path does the same through `ClassifyOnArrival`.

    A reason button is the customer's own answer: it sets the category with full
    confidence. Free text is classified; when the same invitation has a reason choice other
    than "other", that choice stays the primary category and the text adds sentiment and
    secondary categories. Answers with only a number (CSAT scores) get no classification.
    """
    if answer.id is None:
        session.flush()
    assert answer.id is not None
    reason = None
    if answer.question_key != REASON_QUESTION and answer.invitation_id is not None:
        stored = queries.reason_answer(session=session, invitation_id=answer.invitation_id)
        if stored is not None and stored.id != answer.id:
            reason = stored.choice_key
    return _label(
        session,
        classifier,
        answer_id=answer.id,
        question_key=answer.question_key,
        choice_key=answer.choice_key,
        text=answer.text,
        language=answer.language,
        reason_choice=reason,
        replace=not fresh,
    )


def _label(
    session: Session,
    classifier: Classifier,
    *,
    answer_id: int,
    question_key: str,
    choice_key: str | None,
    text: str | None,
    language: str | None,
    reason_choice: str | None,
    replace: bool,
) -> Classification | None:
    """Classify one answer and store the label: the one writer of automatic labels."""
    result = classification_for(
        classifier,
        answer_id=answer_id,
        question_key=question_key,
        choice_key=choice_key,
        text=text,
        language=language,
        reason_choice=reason_choice,
    )
    if result is not None:
        queries.save_classification(
            session=session,
            answer_id=answer_id,
            label=result,
            classifier_version=classifier.version,
            replace=replace,
        )
    return result


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
            confidence=1.0 if choice_key != "other" else 0.0,
            language=language or UNKNOWN_LANGUAGE,
            method=Method.CUSTOMER_CHOICE,
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
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise ValueError(f"no answer with id {answer_id}")
    correction = queries.add_correction(
        session=session,
        answer_id=answer_id,
        category=category,
        sentiment=sentiment,
        corrected_by=corrected_by.strip(),
    )
    text = teaching_text(answer.text)
    if text:
        queries.insert_training_example(
            session=session,
            answer_id=answer_id,
            text=text,
            language=answer.language,
            category=category,
            sentiment=sentiment,
            source=ExampleSource.RELABEL,
        )
    return correction


def teaching_text(text: str | None) -> str:
    """The text a training example keeps: stripped, without NUL, bounded like the corpus."""
    return (text or "").replace("\x00", "").strip()[:MAX_TEXT_CHARS]


def load_correction_memory(*, session: Session) -> CorrectionMemory:
    """Build the memory of corrected texts from the database (refresh by calling again)."""
    return CorrectionMemory(queries.corrections_with_text(session=session))


def current_model(session: Session, base: Classifier) -> Classifier:
    """`base` with the newest model retrained for this instance, if there is one."""
    stamp = queries.model_stamp(session=session)
    if stamp is None:
        return base
    return base.with_model(_stored_model(session, stamp))


def _stored_model(session: Session, stamp: tuple[int, str]) -> LearnedModel:
    data = queries.model_data(session=session, model_id=stamp[0])
    if data is None or sha256(data) != stamp[1]:
        raise ValueError(f"stored model {stamp[0]} does not match its recorded sha256")
    return LearnedModel.from_bytes(data)


def reclassify(*, session: Session, classifier: Classifier, since: datetime | None = None) -> int:
    """Re-run the classifier over stored answers; corrections stay and keep winning.

    The instance's newest retrained model is used when there is one, and the classifier
    consults the current corrections, so similar texts learn from them. Returns how many
    answers got a new classification (the caller commits).
    """
    classifier = current_model(session, classifier)
    classifier = classifier.with_corrections(load_correction_memory(session=session))
    count = 0
    for answer in queries.iter_answers_to_classify(session=session, since=since):
        if classify_answer(session=session, answer=answer, classifier=classifier) is not None:
            count += 1
    return count


class ClassifyOnArrival:
    """The survey engine's answer hook: classify each stored answer as it arrives, and keep
    a text answer next to a tapped reason as a training example of this instance.

    Corrections teach the classifier, and `classify retrain` (on any instance) may have
    stored a new model, so both are checked on every text answer; the memory and the model
    are rebuilt only when their stamps changed (a cheap count/highest id, the newest model's
    id and sha256), not read in full each time. The hook runs in worker threads, hence the
    lock.
    """

    def __init__(self, classifier: Classifier) -> None:
        self._base = classifier
        self._classifier = classifier
        self._learned = classifier
        self._stamp: tuple[tuple[int, int], tuple[int, str] | None] | None = None
        self._model_stamp: tuple[int, str] | None = None
        self._lock = threading.Lock()

    def __call__(
        self,
        *,
        session: Session,
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
            classifier = self._with_current_corrections(session)
        result = _label(
            session,
            classifier,
            answer_id=answer_id,
            question_key=answer.question_key,
            choice_key=answer.choice_key,
            text=answer.text,
            language=answer.language,
            reason_choice=reason,
            replace=False,
        )
        teaching = reason if answer.question_key != REASON_QUESTION else answer.choice_key
        if teaching_text(answer.text) and teaching in CATEGORIES and teaching != "other":
            queries.insert_training_example(
                session=session,
                answer_id=answer_id,
                text=teaching_text(answer.text),
                language=answer.language,
                category=teaching,
                sentiment=None,
                source=ExampleSource.BUTTON,
            )
        return result

    def _with_current_corrections(self, session: Session) -> Classifier:
        model_stamp = queries.model_stamp(session=session)
        stamp = (queries.corrections_stamp(session=session), model_stamp)
        with self._lock:
            if stamp != self._stamp:
                if model_stamp != self._model_stamp:
                    self._classifier = (
                        self._base
                        if model_stamp is None
                        else self._base.with_model(_stored_model(session, model_stamp))
                    )
                    self._model_stamp = model_stamp
                memory = CorrectionMemory(queries.corrections_with_text(session=session))
                self._learned = self._classifier.with_corrections(memory)
                self._stamp = stamp
            return self._learned
