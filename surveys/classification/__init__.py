"""Churn-reason classification: category, sentiment, language and corrections.

No chat-platform imports and no network: the lexicons ship inside the package.
"""

from surveys.classification.classifier import CLASSIFIER_VERSION, Classifier
from surveys.classification.corrections import CorrectionMatch, CorrectionMemory
from surveys.classification.model import (
    CATEGORIES,
    LANGUAGES,
    SENTIMENTS,
    UNKNOWN_LANGUAGE,
    Classification,
)

__all__ = [
    "CATEGORIES",
    "CLASSIFIER_VERSION",
    "LANGUAGES",
    "SENTIMENTS",
    "UNKNOWN_LANGUAGE",
    "Classification",
    "Classifier",
    "CorrectionMatch",
    "CorrectionMemory",
]
