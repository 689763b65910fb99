"""Text normalisation shared by the model's features, corrections and the corpus check."""

from __future__ import annotations

import re
import unicodedata

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


def clean_markup(text: str) -> str:
    """Drop HTML tags, URLs and markdown symbols, keeping the words."""
    return _SPACES.sub(" ", _MARKUP.sub(" ", text)).strip()


def normalise(text: str) -> str:
    """Lower-case and unify characters so equal texts compare equal.

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
