"""Speed and memory of the churn-reason model on one core, beside TextBlob's bare `.sentiment`.

Texts: the held-out split of the shipped corpus plus variations (prefixes, suffixes, case
changes, emphasis), 10,000 in all; nothing outside the repository is needed. Measured in
one process on the same texts:
- one text at a time, as the answer path calls it (`Classifier.classify`): median and
  95th percentile per text;
- batches of 512, as `churnbot classify --jsonl` does (`Classifier.classify_many`): texts/s;
- the resident memory the loaded model adds (RSS after loading minus before).

    python benchmarks/classify.py [--texts 10000] [--runs 5] [--model FILE ...]

With several `--model` files (e.g. the model before a change, `git show HEAD~1:...`), each
is measured in the same process on the same texts, runs interleaved, so machine load
affects them alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textblob import TextBlob

from surveys.classification import Classifier
from surveys.classification.corpus import read_corpus, split
from surveys.classification.learned import MODEL_PATH, LearnedModel

PREFIXES = ("", "Honestly, ", "Well... ", "TBH ", "To be fair, ", "Sadly ")
SUFFIXES = ("", " Thanks.", "!!", " Bye.", " 😞", " Sorry.")
BATCH = 512


def build_texts(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Return `count` (text, language) pairs derived from the corpus's held-out split."""
    base = split(read_corpus())[1]
    rng = random.Random(seed)
    texts = []
    for index in range(count):
        example = base[index % len(base)]
        text = example.text
        if index >= len(base):
            text = rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)
            if rng.random() < 0.1:
                text = text.upper()
        texts.append((text, example.lang))
    return texts


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def per_text_ms(call: object, texts: list[tuple[str, str]]) -> list[float]:
    timings = []
    clock = time.perf_counter
    for text, language in texts:
        started = clock()
        call(text, language)  # type: ignore[operator]
        timings.append((clock() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", type=Path, action="append", metavar="FILE")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    texts = build_texts(args.texts)
    classifiers = []
    added = []
    for path in args.model or [MODEL_PATH]:
        before = rss_mb()
        classifier = Classifier(LearnedModel.load(path))
        classifier.classify("warm up", language="en")
        added.append(rss_mb() - before)
        classifiers.append((path, classifier))

    def textblob(text: str, _language: str) -> None:
        TextBlob(text).sentiment  # noqa: B018

    single: dict[str, list[float]] = {"TextBlob": []}
    batch_rates: dict[str, list[float]] = {}
    for _ in range(args.runs):
        single["TextBlob"] += per_text_ms(textblob, texts)
        for path, classifier in classifiers:

            def ours(text: str, language: str, classifier: Classifier = classifier) -> None:
                classifier.classify(text, language=language)

            single.setdefault(str(path), []).extend(per_text_ms(ours, texts))
            started = time.perf_counter()
            for start in range(0, len(texts), BATCH):
                chunk = texts[start : start + BATCH]
                classifier.classify_many(
                    [text for text, _ in chunk], languages=[language for _, language in chunk]
                )
            batch_rates.setdefault(str(path), []).append(
                len(texts) / (time.perf_counter() - started)
            )

    def line(name: str, timings: list[float]) -> str:
        ordered = sorted(timings)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        return (
            f"{name:<26} median {statistics.median(timings):.3f} ms, p95 {p95:.3f} ms, "
            f"{1000 / statistics.mean(timings):,.0f} texts/s"
        )

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pinned to one core, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"texts: {len(texts)}, runs: {args.runs}")
    print(line("TextBlob .sentiment:", single["TextBlob"]))
    for (path, classifier), rss in zip(classifiers, added, strict=True):
        model = classifier.model
        print(
            f"model: {path} {classifier.version}, {model.metadata.get('format')}, "
            f"{model.featurizer.size} features, {path.stat().st_size / 1e6:.1f} MB"
        )
        print(line("  classify, one at a time:", single[str(path)]))
        rate = statistics.median(batch_rates[str(path)])
        print(f"  classify_many, batches of {BATCH}: {rate:,.0f} texts/s")
        print(f"  RSS added by the loaded model: {rss:.0f} MB")


if __name__ == "__main__":
    main()
