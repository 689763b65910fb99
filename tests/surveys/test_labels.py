"""The one rule for the label that counts (surveys/labels.py), on plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from surveys.labels import Automatic, Label, label_that_counts


@dataclass(frozen=True)
class _Correction:
    category: str
    sentiment: str | None
    corrected_at: datetime
    id: int | None


def _at(hour: int) -> datetime:
    return datetime(2026, 11, 10, hour, tzinfo=UTC)


def test_the_latest_correction_of_either_answer_wins_and_keeps_the_automatic_sentiment() -> None:
    label = label_that_counts(
        corrections=[
            _Correction("competitor", None, _at(10), 2),
            _Correction("price", None, _at(9), 1),
        ],
        reason=Automatic("price", "neutral", needs_review=True),
        details=Automatic("low_value", "negative"),
    )
    assert label == Label("competitor", "negative", corrected=True, needs_review=False)


def test_other_falls_back_to_the_details_label() -> None:
    label = label_that_counts(
        corrections=[],
        reason=Automatic("other", "neutral"),
        details=Automatic("bugs_reliability", "negative", needs_review=True),
    )
    assert label == Label("bugs_reliability", "negative", corrected=False, needs_review=True)


def test_the_customer_choice_counts_when_nothing_classified_the_reason() -> None:
    label = label_that_counts(corrections=[], reason=None, choice="price")
    assert label is not None
    assert (label.category, label.corrected) == ("price", False)


def test_an_answer_nothing_labelled_has_no_label() -> None:
    assert label_that_counts(corrections=[], reason=None) is None
