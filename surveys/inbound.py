"""Inbound customer text: the one cleaning rule applied wherever such text enters.

Customer text reaches us from Telegram (messages, captions, names) and from the events API
(every string of an event). PostgreSQL refuses NUL (U+0000) in text while SQLite stores it,
so the same answer would be lost on one database and kept on the other. We remove NUL at
the edge, before anything is stored, so both databases hold the same text.
"""

from __future__ import annotations

import math

NUL = "\x00"
MAX_JSON_DEPTH = 16


class UnacceptableJson(ValueError):
    """A JSON document we refuse as a whole; `field` names where (a dotted path)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field


def clean_text(text: str) -> str:
    """`text` without NUL characters (everything else is kept as written)."""
    return text.replace(NUL, "") if NUL in text else text


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def clean_json(value: object, *, max_depth: int = MAX_JSON_DEPTH) -> object:
    """A parsed JSON document with `clean_text` applied to every string, keys included.

    Raises UnacceptableJson past `max_depth` levels of arrays and objects (no event needs
    more, and the bound keeps every later walk cheap and recursion-safe) and for numbers
    that are not finite (Python's json reads `Infinity`, `NaN` and `1e400`; no database
    column or report can hold them).
    """
    return _clean(value, max_depth, "")


def _clean(value: object, depth_left: int, path: str) -> object:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise UnacceptableJson(path, "must be a finite number")
    if isinstance(value, dict | list):
        if depth_left <= 0:
            raise UnacceptableJson(path, f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            return {
                clean_text(key): _clean(item, depth_left - 1, _join(path, clean_text(key)))
                for key, item in value.items()
            }
        return [_clean(item, depth_left - 1, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
