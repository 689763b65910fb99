"""The training corpus shipped with the package: reading, checking, hashing, splitting.

The corpus lives in `surveys/classification/corpus/<lang>/<category>.jsonl`, one JSON object
a line: `{"text", "lang", "category", "sentiment", "domain", "style"}` (docs/corpus.md).

Near-duplicates: two texts are near-duplicates when the Jaccard index of their character
3-gram sets (after `dedup_key`: the classifier's normalisation, punctuation and emoji removed)
is at least `NEAR_DUPLICATE_THRESHOLD` (0.8). At 0.8 a one-letter typo in a four-word answer
is a near-duplicate ("too pricey" / "too pricy" is 0.73, so those two both stay), while two
answers about the same topic in different words share far fewer 3-grams.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surveys.classification.corrections import trigrams
from surveys.classification.language import normalise
from surveys.classification.model import CATEGORIES, LANGUAGES, SENTIMENTS

CORPUS_DIR = Path(__file__).with_name("corpus")
NEAR_DUPLICATE_THRESHOLD = 0.8
MIN_ENGLISH = 3000
MIN_OTHER = 300
MIN_TOTAL = 6000
MIN_CATEGORY_SHARE = 0.06
MAX_TEXT_CHARS = 4000
# Every text whose hash falls in the last HELD_OUT_PERCENT of 100 buckets is held out: the
# shipped model never sees it, and `retrain` compares models on it.
HELD_OUT_PERCENT = 15
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled answer of the corpus."""

    text: str
    lang: str
    category: str
    sentiment: str
    domain: str = ""
    style: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lang": self.lang,
            "category": self.category,
            "sentiment": self.sentiment,
            "domain": self.domain,
            "style": list(self.style),
        }


