"""Scoring helpers, the shipped held-out split, and (when present) the external dev set."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveys.classification import Classifier
from surveys.classification.corpus import Example, split
from surveys.classification.evaluation import evaluate, read_labelled, score_labels

# Hand-written texts, one or more per category, beside this file.
PROBE_SET = Path(__file__).with_name("probe_set.jsonl")


def _rows(examples: list[Example]) -> list[dict[str, str]]:
    return [
        {"text": e.text, "lang": e.lang, "category": e.category, "sentiment": e.sentiment}
        for e in examples
    ]


@pytest.fixture(scope="module")
def held_out_report(classifier: Classifier, corpus: list[Example]) -> dict:
    return evaluate(classifier, _rows(split(corpus)[1]))


def test_scores_match_a_hand_computed_example() -> None:
    scores = score_labels(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert scores.accuracy == 0.75
    assert scores.per_label["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2, "predicted": 1}
    )
    assert scores.macro_f1 == pytest.approx((0.6667 + 0.8) / 2, abs=1e-3)
    assert scores.confusion == {"a": {"a": 1, "b": 1}, "b": {"a": 0, "b": 2}}


def test_report_has_groups_languages_and_errors(held_out_report: dict) -> None:
    assert set(held_out_report) >= {"all", "en", "other", "de", "zh", "errors"}
    assert held_out_report["errors"]


def test_held_out_split_english_category_stays_above_floor(held_out_report: dict) -> None:
    assert held_out_report["en"]["category"]["macro_f1"] >= 0.8


def test_held_out_split_english_sentiment_stays_above_floor(held_out_report: dict) -> None:
    assert held_out_report["en"]["sentiment"]["accuracy"] >= 0.78


def test_held_out_split_other_languages_stay_above_floor(held_out_report: dict) -> None:
    assert held_out_report["other"]["category"]["macro_f1"] >= 0.55


def test_probe_set_written_apart_from_the_corpus_stays_above_floor(
    classifier: Classifier,
) -> None:
    report = evaluate(classifier, read_labelled(PROBE_SET))
    assert report["all"]["category"]["accuracy"] >= 0.6


def test_dev_set_english_category_from_a_model_that_never_saw_it(
    classifier: Classifier, dev_set_path: Path
) -> None:
    report = evaluate(classifier, read_labelled(dev_set_path))
    assert report["en"]["category"]["macro_f1"] >= 0.7


def test_labelled_file_without_a_category_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "too expensive", "sentiment": "neutral"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: missing or unknown category"):
        read_labelled(path)
