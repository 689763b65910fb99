"""Per-language lexicons: weighted phrase patterns per category and sentiment cues.

A lexicon is a YAML file in `lexicons/` (one per language). Entries are regular-expression
fragments written in lower case (so only lower-case escapes such as \\w, \\s, \\d, \\b);
they pass through the same normalisation as the texts. In languages written with spaces
(`tokenized: true`) an entry must start at a word boundary but may end anywhere, so a stem
such as `expensiv` covers its inflections; in Chinese and Korean entries match anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from surveys.classification.language import normalise
from surveys.classification.model import CATEGORIES

LEXICON_DIR = Path(__file__).parent / "lexicons"
SENTIMENT_CUES = ("negative", "positive", "neutral")


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class WeightedPattern:
    """All entries of one label with one weight, compiled into one alternation."""

    label: str
    weight: float
    pattern: re.Pattern[str]


_KEY_CHARS = re.compile(r"[^\W\d_][^\W_]")
_STARTS = {True: re.compile(r"(?<!\w)\w"), "latin": re.compile(r"(?<![a-z0-9])[a-z0-9]")}


@dataclass(frozen=True, slots=True)
class PatternSet:
    """Weighted patterns indexed by the first two letters of their entries.

    Instead of scanning the text once per pattern, the classifier tries at each word start
    one pattern holding every entry that begins with that word's first two letters (the
    longest entry wins at a position); entries that do not begin with two literal letters
    are scanned for as usual.
    """

    keyed: dict[str, re.Pattern[str]]
    groups: dict[str, tuple[str, float]]
    scanned: tuple[WeightedPattern, ...]
    starts: re.Pattern[str] | None

    def matches(self, text: str) -> list[tuple[str, float, int, int]]:
        """Return (label, weight, start, end) for every match, strongest weight first."""
        found: list[tuple[str, float, int, int]] = []
        if self.starts is not None and self.keyed:
            keyed, groups = self.keyed, self.groups
            for word in self.starts.finditer(text):
                position = word.start()
                pattern = keyed.get(text[position : position + 2])
                if pattern is not None:
                    match = pattern.match(text, position)
                    if match is not None:
                        label, weight = groups[match.lastgroup or ""]
                        found.append((label, weight, position, match.end()))
        for entry in self.scanned:
            for match in entry.pattern.finditer(text):
                found.append((entry.label, entry.weight, match.start(), match.end()))
        found.sort(key=lambda item: -item[1])
        return found


def _literal_key(fragment: str) -> str | None:
    """The first two characters when they are plain letters not modified by a quantifier."""
    if len(fragment) < 2 or not _KEY_CHARS.match(fragment):
        return None
    if len(fragment) > 2 and fragment[2] in "?*+{":
        return None
    return fragment[:2]


def _indexed(
    groups: Mapping[str, Any], labels: Iterable[str], *, tokenized: bool | str, source: str
) -> PatternSet:
    known = set(labels)
    starts = _STARTS.get(tokenized)
    keyed: dict[str, list[tuple[str, str]]] = {}
    names: dict[str, tuple[str, float]] = {}
    scanned: list[WeightedPattern] = []
    for label, by_weight in (groups or {}).items():
        if label not in known:
            raise LexiconError(f"{source}: unknown label {label!r}")
        for weight, entries in (by_weight or {}).items():
            name = f"g{len(names)}"
            names[name] = (label, float(weight))
            unkeyed: list[str] = []
            for entry in entries or ():
                fragment = normalise(str(entry))
                key = _literal_key(fragment) if starts is not None and fragment else None
                if key is not None:
                    keyed.setdefault(key, []).append((fragment, name))
                elif fragment:
                    unkeyed.append(fragment)
            if unkeyed:
                pattern = _alternation(unkeyed, tokenized=tokenized, source=f"{source}:{label}")
                scanned.append(WeightedPattern(label, float(weight), pattern))
    compiled: dict[str, re.Pattern[str]] = {}
    for key, items in keyed.items():
        # Longest entries first so the most specific phrase wins at a position.
        items.sort(key=lambda item: len(item[0]), reverse=True)
        by_group: dict[str, list[str]] = {}
        for fragment, name in items:
            by_group.setdefault(name, []).append(fragment)
        order = sorted(by_group, key=lambda name: -max(len(f) for f in by_group[name]))
        body = "|".join(
            f"(?P<{name}>" + "|".join(f"(?:{f})" for f in by_group[name]) + ")" for name in order
        )
        try:
            compiled[key] = re.compile(body)
        except re.error as error:
            raise LexiconError(f"{source}: bad entry starting {key!r}: {error}") from error
    return PatternSet(keyed=compiled, groups=names, scanned=tuple(scanned), starts=starts)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Everything the classifier knows about one language."""

    language: str
    tokenized: bool | str
    stopwords: frozenset[str]
    characters: str
    categories: PatternSet
    sentiment: PatternSet
    contrast: re.Pattern[str] | None
    negation_before: re.Pattern[str] | None
    negation_after: re.Pattern[str] | None
    intensifiers: re.Pattern[str] | None


