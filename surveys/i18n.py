"""Languages: picking the customer's language and the bot's own message catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from surveys.definition import FALLBACK_LANGUAGE, Localized
from surveys.vocabulary import LANGUAGES

# The bot speaks every language the classifier knows (one list: surveys.vocabulary).
SUPPORTED_LANGUAGES = LANGUAGES
RTL_LANGUAGES = frozenset({"fa"})
RLM = "\u200f"
# Unicode isolates: a left-to-right run (LRI), a run of its own direction (FSI), and the end
# of either (PDI). Inside right-to-left text they keep "/help" from showing as "help/" and
# a Latin name from swapping places with the punctuation around it.
LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"
LRM = "\u200e"
_COMMAND = re.compile(r"(?<![^\s\u200e])\u200e?(/[A-Za-z][A-Za-z0-9_]*)")
MESSAGES_FILE = Path(__file__).parent / "messages.yaml"


def pick_language(
    code: str | None, available: tuple[str, ...] | list[str] = SUPPORTED_LANGUAGES
) -> str:
    """Map a Telegram `language_code` ("de", "pt-br", "zh-hans") to one we have."""
    if not code:
        return FALLBACK_LANGUAGE
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in available else FALLBACK_LANGUAGE


def localize(texts: Localized, language: str) -> str:
    """The text in `language`, or English; right-to-left texts get a leading RLM mark and
    their /commands wrapped in LRI…PDI."""
    text = texts.get(language) or texts[FALLBACK_LANGUAGE]
    if language in RTL_LANGUAGES and language in texts:
        text = _COMMAND.sub(lambda match: LRI + match.group(1) + PDI, text)
        if not text.startswith(RLM):
            return RLM + text
    return text


def isolate(value: str, language: str) -> str:
    """`value` (a name, something the customer wrote) ready to go inside a text in
    `language`: isolated in right-to-left texts, so its own direction cannot reorder the
    words around it."""
    return f"{FSI}{value}{PDI}" if language in RTL_LANGUAGES else value


class Messages:
    """The bot's own texts (help, confirmations, errors) in every supported language."""

    def __init__(self, catalogue: dict[str, Localized]) -> None:
        missing = [key for key, texts in catalogue.items() if FALLBACK_LANGUAGE not in texts]
        if missing:
            raise ValueError(f"messages without an English text: {', '.join(missing)}")
        self._catalogue = catalogue

    @classmethod
    def load(cls, path: Path = MESSAGES_FILE) -> Messages:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    def get(self, key: str, language: str, **values: object) -> str:
        text = localize(self._catalogue[key], language)
        return text.format(**values) if values else text
