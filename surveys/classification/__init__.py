"""Churn-reason classification: a learned model for category, sentiment and language, the
customer's own choice and managers' corrections.

No chat-platform imports and no network: the model and its corpus ship inside the package.
"""

from surveys.classification.classifier import Classifier
from surveys.classification.corrections import CorrectionMatch, CorrectionMemory
from surveys.classification.model import (
    CATEGORIES,
    LANGUAGES,
    SENTIMENTS,
    UNKNOWN_LANGUAGE,
    Classification,
    Method,
)

__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "SENTIMENTS",
    "UNKNOWN_LANGUAGE",
    "Classification",
    "Classifier",
    "CorrectionMatch",
    "CorrectionMemory",
    "Method",
]
