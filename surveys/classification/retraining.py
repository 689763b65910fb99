"""`classify retrain`: refit on the corpus plus this instance's own examples, compare on the
held-out split shipped with the package, and install the new model only if it is no worse.

The model is stored in the database (classifier_model), so every running instance on that
database switches to it on its next text answer, without a restart (see
`service.ClassifyOnArrival`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from storage.queries import classification as queries
from surveys.classification.classifier import Classifier
from surveys.classification.corpus import (
    CORPUS_DIR,
    Example,
    corpus_hash,
    dedup_key,
    read_corpus,
    split,
)
from surveys.classification.evaluation import evaluate, headline
from surveys.classification.learned import sha256
from surveys.classification.model import CATEGORIES, LANGUAGES, SENTIMENTS
from surveys.classification.service import current_model
from surveys.classification.training import FOLDS, train


@dataclass(frozen=True)
class RetrainOutcome:
    """Figures of the model in use and the retrained one on the held-out split."""

    before: dict[str, float]
    after: dict[str, float]
    instance_examples: int
    installed: bool
    version: str

    @property
    def better_or_equal(self) -> bool:
        return score(self.after) >= score(self.before)


def score(figures: dict[str, float]) -> float:
    """The one number models are compared by: category macro-F1 and sentiment accuracy
    over all languages, equally weighted."""
    return (figures["all_category_macro_f1"] + figures["all_sentiment_accuracy"]) / 2


def instance_examples(*, session: Session, held_out: Sequence[Example]) -> list[Example]:
    """This instance's examples, the latest label per text; none that is a held-out text."""
    blocked = {dedup_key(example.text) for example in held_out}
    latest: dict[str, Example] = {}
    for row in queries.list_training_examples(session=session):
        key = dedup_key(row.text)
        if not key or key in blocked or row.category not in CATEGORIES:
            continue
        latest.pop(key, None)
        latest[key] = Example(
            text=row.text,
            lang=row.language if row.language in LANGUAGES else "",
            category=row.category,
            sentiment=row.sentiment if row.sentiment in SENTIMENTS else "",
        )
    return list(latest.values())


def retrain(
    *,
    session: Session,
    base: Classifier,
    force: bool = False,
    corpus: Sequence[Example] | None = None,
    folds: int = FOLDS,
) -> RetrainOutcome:
    """Fit, compare and (if no worse, or forced) store the new model (the caller commits)."""
    examples = list(corpus) if corpus is not None else read_corpus(CORPUS_DIR)
    training, held_out = split(examples)
    extra = instance_examples(session=session, held_out=held_out)
    rows = [_as_labelled(example) for example in held_out]
    current = current_model(session, base)
    before = headline(evaluate(current, rows))
    model = train(
        [*training, *extra], corpus_hash=corpus_hash(examples), extra=len(extra), folds=folds
    )
    model.metadata["version"] = f"{model.version}+{len(extra)}"
    after = headline(evaluate(base.with_model(model), rows))
    outcome = RetrainOutcome(before, after, len(extra), installed=False, version=model.version)
    if outcome.better_or_equal or force:
        data = model.to_bytes()
        figures: dict[str, Any] = {
            "before": before,
            "after": after,
            "instance_examples": len(extra),
        }
        queries.save_model(
            session=session, version=model.version, sha256=sha256(data), data=data, figures=figures
        )
        outcome = RetrainOutcome(before, after, len(extra), installed=True, version=model.version)
    return outcome


def _as_labelled(example: Example) -> dict[str, Any]:
    return {
        "text": example.text,
        "lang": example.lang,
        "category": example.category,
        "sentiment": example.sentiment,
    }
