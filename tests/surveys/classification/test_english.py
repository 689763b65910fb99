"""English polarity and subjectivity are exactly TextBlob's, through the faster path too."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from textblob import TextBlob

from surveys.classification import Classifier
from surveys.classification.classifier import MAX_CHARS
from surveys.classification.english import EnglishSentiment
from surveys.classification.language import clean_markup

from .conftest import REPO_ROOT

AWKWARD = (
    "",
    " ",
    "!!!",
    "?!?! !!",
    ":-(",
    ":)",
    "great :-) but :'( and : - ( too",
    "x - D",
    "( ! ) sure (!)",
    "😞",
    "love it ❤️ 👍👍",
    "not good",
    "not bad",
    "never really good",
    "very bad",
    "really not good at all",
    "extremely helpful!!!",
    "NOT GOOD",
    "VERY BAD SUPPORT!!!",
    "TERRIBLE, Terrible, terrible.",
    "well-known, self-service, top-notch, rip-off, over-the-top",
    "f*cking awful",
    "don't like it, can't use it, it isn't good, won't renew",
    "It’s “fine” I guess… ‘meh’",
    "e.g. the U.S. plan vs. the EU one, Mr. Smith said etc.",
    "Great.\n\nTerrible!\r\nOK?",
    "价格太贵了，而且很难用",
    "너무 비싸요",
    "خیلی گران است و پشتیبانی بد بود",
    "זה היה נורא",
    "<b>bad</b> & good; SELECT * FROM users; -- nice",
    "good " * 800,
    ("The support was slow but the product is great, really. " * 80)[:4000],
)


def _benchmark_texts() -> list[str]:
    path = REPO_ROOT / "benchmarks" / "classify.py"
    spec = importlib.util.spec_from_file_location("classify_benchmark", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [text for text, _language in module.build_texts(10_000)]


@pytest.fixture(scope="module")
def texts(dev_set_path: Path) -> list[str]:
    with dev_set_path.open(encoding="utf-8") as handle:
        dev = [json.loads(line)["text"] for line in handle if line.strip()]
    return [*dev, *_benchmark_texts(), *AWKWARD]


def _differences(texts: list[str], ours: Callable[[str], tuple[float, float]]) -> list[str]:
    differences = []
    for text in texts:
        expected = TextBlob(text).sentiment
        polarity, subjectivity = ours(text)
        if (polarity, subjectivity) != (expected.polarity, expected.subjectivity):
            differences.append(f"{text!r}: {(polarity, subjectivity)} != {tuple(expected)}")
    return differences


def test_english_sentiment_equals_textblob_on_every_text(texts: list[str]) -> None:
    # Exact float equality, so the classifier's rounded figures are equal too.
    assert _differences(texts, EnglishSentiment()) == []


def test_awkward_inputs_are_not_all_neutral() -> None:
    # Guards the comparison above against a path that scores nothing.
    sentiment = EnglishSentiment()
    assert sentiment(":-(")[0] < 0 < sentiment(":)")[0]
    assert sentiment("not good")[0] < 0 < sentiment("good")[0]
    assert sentiment("very bad")[0] < sentiment("bad")[0]


def test_classifier_reports_textblob_figures_for_english(
    classifier: Classifier, texts: list[str]
) -> None:
    differences = []
    for text in texts:
        result = classifier.classify(text)
        if result.language != "en":
            continue
        # The classifier scores the text it classifies: markup removed, cut at MAX_CHARS.
        expected = TextBlob(clean_markup(text)[:MAX_CHARS]).sentiment
        rounded = (round(expected.polarity, 4), round(expected.subjectivity, 4))
        if (result.polarity, result.subjectivity) != rounded:
            differences.append(f"{text!r}: {(result.polarity, result.subjectivity)} != {rounded}")
    assert differences == []
