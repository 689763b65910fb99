"""The result type of the churn-reason classifier (its label sets live in surveys.vocabulary)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from surveys.vocabulary import CATEGORIES, LANGUAGES, SENTIMENTS, UNKNOWN_LANGUAGE

__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "SENTIMENTS",
    "UNKNOWN_LANGUAGE",
    "Classification",
    "Method",
]


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
