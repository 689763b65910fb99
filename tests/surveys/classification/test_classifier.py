"""Behaviour of the classifier on single texts."""

from __future__ import annotations

import pytest

from surveys.classification import CATEGORIES, Classifier, CorrectionMemory


def test_plain_price_reason_is_price_and_neutral(classifier: Classifier) -> None:
    result = classifier.classify("way too expensive for what we use")
    assert result.category == "price"
    assert result.sentiment == "neutral"
    assert result.language == "en"
    assert result.method == "rules:en"
    assert result.polarity is not None


def test_negated_price_points_to_the_reason_after_it(classifier: Classifier) -> None:
    result = classifier.classify("Not that it's expensive, but support never answered my ticket.")
    assert result.category == "poor_support"
    assert "price" not in result.secondary


def test_contrast_weights_the_clause_after_it(classifier: Classifier) -> None:
    result = classifier.classify(
        "The interface is a bit confusing, but the real problem is it crashes daily"
    )
    assert result.category == "bugs_reliability"
    assert "hard_to_use" in result.secondary


def test_switch_to_a_cheaper_competitor_is_competitor(classifier: Classifier) -> None:
    assert classifier.classify("Switched to Pipedrive, it's cheaper").category == "competitor"


def test_wrong_charge_is_billing_issue_not_price(classifier: Classifier) -> None:
    result = classifier.classify("You charged me twice this month")
    assert result.category == "billing_issue"
    assert result.sentiment == "negative"


def test_praise_with_factual_reason_is_positive(classifier: Classifier) -> None:
    result = classifier.classify("Great product, thank you! We're closing the business though.")
    assert result.category == "no_longer_needed"
    assert result.sentiment == "positive"


def test_praise_with_a_failure_is_negative(classifier: Classifier) -> None:
    result = classifier.classify("Lovely team, but the app keeps crashing and I lost my data")
    assert result.sentiment == "negative"


def test_emphasis_makes_a_factual_reason_negative(classifier: Classifier) -> None:
    assert classifier.classify("WAY TOO EXPENSIVE!!").sentiment == "negative"


def test_reason_button_sets_category_with_full_confidence(classifier: Classifier) -> None:
    result = classifier.classify("the app crashes all the time, thanks anyway", choice="price")
    assert result.category == "price"
    assert result.confidence == 1.0
    assert result.method == "customer_choice"
    assert "bugs_reliability" in result.secondary


def test_other_button_lets_the_text_decide(classifier: Classifier) -> None:
    result = classifier.classify("moved to Trello", choice="other")
    assert result.category == "competitor"
    assert result.method == "rules:en"


@pytest.mark.parametrize(
    ("text", "language", "category"),
    [
        ("Das ist uns einfach zu teuer geworden.", "de", "price"),
        ("Nos pasamos a otra compañía.", "es", "competitor"),
        ("A program folyton lefagy.", "hu", "bugs_reliability"),
        ("Vairs nav vajadzīgs, pārceļos uz citu pilsētu.", "lv", "no_longer_needed"),
        ("پشتیبانی اصلا جواب نداد", "fa", "poor_support"),
        ("发票开错了两次", "zh", "billing_issue"),
        ("가격이 너무 비싸요", "ko", "price"),
    ],
)
def test_each_language_is_detected_and_classified(
    classifier: Classifier, text: str, language: str, category: str
) -> None:
    result = classifier.classify(text)
    assert result.language == language
    assert result.category == category
    assert result.method == f"lexicon:{language}"
    assert result.polarity is None
    assert result.subjectivity is None


def test_persian_arabic_letter_variants_match_alike(classifier: Classifier) -> None:
    persian = classifier.classify("قیمت خیلی گران است")
    arabic_keyboard = classifier.classify("قيمت خيلي گران است")
    assert persian.category == arabic_keyboard.category == "price"


def test_language_hint_is_used_when_the_script_agrees(classifier: Classifier) -> None:
    assert classifier.classify("no", language="es").language == "es"
    assert classifier.classify("가격", language="en").language == "ko"


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "🙂🙂🙂", "😡", "???", "12345", "\x00\x01"],
)
def test_empty_or_emoji_only_text_is_other_neutral_low_confidence(
    classifier: Classifier, text: str
) -> None:
    result = classifier.classify(text)
    assert result.category == "other"
    assert result.sentiment in {"neutral", "negative", "positive"}
    assert result.confidence <= 0.3


def test_emoji_only_text_is_other_neutral_low_confidence(classifier: Classifier) -> None:
    result = classifier.classify("🤷‍♀️🤷‍♀️")
    assert (result.category, result.sentiment, result.language) == ("other", "neutral", "unknown")
    assert result.confidence < 0.3


@pytest.mark.parametrize(
    "text",
    [
        "too expensive " * 400,
        "x" * 10_000,
        "<script>alert('x')</script><b>too expensive</b>",
        "**bold** [link](http://example.com) `code` # heading",
        "'; DROP TABLE answer; --",
        "Слишком дорого, 太贵了, zu teuer, درباره",
        "\ud800 broken surrogate",
        "a\u200cb\u200dc\u200f",
    ],
)
def test_odd_input_never_raises_and_gives_a_valid_result(
    classifier: Classifier, text: str
) -> None:
    result = classifier.classify(text)
    assert result.category in CATEGORIES
    assert 0.0 <= result.confidence <= 1.0
    assert result.to_dict()["secondary"] == list(result.secondary)


def test_markup_is_ignored_but_its_words_count(classifier: Classifier) -> None:
    assert classifier.classify("<p>The app <b>crashes</b> constantly</p>").category == (
        "bugs_reliability"
    )


def test_result_is_frozen_and_serialisable(classifier: Classifier) -> None:
    result = classifier.classify("card declined")
    with pytest.raises(AttributeError):
        result.category = "price"  # type: ignore[misc]
    assert set(result.to_dict()) == {
        "category",
        "secondary",
        "sentiment",
        "polarity",
        "subjectivity",
        "confidence",
        "language",
        "method",
    }


def test_correction_teaches_similar_texts(classifier: Classifier) -> None:
    text = "The new dashboard layout hides our weekly numbers"
    before = classifier.classify(text)
    memory = CorrectionMemory([(text, "felt_ignored", "negative")])
    taught = classifier.with_corrections(memory)
    similar = taught.classify("the new dashboard layout hides our weekly numbers!")
    assert similar.category == "felt_ignored"
    assert similar.method == "correction"
    assert similar.sentiment == "negative"
    unrelated = taught.classify("too expensive for us")
    assert unrelated.category == "price"
    assert classifier.classify(text) == before  # the original classifier is unchanged


def test_correction_threshold_separates_edits_from_other_texts() -> None:
    memory = CorrectionMemory()
    assert memory.similarity("The app keeps logging me out", "the app keeps loging me out") >= 0.6
    assert memory.similarity("The app keeps logging me out", "The app is too expensive") < 0.6


def test_correction_memory_rejects_unknown_categories() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        CorrectionMemory([("text", "expensive", None)])
