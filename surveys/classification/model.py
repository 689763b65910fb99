"""The result type of the churn-reason classifier and the fixed label sets."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "price",
    "low_value",
    "missing_features",
    "bugs_reliability",
    "poor_support",
    "felt_ignored",
    "competitor",
    "hard_to_use",
    "no_longer_needed",
    "billing_issue",
    "other",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
LANGUAGES: tuple[str, ...] = ("en", "hu", "lv", "fa", "zh", "ko", "es", "de")
UNKNOWN_LANGUAGE = "unknown"


class Method(enum.StrEnum):
    """How a label was decided."""

    MODEL = "model"
    CUSTOMER_CHOICE = "customer_choice"
    CORRECTION = "correction"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier says about one answer, and how sure it is."""

    category: str
    secondary: tuple[str, ...]
    sentiment: str
    confidence: float
    language: str
    method: str
    needs_review: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (secondary as a list)."""
        data = asdict(self)
        data["secondary"] = list(self.secondary)
        return data