@dataclass
class CheckReport:
    """What `check_corpus` found: problems make it fail, notes are informational."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def dedup_key(text: str) -> str:
    """The form two texts are compared in: normalised, without punctuation (texts of only
    emoji or punctuation keep them, so "💸💸" and "👎" stay different)."""
    normalised = normalise(text)
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", normalised)).strip() or normalised


def is_held_out(text: str) -> bool:
    """Whether a text belongs to the shipped held-out split (deterministic, by hash)."""
    digest = hashlib.sha256(dedup_key(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 >= 100 - HELD_OUT_PERCENT


def parse_line(line: str, *, where: str) -> Example:
    """Parse and validate one corpus line; raises ValueError naming `where` and the problem."""
    try:
        item = json.loads(line)
    except ValueError as error:
        raise ValueError(f"{where}: invalid JSON ({error})") from None
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a line must be a JSON object")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: empty or missing text")
    if "\x00" in text or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"{where}: text has NUL or is longer than {MAX_TEXT_CHARS} characters")
    for key, allowed in (("lang", LANGUAGES), ("category", CATEGORIES), ("sentiment", SENTIMENTS)):
        if item.get(key) not in allowed:
            raise ValueError(f"{where}: unknown {key} {item.get(key)!r}")
    style = item.get("style") or []
    if not isinstance(style, list) or not all(isinstance(tag, str) for tag in style):
        raise ValueError(f"{where}: style must be a list of strings")
    return Example(
        text=text,
        lang=item["lang"],
        category=item["category"],
        sentiment=item["sentiment"],
        domain=str(item.get("domain") or ""),
        style=tuple(style),
    )


def corpus_files(directory: Path) -> list[Path]:
    """The corpus files in a fixed order (language, then category), so reads are stable."""
    return sorted(directory.glob("*/*.jsonl"))


def _category_of(path: Path) -> str:
    """The category a corpus file holds: its name up to the first dot."""
    return path.name.split(".", 1)[0]


def read_corpus(directory: Path = CORPUS_DIR) -> list[Example]:
    """Read every example; raises ValueError at the first malformed line."""
    examples = []
    for path in corpus_files(directory):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    examples.append(parse_line(line, where=f"{path}:{number}"))
    return examples


def corpus_hash(examples: Iterable[Example]) -> str:
    """A sha256 over the labelled content (text, language, labels) in corpus order."""
    digest = hashlib.sha256()
    for example in examples:
        row = [example.text, example.lang, example.category, example.sentiment]
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


class NearDuplicateIndex:
    """Finds, for each added text, an earlier text at or above the Jaccard threshold.

    Prefix filtering keeps this exact and fast: with grams sorted rarest first, two sets
    with Jaccard >= t must share one of the first |A| - ceil(t·|A|) + 1 grams of each.
    """

    def __init__(self, frequencies: Counter[str], threshold: float) -> None:
        self._frequencies = frequencies
        self._threshold = threshold
        self._sets: list[frozenset[str]] = []
        self._keys: list[str] = []
        self._prefix_index: dict[str, list[int]] = {}

    def _prefix(self, grams: frozenset[str]) -> list[str]:
        ordered = sorted(grams, key=lambda gram: (self._frequencies[gram], gram))
        size = len(ordered) - math.ceil(self._threshold * len(ordered)) + 1
        return ordered[: max(1, size)]

    def find(self, grams: frozenset[str]) -> tuple[str, float] | None:
        """The most similar indexed text at or above the threshold, with its similarity."""
        best: tuple[str, float] | None = None
        seen: set[int] = set()
        for gram in self._prefix(grams):
            for position in self._prefix_index.get(gram, ()):
                if position in seen:
                    continue
                seen.add(position)
                other = self._sets[position]
                similarity = len(grams & other) / len(grams | other)
                if similarity >= self._threshold and (best is None or similarity > best[1]):
                    best = (self._keys[position], similarity)
        return best

    def add(self, key: str, grams: frozenset[str]) -> None:
        position = len(self._sets)
        self._sets.append(grams)
        self._keys.append(key)
        for gram in self._prefix(grams):
            self._prefix_index.setdefault(gram, []).append(position)


def find_duplicates(
    examples: Sequence[Example],
    *,
    forbidden: Sequence[str] = (),
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> dict[int, str]:
    """Map the index of each example to drop to the reason why.

    An example is dropped when its text matches a `forbidden` text (exactly after
    normalisation, or as a near-duplicate), or an earlier example's text. The first of a
    group stays, so the result depends only on the order of `examples`.
    """
    keys = [dedup_key(example.text) for example in examples]
    forbidden_keys = [dedup_key(text) for text in forbidden]
    grams = [trigrams(key) for key in keys]
    forbidden_grams = [trigrams(key) for key in forbidden_keys]
    frequencies: Counter[str] = Counter()
    for gram_set in (*grams, *forbidden_grams):
        frequencies.update(gram_set)
    dev_index = NearDuplicateIndex(frequencies, threshold)
    for key, gram_set in zip(forbidden_keys, forbidden_grams, strict=True):
        dev_index.add(key, gram_set)
    forbidden_exact = set(forbidden_keys)
    index = NearDuplicateIndex(frequencies, threshold)
    exact: dict[str, int] = {}
    dropped: dict[int, str] = {}
    for position, (key, gram_set) in enumerate(zip(keys, grams, strict=True)):
        if not key:
            dropped[position] = "no words left after normalisation"
            continue
        if key in forbidden_exact:
            dropped[position] = "appears in the dev set"
            continue
        dev_match = dev_index.find(gram_set)
        if dev_match is not None:
            dropped[position] = f"near-duplicate of a dev-set text ({dev_match[1]:.2f})"
            continue
        if key in exact:
            dropped[position] = f"exact duplicate of example {exact[key] + 1}"
            continue
        match = index.find(gram_set)
        if match is not None:
            dropped[position] = f"near-duplicate ({match[1]:.2f}) of “{match[0][:60]}”"
            continue
        exact[key] = position
        index.add(key, gram_set)
    return dropped


def count_problems(examples: Sequence[Example]) -> list[str]:
    """Minimum counts per language and each category's share of each language's rows."""
    problems = []
    per_language = Counter(example.lang for example in examples)
    if len(examples) < MIN_TOTAL:
        problems.append(f"{len(examples)} examples in all, fewer than {MIN_TOTAL}")
    for language in LANGUAGES:
        needed = MIN_ENGLISH if language == "en" else MIN_OTHER
        if per_language[language] < needed:
            problems.append(f"{language}: {per_language[language]} examples, fewer than {needed}")
    cells = Counter((example.lang, example.category) for example in examples)
    for language in LANGUAGES:
        total = per_language[language]
        for category in CATEGORIES:
            share = cells[language, category] / total if total else 0.0
            if share < MIN_CATEGORY_SHARE:
                problems.append(
                    f"{language}/{category}: {share:.1%} of the language's examples, "
                    f"less than {MIN_CATEGORY_SHARE:.0%}"
                )
    return problems


def read_dev_texts(path: Path) -> list[str]:
    """The texts of the external dev set (only ever compared against, never trained on)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def check_corpus(directory: Path = CORPUS_DIR, *, dev_set: Path | None = None) -> CheckReport:
    """Check a corpus directory: format, labels, duplicates, dev-set overlap and counts."""
    report = CheckReport()
    examples: list[Example] = []
    for path in corpus_files(directory):
        language, category = path.parent.name, _category_of(path)
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path.relative_to(directory)}:{number}"
                try:
                    example = parse_line(line, where=where)
                except ValueError as error:
                    report.problems.append(str(error))
                    continue
                if (example.lang, example.category) != (language, category):
                    report.problems.append(f"{where}: labelled {example.lang}/{example.category}")
                examples.append(example)
    forbidden: list[str] = []
    if dev_set is not None and dev_set.is_file():
        forbidden = read_dev_texts(dev_set)
        report.notes.append(f"compared with the {len(forbidden)} texts of {dev_set}")
    else:
        report.notes.append(f"dev set not found at {dev_set}: overlap check skipped")
    for position, reason in sorted(find_duplicates(examples, forbidden=forbidden).items()):
        example = examples[position]
        report.problems.append(
            f"{example.lang}/{example.category} “{example.text[:60]}”: {reason}"
        )
    report.problems.extend(count_problems(examples))
    report.notes.append(f"{len(examples)} examples read from {directory}")
    return report


