"""The churn-reason classifier: the learned model, plus the customer's choice and corrections.

Order of authority for the category: a reason button the customer tapped (other than
"other"), then a manager's correction of the same or a very similar text (see
corrections.py), then the learned model (learned.py). A model answer whose calibrated
probability is below the model's `review_below` is marked `needs_review`.
"""

from __future__ import annotations

from collections.abc import Sequence

from surveys.classification.corrections import CorrectionMemory
from surveys.classification.language import normalise
from surveys.classification.learned import LearnedModel, Prediction, prepare
from surveys.classification.model import (
    CATEGORIES,
    LANGUAGES,
    UNKNOWN_LANGUAGE,
    Classification,
    Method,
)

# The customer's language hint wins unless the model is at least this sure of another one.
LANGUAGE_OVERRIDE = 0.9
DEFAULT_REVIEW_BELOW = 0.5


class Classifier:
    """Classify churn answers; build once at start-up and pass it where it is needed."""

    def __init__(self, model: LearnedModel, *, corrections: CorrectionMemory | None = None):
        self.model = model
        self._corrections = corrections or CorrectionMemory()
        self.review_below = float(model.metadata.get("review_below", DEFAULT_REVIEW_BELOW))

    @classmethod
    def load(cls, *, corrections: CorrectionMemory | None = None) -> Classifier:
        """Build a classifier from the model shipped with the package."""
        return cls(LearnedModel.load(), corrections=corrections)

    def with_corrections(self, corrections: CorrectionMemory) -> Classifier:
        """Return a classifier sharing this model but consulting `corrections`."""
        return Classifier(self.model, corrections=corrections)

    def with_model(self, model: LearnedModel) -> Classifier:
        """Return a classifier using `model` and the same corrections."""
        return Classifier(model, corrections=self._corrections)

    @property
    def version(self) -> str:
        return self.model.version

    def classify(
        self, text: str, *, language: str | None = None, choice: str | None = None
    ) -> Classification:
        """Classify one answer; never raises on odd input (empty text is other/neutral)."""
        text = text if isinstance(text, str) else str(text or "")
        if not prepare(text).strip():
            return self._empty(language, choice)
        return self._decide(text, self.model.predict(text), language, choice)

    def classify_many(
        self, texts: Sequence[str], *, languages: Sequence[str | None] | None = None
    ) -> list[Classification]:
        """Classify a batch (one sparse product per head); same answers as `classify`."""
        hints = list(languages) if languages is not None else [None] * len(texts)
        present = [index for index, text in enumerate(texts) if prepare(text).strip()]
        predictions = dict(
            zip(present, self.model.predict_many([texts[i] for i in present]), strict=True)
        )
        return [
            self._decide(text, predictions[index], hints[index], None)
            if index in predictions
            else self._empty(hints[index], None)
            for index, text in enumerate(texts)
        ]

    def _decide(
        self, text: str, prediction: Prediction, hint: str | None, choice: str | None
    ) -> Classification:
        language = prediction.language
        hint = (hint or "").strip().lower()[:2]
        if hint in LANGUAGES and prediction.language_probability < LANGUAGE_OVERRIDE:
            language = hint
        sentiment = prediction.sentiment
        secondary = prediction.secondary
        chosen = choice if choice in CATEGORIES and choice != "other" else None
        correction = None if chosen else self._corrections.match(normalise(text))
        if chosen:
            category, confidence, method = chosen, 1.0, Method.CUSTOMER_CHOICE
            secondary = tuple(name for name in secondary if name != chosen)
        elif correction is not None:
            category, confidence = correction.category, correction.similarity
            method = Method.CORRECTION
            sentiment = correction.sentiment or sentiment
            secondary = tuple(name for name in secondary if name != category)
        else:
            category, confidence = prediction.category, prediction.category_probability
            method = Method.MODEL
        return Classification(
            category=category,
            secondary=secondary,
            sentiment=sentiment,
            confidence=round(confidence, 3),
            language=language,
            method=method,
            needs_review=method == Method.MODEL and confidence < self.review_below,
        )

    @staticmethod
    def _empty(hint: str | None, choice: str | None) -> Classification:
        chosen = choice if choice in CATEGORIES and choice != "other" else None
        hint = (hint or "").strip().lower()[:2]
        return Classification(
            category=chosen or "other",
            secondary=(),
            sentiment="neutral",
            confidence=1.0 if chosen else 0.0,
            language=hint if hint in LANGUAGES else UNKNOWN_LANGUAGE,
            method=Method.CUSTOMER_CHOICE if chosen else Method.EMPTY,
        )
