"""Evaluation of the classifier against labelled JSON lines: the scores in pure Python."""

from __future__ import annotations

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
    """Read labelled JSON lines (`text`, `lang`, `category`, `sentiment`; `id` optional).

    Raises ValueError naming the line for invalid JSON or a missing or unknown label.
    """
    examples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{number}: invalid JSON ({error})") from None
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError(f"{path}:{number}: needs a JSON object with a text")
            if item.get("category") not in CATEGORIES:
                raise ValueError(f"{path}:{number}: missing or unknown category")
            if item.get("sentiment") not in SENTIMENTS:
                raise ValueError(f"{path}:{number}: missing or unknown sentiment")
            examples.append(item)
    return examples


def language_group(language: str) -> str:
    return "en" if language == "en" else "other"


def evaluate(classifier: Classifier, examples: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Classify labelled examples; score category and sentiment per language group and per
    language.

    The language given in each example is passed as the hint, as the survey engine does
    with the customer's language. Returns a JSON-ready dict: "all", "en", "other" and one
    entry per language present, plus the misclassified examples under "errors".
    """
    rows = list(examples)
    results = classifier.classify_many(
        [str(row.get("text") or "") for row in rows],
        languages=[str(row.get("lang") or "") or None for row in rows],
    )
    return report_for(
        rows,
        [(result.category, result.sentiment, result.confidence) for result in results],
    )


def report_for(
    rows: Sequence[Mapping[str, Any]], predicted: Sequence[tuple[str, str, float]]
) -> dict[str, Any]:
    """The `evaluate` report for given predictions (category, sentiment, confidence)."""
    columns: dict[str, dict[str, list[str]]] = {}
    errors: list[dict[str, Any]] = []
    for example, (category, sentiment, confidence) in zip(rows, predicted, strict=True):
        language = str(example.get("lang") or "")
        for group in dict.fromkeys(("all", language_group(language), language or "unknown")):
            column = columns.setdefault(
                group, {"category": [], "sentiment": [], "pred_category": [], "pred_sentiment": []}
            )
            column["category"].append(example["category"])
            column["sentiment"].append(example["sentiment"])
            column["pred_category"].append(category)
            column["pred_sentiment"].append(sentiment)
        if category != example["category"] or sentiment != example["sentiment"]:
            errors.append(
                {
                    "id": example.get("id"),
                    "lang": language,
                    "text": example.get("text"),
                    "gold": [example["category"], example["sentiment"]],
                    "predicted": [category, sentiment],
                    "confidence": confidence,
                }
            )
    report: dict[str, Any] = {}
    for group in sorted(columns, key=_group_order):
        column = columns[group]
        report[group] = {
            "category": score_labels(
                column["category"], column["pred_category"], CATEGORIES
            ).to_dict(),
            "sentiment": score_labels(
                column["sentiment"], column["pred_sentiment"], SENTIMENTS
            ).to_dict(),
        }
    report["errors"] = errors
    return report


def _group_order(group: str) -> tuple[int, str]:
    fixed = ("all", "en", "other")
    return (fixed.index(group), "") if group in fixed else (len(fixed), group)


def headline(report: Mapping[str, Any]) -> dict[str, float]:
    """The figures the targets are stated in, from an `evaluate` report."""
    figures = {}
    for group in ("all", "en", "other"):
        if group in report:
            figures[f"{group}_category_macro_f1"] = report[group]["category"]["macro_f1"]
            figures[f"{group}_sentiment_accuracy"] = report[group]["sentiment"]["accuracy"]
    return figures
