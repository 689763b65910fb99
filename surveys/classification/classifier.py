"""The churn-reason classifier: weighted lexicons per language, plus sentiment rules.

How a text is scored (the same for every language; the lexicons differ):
- every lexicon entry that matches adds its weight to its category; a stronger entry of a
  category hides weaker ones it overlaps, so "too expensive" is not counted twice;
- a match in the clause after the last contrast marker ("but", "aber", "但是", ...) counts
  1.5 times, one before it 0.75 times: customers put the decisive reason last;
- a negated match ("not the price, ...") subtracts half its weight instead, and its category
  is never reported as secondary; what follows decides;
- an intensifier just before a match ("really", "sehr", "너무") adds 30%.
The top category wins; the others that score at least a third of it are `secondary`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from surveys.classification.corrections import CorrectionMemory
from surveys.classification.english import EnglishSentiment
from surveys.classification.language import clean_markup, detect_language, normalise
from surveys.classification.lexicon import LEXICON_DIR, Lexicon, load_lexicons
from surveys.classification.model import CATEGORIES, Classification

CLASSIFIER_VERSION = "lexicon-1"
# Longer texts are cut: the reason is stated early, and this bounds the time per text.
MAX_CHARS = 4000
# Reports of something the company did wrong are negative by the labelling convention.
FAILURE_CATEGORIES = frozenset(
    {"bugs_reliability", "poor_support", "felt_ignored", "billing_issue"}
)
_LATIN = ("en", "de", "es", "hu", "lv")
_CLAUSE_END = re.compile(r"[.;!?。！？；\n—–]")
_EMPHASIS = re.compile(r"[!?]{2,}|[!?]\s*[!?]")
_CAPS_WORD = re.compile(r"\b[A-Z]{5,}\b|\b[A-Z]{2,}\s+[A-Z]{2,}\b")
_NEGATIVE_EMOJI = frozenset("😡🤬👎💩😤😠🙄😒🤮😾")
_POSITIVE_EMOJI = frozenset("❤😍🙏👋😊🙂👍🥰💕💖🐶🎉😄😀")


class Classifier:
    """Classify churn answers; build once at start-up and pass it where it is needed."""

    def __init__(
        self,
        *,
        lexicons: Mapping[str, Lexicon],
        corrections: CorrectionMemory | None = None,
        english_sentiment: EnglishSentiment | None = None,
    ) -> None:
        if "en" not in lexicons:
            raise ValueError("the English lexicon is required")
        self._all_lexicons = dict(lexicons)
        self._lexicons = {name: lexicon for name, lexicon in lexicons.items() if name != "common"}
        # Patterns valid in every language (names of alternatives) join each lexicon's own.
        common = lexicons.get("common")
        self._common = common.categories if common is not None else None
        self._corrections = corrections or CorrectionMemory()
        self._english_sentiment = (
            english_sentiment if english_sentiment is not None else EnglishSentiment()
        )
        self._latin_cues = {
            language: (
                lexicon.stopwords,
                re.compile(f"[{re.escape(lexicon.characters)}]") if lexicon.characters else None,
            )
            for language, lexicon in self._lexicons.items()
            if lexicon.tokenized is True and language != "fa"
        }

    @classmethod
    def load(
        cls, *, corrections: CorrectionMemory | None = None, directory: Path = LEXICON_DIR
    ) -> Classifier:
        """Build a classifier from the lexicons shipped with the package."""
        return cls(lexicons=load_lexicons(directory), corrections=corrections)

    def with_corrections(self, corrections: CorrectionMemory) -> Classifier:
        """Return a classifier sharing these lexicons but consulting `corrections`."""
        return Classifier(
            lexicons=self._all_lexicons,
            corrections=corrections,
            english_sentiment=self._english_sentiment,
        )

    @property
    def version(self) -> str:
        return CLASSIFIER_VERSION

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._lexicons))

    def classify(
        self, text: str, *, language: str | None = None, choice: str | None = None
    ) -> Classification:
        """Classify one answer; never raises on odd input (returns other/neutral)."""
        raw = clean_markup(text if isinstance(text, str) else str(text or ""))[:MAX_CHARS]
        normalised = normalise(raw)
        detected = detect_language(normalised, latin_cues=self._latin_cues, hint=language)
        lexicon = self._lexicons.get(detected, self._lexicons["en"])
        scores, negated = self._score_categories(lexicon, normalised)
        if not scores and language is None and lexicon.language in _LATIN:
            # Short Latin texts carry few stopwords: let the lexicon that recognises
            # something decide the language instead.
            for other in _LATIN:
                candidate = self._lexicons.get(other)
                if candidate is None or other == lexicon.language:
                    continue
                other_scores, other_negated = self._score_categories(candidate, normalised)
                if other_scores and max(other_scores.values()) > 0:
                    lexicon, scores, negated, detected = (
                        candidate,
                        other_scores,
                        other_negated,
                        other,
                    )
                    break
        polarity = subjectivity = None
        if detected == "en":
            # TextBlob(text).sentiment, without building a TextBlob (see english.py).
            polarity, subjectivity = self._english_sentiment(raw)
            polarity, subjectivity = round(polarity, 4), round(subjectivity, 4)
        ranked = sorted(
            ((score, category) for category, score in scores.items() if score > 0), reverse=True
        )
        chosen = choice if choice in CATEGORIES and choice != "other" else None
        correction = None if chosen else self._corrections.match(normalised)

        if chosen:
            category, confidence, method = chosen, 1.0, "customer_choice"
        elif correction is not None:
            category, confidence, method = correction.category, correction.similarity, "correction"
        elif ranked:
            top = ranked[0][0]
            second = ranked[1][0] if len(ranked) > 1 else 0.0
            category = ranked[0][1]
            confidence = min(0.95, 0.35 + 0.6 * (top - second) / (top + 1.0))
            kind = "rules" if detected == "en" else "lexicon"
            method = f"{kind}:{lexicon.language}"
        else:
            category, confidence, method = "other", 0.15, "fallback"

        top_score = ranked[0][0] if ranked else 0.0
        secondary = tuple(
            name
            for score, name in ranked
            if name not in (category, "other")
            and name not in negated
            and score >= max(1.0, top_score / 3)
        )[:3]
        if correction is not None and correction.sentiment:
            sentiment = correction.sentiment
        elif not normalised:
            sentiment = "neutral"
        else:
            sentiment = self._sentiment(lexicon, raw, normalised, category, polarity)
        return Classification(
            category=category,
            secondary=secondary,
            sentiment=sentiment,
            polarity=polarity,
            subjectivity=subjectivity,
            confidence=round(confidence, 3),
            language=detected,
            method=method,
        )

    def _score_categories(self, lexicon: Lexicon, text: str) -> tuple[dict[str, float], set[str]]:
        scores: dict[str, float] = {}
        negated: set[str] = set()
        if not text:
            return scores, negated
        last_contrast = -1
        if lexicon.contrast is not None:
            for match in lexicon.contrast.finditer(text):
                if match.start() > 0:
                    last_contrast = match.start()
        window = 24 if lexicon.tokenized is True else 6
        found = lexicon.categories.matches(text)
        if self._common is not None:
            found += self._common.matches(text)
            found.sort(key=lambda item: -item[1])
        spans: dict[str, list[tuple[int, int]]] = {}
        for label, base_weight, start, end in found:
            taken = spans.setdefault(label, [])
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            before = _clause_tail(text[max(0, start - window) : start])
            weight = base_weight
            if last_contrast >= 0:
                weight *= 1.5 if start > last_contrast else 0.75
            if self._is_negated(lexicon, before, text[end : end + 8]):
                scores[label] = scores.get(label, 0.0) - 0.5 * base_weight
                negated.add(label)
                continue
            if lexicon.intensifiers is not None and lexicon.intensifiers.search(before):
                weight *= 1.3
            scores[label] = scores.get(label, 0.0) + weight
        return scores, negated

    @staticmethod
    def _is_negated(lexicon: Lexicon, before: str, after: str) -> bool:
        if lexicon.negation_before is not None and lexicon.negation_before.search(before):
            return True
        return lexicon.negation_after is not None and bool(
            lexicon.negation_after.match(after.lstrip())
        )

    def _sentiment(
        self,
        lexicon: Lexicon,
        raw: str,
        text: str,
        category: str,
        polarity: float | None,
    ) -> str:
        cues = {"negative": 0.0, "positive": 0.0, "neutral": 0.0}
        for label, weight, _start, _end in lexicon.sentiment.matches(text):
            cues[label] += weight
        negative, positive, softener = cues["negative"], cues["positive"], cues["neutral"]
        negative += len(_EMPHASIS.findall(raw)) + len(_CAPS_WORD.findall(raw))
        if not raw.isascii():
            negative += sum(map(_NEGATIVE_EMOJI.__contains__, raw))
            positive += min(1.0, 0.5 * sum(map(_POSITIVE_EMOJI.__contains__, raw)))
        if polarity is not None:
            if polarity >= 0.5:
                positive += 0.5
            elif polarity <= -0.4:
                negative += 0.5
        return decide_sentiment(category, negative, positive, softener)


def decide_sentiment(category: str, negative: float, positive: float, softener: float) -> str:
    """Combine cue scores with the labelling convention into one sentiment label.

    Failures the company is responsible for are negative even next to praise (praise plus
    a clear complaint); elsewhere a stated reason is neutral unless cues say otherwise, and
    praise or thanks next to a factual reason is positive.
    """
    if category in FAILURE_CATEGORIES:
        return "neutral" if softener >= 1 and negative < 1 else "negative"
    if category == "hard_to_use":
        if positive >= 1.5 and negative < 1:
            return "positive"
        if softener >= 1 and negative < 1:
            return "neutral"
        return "negative"
    if negative >= 1 and negative >= positive:
        return "negative"
    if positive >= 1:
        return "neutral" if softener >= positive else "positive"
    return "neutral"


def _clause_tail(text: str) -> str:
    """Keep the part of `text` after its last clause boundary."""
    cut = -1
    for match in _CLAUSE_END.finditer(text):
        cut = match.end()
    return text[cut:] if cut >= 0 else text
