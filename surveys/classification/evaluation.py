"""Evaluation of the classifier against labelled JSON lines: pure Python, no sklearn."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surveys.classification.classifier import Classifier
from surveys.classification.model import CATEGORIES, SENTIMENTS

GROUPS = ("all", "en", "other")


@dataclass(frozen=True, slots=True)
class LabelScores:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix."""

    labels: tuple[str, ...]
    count: int
    accuracy: float
    macro_f1: float
    per_label: dict[str, dict[str, float]]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_label": self.per_label,
            "confusion": self.confusion,
        }


def score_labels(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> LabelScores:
    """Score predictions; macro-F1 averages over the labels present in gold or predictions."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    confusion = {truth: dict.fromkeys(labels, 0) for truth in labels}
    for truth, guess in zip(gold, predicted, strict=True):
        confusion.setdefault(truth, dict.fromkeys(labels, 0))
        confusion[truth][guess] = confusion[truth].get(guess, 0) + 1
    per_label: dict[str, dict[str, float]] = {}
    for label in labels:
        true_positive = confusion.get(label, {}).get(label, 0)
        support = sum(confusion.get(label, {}).values())
        predicted_count = sum(row.get(label, 0) for row in confusion.values())
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
            "predicted": predicted_count,
        }
    present = [
        label for label in labels if per_label[label]["support"] or per_label[label]["predicted"]
    ]
    macro = sum(per_label[label]["f1"] for label in present) / len(present) if present else 0.0
    correct = sum(1 for truth, guess in zip(gold, predicted, strict=True) if truth == guess)
    return LabelScores(
        labels=tuple(labels),
        count=len(gold),
        accuracy=round(correct / len(gold), 4) if gold else 0.0,
        macro_f1=round(macro, 4),
        per_label=per_label,
        confusion=confusion,
    )


def read_labelled(path: Path) -> list[dict[str, Any]]:
    """Read labelled JSON lines (`id`, `text`, `lang`, `category`, `sentiment`)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def in_tuning_part(example_id: str, *, percent: int = 70) -> bool:
    """Deterministic split: an id belongs to the tuning part when its hash says so."""
    digest = hashlib.sha256(example_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def language_group(language: str) -> str:
    return "en" if language == "en" else "other"


def evaluate(classifier: Classifier, examples: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Classify labelled examples; score category and sentiment per language group.

    The language given in each example is passed as the hint, as the survey engine does
    with the customer's language. Returns a JSON-ready dict, including the misclassified
    examples under "errors".
    """
    gold: dict[str, dict[str, list[str]]] = {
        group: {"category": [], "sentiment": [], "pred_category": [], "pred_sentiment": []}
        for group in GROUPS
    }
    errors: list[dict[str, Any]] = []
    for example in examples:
        language = str(example.get("lang") or "")
        result = classifier.classify(str(example.get("text") or ""), language=language or None)
        for group in ("all", language_group(language)):
            gold[group]["category"].append(example["category"])
            gold[group]["sentiment"].append(example["sentiment"])
            gold[group]["pred_category"].append(result.category)
            gold[group]["pred_sentiment"].append(result.sentiment)
        if result.category != example["category"] or result.sentiment != example["sentiment"]:
            errors.append(
                {
                    "id": example.get("id"),
                    "lang": language,
                    "text": example.get("text"),
                    "gold": [example["category"], example["sentiment"]],
                    "predicted": [result.category, result.sentiment],
                    "method": result.method,
                }
            )
    report: dict[str, Any] = {}
    for group, columns in gold.items():
        if not columns["category"]:
            continue
        report[group] = {
            "category": score_labels(
                columns["category"], columns["pred_category"], CATEGORIES
            ).to_dict(),
            "sentiment": score_labels(
                columns["sentiment"], columns["pred_sentiment"], SENTIMENTS
            ).to_dict(),
        }
    report["errors"] = errors
    return report
