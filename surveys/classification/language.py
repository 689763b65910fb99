"""Text normalisation and language detection by script plus per-language cues."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from surveys.classification.model import LANGUAGES, UNKNOWN_LANGUAGE

_MARKUP = re.compile(r"<[^<>]{0,200}>|https?://\S+|&[a-z]{2,8};|[*_`#>|~\[\]{}]")
_SPACES = re.compile(r"\s+")
# Arabic-script variants typed on Arabic keyboards, tatweel and short-vowel marks.
_PERSIAN_TABLE = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ك": "ک",
        "ة": "ه",
        "ۀ": "ه",
        "أ": "ا",
        "إ": "ا",
        "ٱ": "ا",
        "ـ": None,
        "\u200c": " ",
        "\u200d": None,
        "\u200f": None,
        "\u200e": None,
        **{chr(code): None for code in range(0x064B, 0x0653)},
        "’": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
    }
)
_LATIN_LANGUAGES = ("en", "hu", "lv", "es", "de")
_SCRIPT_OF_LANGUAGE = {
    **dict.fromkeys(_LATIN_LANGUAGES, "latin"),
    "fa": "arabic",
    "zh": "han",
    "ko": "hangul",
}
_WORD = re.compile(r"[^\W\d_]+")


def clean_markup(text: str) -> str:
    """Drop HTML tags, URLs and markdown symbols, keeping the words."""
    return _SPACES.sub(" ", _MARKUP.sub(" ", text)).strip()


def normalise(text: str) -> str:
    """Lower-case and unify characters so lexicon entries and texts compare equal.

    NFKC folds full-width forms; Arabic/Persian letter variants and ZWNJ are unified;
    apostrophes are removed so "don't", "dont" and "don’t" are the same word.
    """
    if not text.isascii():  # NFKC and the table leave ASCII alone, except for "`"
        text = unicodedata.normalize("NFKC", text).translate(_PERSIAN_TABLE)
    elif "`" in text:
        text = text.translate(_PERSIAN_TABLE)
    text = text.lower()
    text = text.replace("'", "")
    return _SPACES.sub(" ", text).strip()


_SCRIPTS = {
    "latin": re.compile(r"[a-zA-Z\u00c0-\u024f]"),
    "hangul": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "han": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"),
    "kana": re.compile(r"[\u3040-\u30ff]"),
    "arabic": re.compile(r"[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\ufb50-\ufdff\ufe70-\ufefc]"),
}
_NON_LATIN = re.compile(r"[^\x00-\u024f]")


def script_counts(text: str) -> dict[str, int]:
    """Count letters per script (latin, hangul, han, kana, arabic)."""
    if not _NON_LATIN.search(text):
        return {
            "latin": len(_SCRIPTS["latin"].findall(text)),
            "hangul": 0,
            "han": 0,
            "kana": 0,
            "arabic": 0,
        }
    return {name: len(pattern.findall(text)) for name, pattern in _SCRIPTS.items()}


def detect_language(
    text: str,
    *,
    latin_cues: Mapping[str, tuple[frozenset[str], re.Pattern[str] | None]],
    hint: str | None = None,
) -> str:
    """Return the language of normalised `text`, or "unknown".

    The dominant script decides between Hangul (ko), Han (zh), Arabic (fa) and Latin;
    among Latin languages, stopwords and characters typical of each language
    (`latin_cues`: language -> (stopwords, pattern of its characters)) decide. A `hint` naming a
    supported language wins when it agrees with the script.
    """
    counts = script_counts(text)
    script, letters = max(counts.items(), key=lambda item: item[1])
    if letters == 0:
        return UNKNOWN_LANGUAGE
    hint = (hint or "").strip().lower()[:2]
    if hint in LANGUAGES and _SCRIPT_OF_LANGUAGE[hint] == script:
        return hint
    if script == "hangul":
        return "ko"
    if script == "han":
        return "zh" if counts["kana"] == 0 else UNKNOWN_LANGUAGE
    if script == "arabic":
        return "fa"
    if script != "latin":
        return UNKNOWN_LANGUAGE
    words = _WORD.findall(text)
    best, best_score = "en", 0.0
    for language, (stopwords, characters) in latin_cues.items():
        score = float(sum(map(stopwords.__contains__, words)))
        if characters is not None:
            score += 1.5 * len(characters.findall(text))
        if score > best_score:
            best, best_score = language, score
    return best
