"""The closed sets every part of churnbot shares: churn categories, sentiments, languages.

Defined once here; the classifier, the reports, the Slack menus, the commands and the
survey definitions (`churnbot surveys check`) all take them from this module. The order of
`Category` and `Sentiment` is the order of the shipped model's output heads: append, never
reorder (a new category also needs a retrained model and corpus rows).
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Final


class Category(enum.StrEnum):
    """Why a customer left (or is unhappy): the label of a reason or details answer."""

    PRICE = "price"
    LOW_VALUE = "low_value"
    MISSING_FEATURES = "missing_features"
    BUGS_RELIABILITY = "bugs_reliability"
    POOR_SUPPORT = "poor_support"
    FELT_IGNORED = "felt_ignored"
    COMPETITOR = "competitor"
    HARD_TO_USE = "hard_to_use"
    NO_LONGER_NEEDED = "no_longer_needed"
    BILLING_ISSUE = "billing_issue"
    OTHER = "other"

    @property
    def label(self) -> str:
        """How managers read it (Slack menus, summaries, the terminal)."""
        return CATEGORY_LABELS[self]


CATEGORY_LABELS: Final = MappingProxyType(
    {
        Category.PRICE: "Price",
        Category.LOW_VALUE: "Not worth it",
        Category.MISSING_FEATURES: "Missing features",
        Category.BUGS_RELIABILITY: "Bugs / reliability",
        Category.POOR_SUPPORT: "Poor support",
        Category.FELT_IGNORED: "Felt ignored",
        Category.COMPETITOR: "Switched to a competitor",
        Category.HARD_TO_USE: "Hard to use",
        Category.NO_LONGER_NEEDED: "No longer needed",
        Category.BILLING_ISSUE: "Billing issue",
        Category.OTHER: "Other",
    }
)


class Sentiment(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


CATEGORIES: Final[tuple[str, ...]] = tuple(Category)
SENTIMENTS: Final[tuple[str, ...]] = tuple(Sentiment)
# The languages the bot speaks and the classifier knows, in the model's head order.
LANGUAGES: Final[tuple[str, ...]] = ("en", "hu", "lv", "fa", "zh", "ko", "es", "de")
UNKNOWN_LANGUAGE: Final = "unknown"


def category_label(category: str) -> str:
    """The label of a category; a value outside the set (an old row) is shown readably."""
    if category in CATEGORIES:
        return Category(category).label
    return category.replace("_", " ").capitalize()
