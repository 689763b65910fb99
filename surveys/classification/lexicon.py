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
# Where a word starts: (what may not precede it, what its first character must be).
_STARTS = {True: (r"(?<!\w)", r"\w"), "latin": (r"(?<![a-z0-9])", r"[a-z0-9]")}


@dataclass(frozen=True, slots=True)
class PatternSet:
    """Weighted patterns indexed by the first two letters of their entries.

    Instead of scanning the text once per pattern, the classifier tries at each word start
    one pattern holding every entry that begins with that word's first two letters (the
    longest entry wins at a position); entries that do not begin with two literal letters
    are scanned for as usual.

    Two precompiled patterns keep the work in the regex engine: `key_starts` finds only the
    word starts whose first two letters are a key (most words start no entry), and
    `any_scanned` (all scanned patterns in one alternation) skips the separate scans when
    none of them matches anywhere in the text, which is the usual case.
    """

    keyed: dict[str, re.Pattern[str]]
    groups: dict[str, tuple[str, float]]
    scanned: tuple[WeightedPattern, ...]
    key_starts: re.Pattern[str] | None
    any_scanned: re.Pattern[str] | None

    def matches(self, text: str) -> list[tuple[str, float, int, int]]:
        """Return (label, weight, start, end) for every match, strongest weight first."""
        found: list[tuple[str, float, int, int]] = []
        if self.key_starts is not None:
            keyed, groups = self.keyed, self.groups
            for word in self.key_starts.finditer(text):
                position = word.start()
                match = keyed[word.group()].match(text, position)
                if match is not None:
                    label, weight = groups[match.lastgroup or ""]
                    found.append((label, weight, position, match.end()))
        earliest = self.any_scanned.search(text) if self.any_scanned is not None else None
        if earliest is not None:
            # No scanned entry matches before `earliest`; finditer from there finds the same.
            for entry in self.scanned:
                for match in entry.pattern.finditer(text, earliest.start()):
                    found.append((entry.label, entry.weight, match.start(), match.end()))
        found.sort(key=_by_weight)
        return found


def _by_weight(item: tuple[str, float, int, int]) -> float:
    return -item[1]


def _key_starts(keys: Iterable[str], tokenized: bool | str) -> re.Pattern[str] | None:
    """A pattern matching the two letters of a key where they start a word.

    Keys are grouped by first letter (`ab|ac|ex` becomes `a[bc]|e[x]`) so the engine
    rejects most positions on their first character. A match consumes the two letters; the
    second one never starts a word (it follows a word character), so no key is skipped.
    """
    if tokenized not in _STARTS:
        return None
    not_after, first = _STARTS[tokenized]
    # A key whose first letter cannot start a word here is never looked up: leave it out.
    by_first: dict[str, set[str]] = {}
    for key in keys:
        if re.fullmatch(first, key[0]):
            by_first.setdefault(key[0], set()).add(key[1])
    if not by_first:
        return None
    branches = "|".join(
        re.escape(letter) + "[" + "".join(re.escape(c) for c in sorted(seconds)) + "]"
        for letter, seconds in sorted(by_first.items())
    )
    return re.compile(f"{not_after}(?:{branches})")


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
    indexed = tokenized in _STARTS
    keyed: dict[str, list[tuple[str, str]]] = {}
    names: dict[str, tuple[str, float]] = {}
    scanned: list[WeightedPattern] = []
    all_unkeyed: list[str] = []
    for label, by_weight in (groups or {}).items():
        if label not in known:
            raise LexiconError(f"{source}: unknown label {label!r}")
        for weight, entries in (by_weight or {}).items():
            name = f"g{len(names)}"
            names[name] = (label, float(weight))
            unkeyed: list[str] = []
            for entry in entries or ():
                fragment = normalise(str(entry))
                key = _literal_key(fragment) if indexed and fragment else None
                if key is not None:
                    keyed.setdefault(key, []).append((fragment, name))
                elif fragment:
                    unkeyed.append(fragment)
            if unkeyed:
                all_unkeyed += unkeyed
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
    return PatternSet(
        keyed=compiled,
        groups=names,
        scanned=tuple(scanned),
        key_starts=_key_starts(compiled, tokenized),
        # One alternation of every unkeyed entry, sharing the word-start check once.
        any_scanned=(
            _alternation(all_unkeyed, tokenized=tokenized, source=source) if all_unkeyed else None
        ),
    )


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
