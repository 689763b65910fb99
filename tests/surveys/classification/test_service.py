"""Classification of stored answers, corrections and reclassification, on SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import text as text_sql
from sqlmodel import Session, select

from storage.clock import utcnow
from storage.db import make_engine, upgrade
from storage.models import Answer, Customer, ExampleSource, SurveyInvitation, TrainingExample
from storage.queries import answering
from storage.queries import classification as queries
from storage.queries import customers as customer_queries
from storage.queries.answering import NewAnswer, StoredAnswer
from storage.session import run_unit
from surveys.classification import Classifier
from surveys.classification.corpus import Example
from surveys.classification.learned import sha256
from surveys.classification.retraining import retrain
from surveys.classification.service import (
    ClassifyOnArrival,
    classify_answer,
    load_correction_memory,
    reclassify,
    relabel,
)
from surveys.classification.training import train


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    upgrade(engine)
    return engine


def _answer(session: Session, **fields: object) -> Answer:
    customer = Customer(external_id=f"c-{utcnow().timestamp()}-{id(fields)}")
    session.add(customer)
    session.flush()
    answer = Answer(customer_id=customer.id, **fields)  # type: ignore[arg-type]
    session.add(answer)
    session.flush()
    return answer


def _exit_invitation(session: Session) -> tuple[int, int]:
    customer = Customer(external_id=f"exit-{id(session)}")
    session.add(customer)
    session.flush()
    invitation = SurveyInvitation(customer_id=customer.id, survey_key="exit")  # type: ignore[arg-type]
    session.add(invitation)
    session.flush()
    return customer.id, invitation.id  # type: ignore[return-value]


def test_reason_button_alone_is_classified_with_full_confidence(
    engine: Engine, classifier: Classifier
) -> None:
    with Session(engine) as session:
        customer_id, invitation_id = _exit_invitation(session)
        answer = Answer(
            customer_id=customer_id,
            invitation_id=invitation_id,
            survey_key="exit",
            question_key="reason",
            choice_key="price",
        )
        session.add(answer)
        session.flush()
        classify_answer(session=session, answer=answer, classifier=classifier)
        session.commit()
        row = queries.get_classification(session=session, answer_id=answer.id)  # type: ignore[arg-type]
        assert row is not None
        assert (row.category, row.confidence, row.method, row.sentiment) == (
            "price",
            1.0,
            "customer_choice",
            "neutral",
        )
        assert row.classifier_version == classifier.version


def test_details_text_keeps_the_reason_choice_as_primary(
    engine: Engine, classifier: Classifier
) -> None:
    with Session(engine) as session:
        customer_id, invitation_id = _exit_invitation(session)
        session.add(
            Answer(
                customer_id=customer_id,
                invitation_id=invitation_id,
                question_key="reason",
                choice_key="price",
            )
        )
        details = Answer(
            customer_id=customer_id,
            invitation_id=invitation_id,
            question_key="details",
            text="And the app crashes every day!!",
        )
        session.add(details)
        session.flush()
        row = classify_answer(session=session, answer=details, classifier=classifier)
        assert row is not None
        assert row.category == "price"
        assert row.method == "customer_choice"
        assert row.sentiment == "negative"


def test_other_choice_lets_the_text_decide(engine: Engine, classifier: Classifier) -> None:
    with Session(engine) as session:
        customer_id, invitation_id = _exit_invitation(session)
        session.add(
            Answer(
                customer_id=customer_id,
                invitation_id=invitation_id,
                question_key="reason",
                choice_key="other",
            )
        )
        details = Answer(
            customer_id=customer_id,
            invitation_id=invitation_id,
            question_key="details",
            text="We moved everything to Asana",
        )
        session.add(details)
        session.flush()
        row = classify_answer(session=session, answer=details, classifier=classifier)
        assert row is not None
        assert row.category == "competitor"


def test_numeric_only_answer_is_not_classified(engine: Engine, classifier: Classifier) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="csat", numeric_value=4)
        assert classify_answer(session=session, answer=answer, classifier=classifier) is None


def test_unsolicited_feedback_is_classified_on_its_own(
    engine: Engine, classifier: Classifier
) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="zu teuer geworden")
        row = classify_answer(session=session, answer=answer, classifier=classifier)
        assert row is not None
        assert (row.category, row.language, row.needs_review) == ("price", "de", False)


def test_saving_twice_updates_the_same_row(engine: Engine, classifier: Classifier) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="too expensive")
        classify_answer(session=session, answer=answer, classifier=classifier)
        answer.text = "the app keeps crashing"
        row = classify_answer(session=session, answer=answer, classifier=classifier)
        session.commit()
        assert row is not None
        assert row.category == "bugs_reliability"
        stored = queries.get_classification(session=session, answer_id=answer.id)  # type: ignore[arg-type]
        assert stored is not None
        assert stored.category == "bugs_reliability"


def test_correction_overrides_the_automatic_label_and_keeps_who_and_when(
    engine: Engine, classifier: Classifier
) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="they changed everything")
        classify_answer(session=session, answer=answer, classifier=classifier)
        relabel(session=session, answer_id=answer.id, category="felt_ignored", corrected_by="ann")  # type: ignore[arg-type]
        session.commit()
        label = queries.effective_label(session=session, answer_id=answer.id)  # type: ignore[arg-type]
        assert label is not None
        assert (label.category, label.corrected) == ("felt_ignored", True)
        correction = queries.latest_correction(session=session, answer_id=answer.id)  # type: ignore[arg-type]
        assert correction is not None
        assert correction.corrected_by == "ann"
        assert correction.corrected_at.tzinfo is not None


def test_relabel_rejects_unknown_category_and_answer(engine: Engine) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="meh")
        with pytest.raises(ValueError, match="unknown category 'pricing'"):
            relabel(session=session, answer_id=answer.id, category="pricing", corrected_by="a")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="no answer with id 999"):
            relabel(session=session, answer_id=999, category="price", corrected_by="a")


def test_reclassify_keeps_corrections_and_teaches_similar_answers(
    engine: Engine, classifier: Classifier
) -> None:
    text = "the new dashboard hides our weekly numbers"
    with Session(engine) as session:
        corrected = _answer(session, question_key="feedback", text=text)
        similar = _answer(session, question_key="feedback", text=text + "!")
        _answer(session, question_key="csat", numeric_value=2)
        relabel(session=session, answer_id=corrected.id, category="felt_ignored", corrected_by="m")  # type: ignore[arg-type]
        session.commit()
        assert len(load_correction_memory(session=session)) == 1
        count = reclassify(session=session, classifier=classifier)
        session.commit()
        assert count == 2
        row = queries.get_classification(session=session, answer_id=similar.id)  # type: ignore[arg-type]
        assert row is not None
        assert (row.category, row.method) == ("felt_ignored", "correction")
        label = queries.effective_label(session=session, answer_id=corrected.id)  # type: ignore[arg-type]
        assert label is not None
        assert label.corrected


def test_reclassify_since_skips_older_answers(engine: Engine, classifier: Classifier) -> None:
    with Session(engine) as session:
        _answer(
            session, question_key="feedback", text="old", answered_at=utcnow() - timedelta(days=9)
        )
        _answer(session, question_key="feedback", text="new and too expensive")
        session.commit()
        since = utcnow() - timedelta(days=1)
        assert reclassify(session=session, classifier=classifier, since=since) == 1


def _arrive(
    engine: Engine,
    hook: ClassifyOnArrival,
    text: str,
    *,
    question_key: str = "feedback",
    answers: tuple[StoredAnswer, ...] = (),
) -> str:
    """Store `text` through the answer path (after `answers`); return its category."""
    with Session(engine) as session:
        customer_id = _answer(session, question_key="feedback", text="seed").customer_id
        session.commit()
    answer = NewAnswer(
        customer_id=customer_id, question_key=question_key, text=text, answered_at=utcnow()
    )

    def work(session: Session) -> str:
        answer_id = answering.insert_answer(session=session, answer=answer)
        assert answer_id is not None
        result = hook(session=session, answer_id=answer_id, answer=answer, answers=answers)
        assert result is not None
        stored = (
            session.connection()
            .execute(
                text_sql("SELECT category FROM answer_classification WHERE answer_id = :id"),
                {"id": answer_id},
            )
            .scalar_one()
        )
        assert stored == result.category
        return result.category

    return run_unit(engine, work)


def test_answers_arriving_after_each_new_correction_follow_it(
    engine: Engine, classifier: Classifier
) -> None:
    hook = ClassifyOnArrival(classifier)
    first = "the new dashboard hides our weekly numbers"
    second = "nobody from your team called us back about the contract"
    assert _arrive(engine, hook, first + "!") != "felt_ignored"
    with Session(engine) as session:
        corrected = _answer(session, question_key="feedback", text=first)
        relabel(session=session, answer_id=corrected.id, category="felt_ignored", corrected_by="m")  # type: ignore[arg-type]
        session.commit()
    assert _arrive(engine, hook, first + "!!") == "felt_ignored"
    # A second correction, made after the hook built its memory, is learned too.
    before = _arrive(engine, hook, second + ".")
    with Session(engine) as session:
        corrected = _answer(session, question_key="feedback", text=second)
        relabel(session=session, answer_id=corrected.id, category="competitor", corrected_by="m")  # type: ignore[arg-type]
        session.commit()
    assert before != "competitor"
    assert _arrive(engine, hook, second + "!") == "competitor"


def _examples(engine: Engine) -> list[tuple[str, str, str | None, str]]:
    with Session(engine) as session:
        return [
            (row.text, row.category, row.sentiment, row.source)
            for row in queries.list_training_examples(session=session)
        ]


def test_text_next_to_a_tapped_reason_is_kept_as_a_training_example(
    engine: Engine, classifier: Classifier
) -> None:
    hook = ClassifyOnArrival(classifier)
    tapped = (StoredAnswer(id=10_000, question_key="reason", choice_key="felt_ignored"),)
    category = _arrive(
        engine, hook, "you never once checked in on us", question_key="details", answers=tapped
    )
    _arrive(
        engine,
        hook,
        "meh",
        question_key="details",
        answers=(StoredAnswer(id=10_001, question_key="reason", choice_key="other"),),
    )
    _arrive(engine, hook, "too expensive")
    assert category == "felt_ignored"
    assert _examples(engine) == [
        ("you never once checked in on us", "felt_ignored", None, ExampleSource.BUTTON)
    ]


def test_a_relabel_of_a_text_answer_is_kept_as_a_training_example(engine: Engine) -> None:
    with Session(engine) as session:
        text_answer = _answer(session, question_key="feedback", text="  they changed it all \x00")
        button = _answer(session, question_key="reason", choice_key="price")
        for answer in (text_answer, button):
            relabel(
                session=session,
                answer_id=answer.id,  # type: ignore[arg-type]
                category="low_value",
                sentiment="negative",
                corrected_by="ann",
            )
        session.commit()
    assert _examples(engine) == [
        ("they changed it all", "low_value", "negative", ExampleSource.RELABEL)
    ]


def test_forgetting_a_customer_deletes_their_training_examples(engine: Engine) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="my own words")
        relabel(session=session, answer_id=answer.id, category="other", corrected_by="m")  # type: ignore[arg-type]
        session.commit()
        customer_queries.forget_customer(session=session, customer_id=answer.customer_id)
        session.commit()
        assert session.exec(select(TrainingExample)).all() == []


def test_low_confidence_answers_are_stored_as_needing_review(
    engine: Engine, classifier: Classifier
) -> None:
    unsure = Classifier(classifier.model)
    unsure.review_below = 1.01
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="too expensive")
        row = classify_answer(session=session, answer=answer, classifier=unsure)
        session.commit()
        assert row is not None
        assert row.needs_review is True


def _everything_is(category: str, examples: list[Example]) -> bytes:
    relabelled = [Example(e.text, e.lang, category, e.sentiment) for e in examples]
    return train(relabelled, corpus_hash="test", folds=2).to_bytes()


def test_a_model_stored_by_retrain_is_used_on_the_next_answer_without_restart(
    engine: Engine, classifier: Classifier, small_corpus: list[Example]
) -> None:
    hook = ClassifyOnArrival(classifier)
    assert _arrive(engine, hook, "too expensive") == "price"
    data = _everything_is("competitor", small_corpus[:60])
    with Session(engine) as session:
        queries.save_model(
            session=session, version="test-model", sha256=sha256(data), data=data, figures={}
        )
        session.commit()
    assert _arrive(engine, hook, "too expensive") == "competitor"
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="way too expensive")
        session.commit()
        reclassify(session=session, classifier=classifier)
        session.commit()
        row = queries.get_classification(session=session, answer_id=answer.id)  # type: ignore[arg-type]
        assert row is not None
        assert (row.category, row.classifier_version) == ("competitor", "linear-test-60")


def test_a_stored_model_with_a_wrong_checksum_is_refused(
    engine: Engine, classifier: Classifier, small_corpus: list[Example]
) -> None:
    data = _everything_is("competitor", small_corpus[:60])
    with Session(engine) as session:
        queries.save_model(session=session, version="x", sha256="0" * 64, data=data, figures={})
        session.commit()
        with pytest.raises(ValueError, match="sha256"):
            reclassify(session=session, classifier=classifier)


def test_retrain_refuses_a_worse_model_unless_forced(
    engine: Engine, classifier: Classifier, small_corpus: list[Example]
) -> None:
    with Session(engine) as session:
        answer = _answer(session, question_key="feedback", text="nobody ever called us back")
        relabel(session=session, answer_id=answer.id, category="felt_ignored", corrected_by="m")  # type: ignore[arg-type]
        session.commit()
        refused = retrain(session=session, base=classifier, corpus=small_corpus, folds=2)
        session.commit()
        assert refused.instance_examples == 1
        assert not refused.installed
        assert queries.model_stamp(session=session) is None
        forced = retrain(
            session=session, base=classifier, corpus=small_corpus, folds=2, force=True
        )
        session.commit()
        assert forced.installed
        assert forced.before == refused.before
        stamp = queries.model_stamp(session=session)
        assert stamp is not None
