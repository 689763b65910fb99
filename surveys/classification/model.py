"""The result type of the churn-reason classifier and the fixed label sets."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier says about one answer, and how it decided."""

    category: str
    secondary: tuple[str, ...]
    sentiment: str
    polarity: float | None
    subjectivity: float | None
    confidence: float
    language: str
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (secondary as a list)."""
        data = asdict(self)
        data["secondary"] = list(self.secondary)
        return data
