"""The classifier's rules around the model: choice, corrections, review, odd input."""

from __future__ import annotations

import dataclasses

import pytest

from surveys.classification import CATEGORIES, Classifier, CorrectionMemory, Method


@pytest.mark.parametrize(
    ("text", "language", "category"),
    [
        ("too expensive", None, "price"),
        ("the app crashes every time I open it", None, "bugs_reliability"),
        ("we switched to a competitor", None, "competitor"),
        ("zu teuer", "de", "price"),
    ],
)
def test_plain_reasons_get_their_category(
    classifier: Classifier, text: str, language: str | None, category: str
) -> None:
    result = classifier.classify(text, language=language)
    assert (result.category, result.method) == (category, Method.MODEL)


def test_reason_button_sets_category_with_full_confidence(classifier: Classifier) -> None:
    result = classifier.classify("the app crashes every time", choice="price")
    assert (result.category, result.confidence, result.method) == (
        "price",
        1.0,
        Method.CUSTOMER_CHOICE,
    )
    assert "price" not in result.secondary


def test_other_button_lets_the_text_decide(classifier: Classifier) -> None:
    result = classifier.classify("the app crashes every time", choice="other")
    assert result.method == Method.MODEL
    assert result.category == "bugs_reliability"


@pytest.mark.parametrize("text", ["", "   ", "<b></b>", "***"])
def test_empty_text_is_other_neutral_without_confidence(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert (result.category, result.sentiment, result.confidence) == ("other", "neutral", 0.0)
    assert result.method == Method.EMPTY


@pytest.mark.parametrize(
    "text", ["\x00\x00", "a" * 50_000, "🙂" * 3000, "x\ny\tz", "ÿ" * 10, None, 12345]
)
def test_odd_input_never_raises_and_gives_a_valid_result(
    classifier: Classifier, text: object
) -> None:
    result = classifier.classify(text)  # type: ignore[arg-type]
    assert result.category in CATEGORIES
    assert 0.0 <= result.confidence <= 1.0


def test_language_hint_wins_unless_the_model_is_sure_of_another(classifier: Classifier) -> None:
    assert classifier.classify("ok", language="de").language == "de"
    assert classifier.classify("服务器经常宕机", language="de").language == "zh"


def test_answers_below_the_threshold_need_review(classifier: Classifier) -> None:
    sure = Classifier(classifier.model)
    unsure = Classifier(classifier.model)
    unsure.review_below = 1.01
    text = "the app crashes every time"
    assert sure.classify(text).needs_review is False
    flagged = unsure.classify(text)
    assert flagged.needs_review is True
    assert unsure.classify(text, choice="price").needs_review is False


def test_batch_gives_the_same_answers_as_one_at_a_time(classifier: Classifier) -> None:
    texts = ["too expensive", "", "服务器经常宕机", "NOBODY ANSWERS MY TICKETS!!", "zu teuer"]
    languages = [None, None, "zh", "en", "de"]
    single = [
        classifier.classify(t, language=lang) for t, lang in zip(texts, languages, strict=True)
    ]
    assert classifier.classify_many(texts, languages=languages) == single


def test_result_is_frozen_and_serialisable(classifier: Classifier) -> None:
    result = classifier.classify("too expensive")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.category = "other"  # type: ignore[misc]
    data = result.to_dict()
    assert data["category"] == "price"
    assert isinstance(data["secondary"], list)
    assert set(data) == {
        "category",
        "secondary",
        "sentiment",
        "confidence",
        "language",
        "method",
        "needs_review",
    }


def test_exact_repeat_of_a_corrected_text_follows_the_correction(classifier: Classifier) -> None:
    text = "They kept asking for screenshots I had already sent"
    memory = CorrectionMemory([(text, "felt_ignored", "negative")])
    taught = classifier.with_corrections(memory)
    result = taught.classify(text)
    assert (result.category, result.sentiment, result.method) == (
        "felt_ignored",
        "negative",
        Method.CORRECTION,
    )
    assert taught.classify(text + "!!").category == "felt_ignored"
    assert taught.classify("too expensive").method == Method.MODEL


def test_correction_threshold_separates_edits_from_other_texts() -> None:
    memory = CorrectionMemory()
    assert memory.similarity("too expensive for us", "too expensive for us!") >= memory.threshold
    assert memory.similarity("too expensive", "the app crashes") < memory.threshold


def test_correction_memory_rejects_unknown_categories() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        CorrectionMemory([("text", "nonsense", None)])
