"""Throughput of the classifier on one core, and its ratio to TextBlob's bare `.sentiment`.

Texts: the dev set's answers (read in place from ../shared/data) plus variations (prefixes,
suffixes, case changes, emphasis), 10,000 in all. Each measurement is the median of several
runs; both are measured in the same process on the same texts.

    python benchmarks/classify.py [--texts 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textblob import TextBlob

from surveys.classification import Classifier

DEV_SET = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "churn_reasons_dev.jsonl"
)
PREFIXES = ("", "Honestly, ", "Well... ", "TBH ", "To be fair, ", "Sadly ")
SUFFIXES = ("", " Thanks.", "!!", " Bye.", " 😞", " Sorry.")


def build_texts(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Return `count` (text, language) pairs derived from the dev set."""
    with DEV_SET.open(encoding="utf-8") as handle:
        base = [json.loads(line) for line in handle if line.strip()]
    rng = random.Random(seed)
    texts = []
    for index in range(count):
        row = base[index % len(base)]
        text = row["text"]
        if index >= len(base):
            text = rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)
            if rng.random() < 0.1:
                text = text.upper()
        texts.append((text, row["lang"]))
    return texts


def median_rate(work: Callable[[], None], count: int, runs: int) -> float:
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    texts = build_texts(args.texts)
    classifier = Classifier.load()

    def classify_all() -> None:
        for text, _language in texts:
            classifier.classify(text)

    def textblob_all() -> None:
        for text, _language in texts:
            TextBlob(text).sentiment  # noqa: B018

    classify_all()  # warm up caches and compiled patterns
    ours = median_rate(classify_all, len(texts), args.runs)
    bare = median_rate(textblob_all, len(texts), args.runs)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pinned to one core"
    )
    print(f"texts: {len(texts)}, runs: {args.runs} (median)")
    print(f"classifier:          {ours:,.0f} texts/s")
    print(f"TextBlob .sentiment: {bare:,.0f} texts/s")
    print(f"ratio classifier / TextBlob: {ours / bare:.2f}")


if __name__ == "__main__":
    main()