def _alternation(entries: Iterable[str], *, tokenized: bool | str, source: str) -> re.Pattern[str]:
    """Compile entries into one alternation; `tokenized` may also be "latin": entries then
    must not start inside a Latin word but may follow any other character (CJK text)."""
    fragments = sorted({normalise(str(entry)) for entry in entries if str(entry).strip()})
    fragments.sort(key=len, reverse=True)
    body = "|".join(f"(?:{fragment})" for fragment in fragments)
    prefix = {True: r"(?<!\w)", "latin": r"(?<![a-z0-9])"}.get(tokenized, "")
    try:
        return re.compile(f"{prefix}(?:{body})")
    except re.error as error:
        for fragment in fragments:
            try:
                re.compile(fragment)
            except re.error as bad:
                raise LexiconError(f"{source}: bad entry {fragment!r}: {bad}") from error
        raise LexiconError(f"{source}: {error}") from error


def _optional(
    data: Mapping[str, Any], key: str, *, tokenized: bool | str, source: str
) -> re.Pattern[str] | None:
    entries = data.get(key) or []
    return (
        _alternation(entries, tokenized=tokenized, source=f"{source}:{key}") if entries else None
    )


def parse_lexicon(data: Mapping[str, Any], *, source: str = "<lexicon>") -> Lexicon:
    """Build a `Lexicon` from the mapping read from a lexicon file."""
    try:
        language = str(data["language"])
    except KeyError as error:
        raise LexiconError(f"{source}: missing 'language'") from error
    raw_tokenized = data.get("tokenized", True)
    tokenized: bool | str = raw_tokenized if raw_tokenized == "latin" else bool(raw_tokenized)
    return Lexicon(
        language=language,
        tokenized=tokenized,
        stopwords=frozenset(normalise(str(word)) for word in data.get("stopwords") or ()),
        characters=normalise(str(data.get("characters") or "")),
        categories=_indexed(
            data.get("categories") or {}, CATEGORIES, tokenized=tokenized, source=source
        ),
        sentiment=_indexed(
            data.get("sentiment") or {}, SENTIMENT_CUES, tokenized=tokenized, source=source
        ),
        contrast=_optional(data, "contrast", tokenized=tokenized, source=source),
        negation_before=_optional(data, "negation_before", tokenized=tokenized, source=source),
        negation_after=_optional(data, "negation_after", tokenized=tokenized, source=source),
        intensifiers=_optional(data, "intensifiers", tokenized=tokenized, source=source),
    )


def load_lexicons(directory: Path = LEXICON_DIR) -> dict[str, Lexicon]:
    """Read every `*.yaml` lexicon in `directory`, keyed by language."""
    lexicons: dict[str, Lexicon] = {}
    for path in sorted(directory.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        lexicon = parse_lexicon(data, source=path.name)
        lexicons[lexicon.language] = lexicon
    return lexicons
