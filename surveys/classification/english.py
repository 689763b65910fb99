"""TextBlob's English sentiment, computed by TextBlob's own code on a plain copy of its lexicon.

`TextBlob(text).sentiment` ends in `textblob.en.sentiment(text)`: pattern's
`Sentiment.__call__` tokenises the text and `Sentiment.assessments` looks every token up in
the sentiment lexicon. That lexicon is a lazily loaded dict subclass, so each of those
lookups (`word in lexicon`, `lexicon[word]`, several per token) runs two Python-level
methods before reaching the dict. `EnglishSentiment` holds the same loaded entries in a
plain dict and runs the very same `__call__` and `assessments` functions of TextBlob on it:
the scores are TextBlob's, bit for bit (tests/surveys/classification/test_english.py checks
that on the dev set, the benchmark's texts and awkward inputs), at a lower cost per text.
"""

from __future__ import annotations

from textblob._text import Sentiment as PatternSentiment
from textblob.en import sentiment as textblob_sentiment


class EnglishSentiment(dict):
    """Call with a text to get TextBlob's (polarity, subjectivity) for it."""

    # TextBlob's own functions, looked up on this plain dict instead of the lazy one.
    __call__ = PatternSentiment.__call__
    assessments = PatternSentiment.assessments

    def __init__(self, source: PatternSentiment = textblob_sentiment) -> None:
        # Trigger the lazy load; load() itself must not run twice (it re-annotates entries).
        len(source)
        super().__init__(dict.items(source))
        # Everything else `__call__` and `assessments` read from `self`.
        self.tokenizer = source.tokenizer
        self.negations = source.negations
        self.modifiers = source.modifiers
        self.modifier = source.modifier
        self.labeler = source.labeler