def import_corpus(
    source: Path, destination: Path, *, dev_set: Path | None = None
) -> tuple[int, list[str]]:
    """Copy a staging corpus into the package, dropping bad lines and (near-)duplicates.

    Deterministic: files are read in sorted order and the first of a group stays. Returns
    the number of examples written and one line per example dropped.
    """
    examples: list[Example] = []
    dropped_lines: list[str] = []
    for path in corpus_files(source):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path.relative_to(source)}:{number}"
                try:
                    example = parse_line(line, where=where)
                except ValueError as error:
                    dropped_lines.append(str(error))
                    continue
                # Staging may split a category over several files: price.jsonl, price.extra.jsonl.
                if (example.lang, example.category) != (path.parent.name, _category_of(path)):
                    dropped_lines.append(f"{where}: labelled {example.lang}/{example.category}")
                    continue
                examples.append(example)
    forbidden = read_dev_texts(dev_set) if dev_set is not None and dev_set.is_file() else []
    drops = find_duplicates(examples, forbidden=forbidden)
    for position, reason in sorted(drops.items()):
        example = examples[position]
        dropped_lines.append(f"{example.lang}/{example.category} “{example.text[:60]}”: {reason}")
    kept: dict[tuple[str, str], list[Example]] = {}
    for position, example in enumerate(examples):
        if position not in drops:
            kept.setdefault((example.lang, example.category), []).append(example)
    for old in corpus_files(destination):
        old.unlink()
    for (language, category), rows in sorted(kept.items()):
        path = destination / language / f"{category}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            for example in rows:
                handle.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
    return sum(len(rows) for rows in kept.values()), dropped_lines


def split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(training part, held-out part) of the corpus, by `is_held_out`."""
    train: list[Example] = []
    held_out: list[Example] = []
    for example in examples:
        (held_out if is_held_out(example.text) else train).append(example)
    return train, held_out


def counts_table(examples: Sequence[Example]) -> str:
    """Markdown tables of the corpus's counts (docs/corpus.md embeds them; a test keeps
    them current): language × category, language × sentiment, style tags per language."""
    cells = Counter((example.lang, example.category) for example in examples)
    moods = Counter((example.lang, example.sentiment) for example in examples)
    per_language = Counter(example.lang for example in examples)
    lines = ["| category | " + " | ".join(LANGUAGES) + " | total |"]
    lines.append("|---|" + "---:|" * (len(LANGUAGES) + 1))
    for category in CATEGORIES:
        row = [cells[language, category] for language in LANGUAGES]
        lines.append(f"| {category} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    lines.append(
        "| **total** | "
        + " | ".join(f"**{per_language[language]}**" for language in LANGUAGES)
        + f" | **{len(examples)}** |"
    )
    lines += ["", "| sentiment | " + " | ".join(LANGUAGES) + " | total |"]
    lines.append("|---|" + "---:|" * (len(LANGUAGES) + 1))
    for sentiment in SENTIMENTS:
        row = [moods[language, sentiment] for language in LANGUAGES]
        lines.append(f"| {sentiment} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    styles = Counter((example.lang, tag) for example in examples for tag in set(example.style))
    tags = sorted({tag for _language, tag in styles})
    lines += ["", "| style tag | " + " | ".join(LANGUAGES) + " | total |"]
    lines.append("|---|" + "---:|" * (len(LANGUAGES) + 1))
    for tag in tags:
        row = [styles[language, tag] for language in LANGUAGES]
        lines.append(f"| {tag} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    return "\n".join(lines) + "\n"
