"""Text helpers of the reports: scrubbing personal data, terms, quotes and emerging reasons.

Plain regexes and counting, no NLTK: TextBlob's tokenisers need corpora we cannot download.
Words are `\\w+` runs; Chinese (no spaces) is split into character bigrams instead.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{5,}\d(?!\w)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Phrases that introduce the writer's own name, in the survey languages we can spell.
NAME_INTRO = re.compile(
    r"(?i:\b(?:my name is|my name's|i am called|name:|regards,|cheers,|thanks,|signed,?"
    r"|ich heiße|ich heisse|mein name ist|me llamo|mi nombre es|a nevem|mans vārds ir"
    r"|manu sauc|nevem))\s+((?:[^\W\d_][\w'-]*)(?:\s+[^\W\d_][\w'-]*)?)"
)
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "a an the and or but if so of to in on at for with from by as is are was were be been "
        "being it its this that these those i me my we our you your he she they them their "
        "his her not no nor do does did done have has had having can could would should will "
        "just very too also more most much many some any all about into over than then there "
        "here what which who when where why how up out off again only own same other such "
        "really still even get got am im dont didnt doesnt isnt wasnt cant wont ive id ill s t "
        "because one thing things lot bit"
    ),
    "de": _words(
        "der die das den dem des ein eine einen einem einer und oder aber wenn so von zu in im "
        "an am auf für mit aus bei als ist sind war waren sein es ich mir mich wir uns sie ihr "
        "er nicht kein keine auch sehr zu mehr noch nur schon dass was wie wo warum hat habe "
        "haben hatte kann konnte wird würde da dann denn man"
    ),
    "es": _words(
        "el la los las un una unos unas y o pero si de del a al en con por para como es son "
        "era fue ser está están me mi mis yo nos nosotros te tu su sus lo le les que qué no "
        "muy más ya también se ha he hay porque cuando donde esto eso este esta"
    ),
    "hu": _words(
        "a az egy és vagy de ha hogy nem is van volt lesz én te ő mi ti ők ez az azt ezt "
        "nagyon már még csak meg el ki be le fel sem mert mint nekem neki"
    ),
    "lv": _words(
        "un vai bet ja ka ir bija būs es tu viņš viņa mēs jūs viņi tas tā to šo šis nav ne "
        "arī ļoti jau vēl tikai par uz no ar pie kā man mums"
    ),
    "fa": _words("و یا اما اگر که از به در با برای این آن را است بود هست من ما شما نه هم خیلی"),
    "ko": _words("그리고 하지만 그런데 너무 정말 좀 더 이 그 저 것 수 있어요 없어요 있다 없다"),
    "zh": frozenset(),
}
ALL_STOPWORDS = frozenset().union(*STOPWORDS.values())


def scrub(text: str, *, names: Iterable[str | None] = ()) -> str:
    """Replace e-mail addresses, phone numbers and people's names with placeholders.

    `names` are the customer's known names; a name someone introduces ("my name is …")
    goes too.
    """
    text = EMAIL.sub("[email]", text)
    text = PHONE.sub(_phone, text)
    text = NAME_INTRO.sub(_intro, text)
    for name in names:
        for part in _name_parts(name):
            text = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", "[name]", text, flags=re.IGNORECASE)
    return text


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(char.isdigit() for char in found)
    if digits < 7 or digits > 15 or ISO_DATE.fullmatch(found.strip()):
        return found
    return "[phone]"


def _intro(match: re.Match[str]) -> str:
    words = match.group(1).split()
    # A name is capitalised; "thanks, guys" or "regards, the team" are not names.
    kept = []
    for word in words:
        if not word[0].isupper():
            break
        kept.append(word)
    if not kept:
        return match.group(0)
    rest = match.group(1)[len(" ".join(kept)) :]
    return match.group(0)[: match.start(1) - match.start(0)] + "[name]" + rest


def _name_parts(name: str | None) -> list[str]:
    if not name or not name.strip():
        return []
    parts = [name.strip()] + [part for part in name.split() if len(part) >= 2]
    return sorted(set(parts), key=len, reverse=True)


def tokens(text: str) -> list[str]:
    """Content words of a text, lower-cased, stopwords of every language removed."""
    result: list[str] = []
    for word in WORD.findall(text.lower()):
        if HAN.search(word):
            result.extend(word[index : index + 2] for index in range(max(1, len(word) - 1)))
        elif len(word) >= 3 and word not in ALL_STOPWORDS and not word.isdigit():
            result.append(word)
    return result


def terms(text: str) -> set[str]:
    """Words and adjacent word pairs ("slow sync") of a text, for overlap counting."""
    words = tokens(text)
    return set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}


@dataclass(frozen=True, slots=True)
class Quote:
    """A scrubbed customer text with where it came from."""

    answer_id: int
    text: str
    sentiment: str | None = None


@dataclass(frozen=True, slots=True)
class EmergingReason:
    """Texts labelled `other` that share a word or phrase: a candidate new category."""

    label: str
    count: int
    quotes: tuple[Quote, ...]


def emerging_reasons(
    quotes: Sequence[Quote], *, min_count: int = 2, max_groups: int = 5, examples: int = 3
) -> list[EmergingReason]:
    """Group texts by their most shared term, greedily: the biggest group first.

    A phrase beats a single word it contains when it groups as many texts (it says more).
    """
    docs = [terms(quote.text) for quote in quotes]
    remaining = set(range(len(quotes)))
    groups: list[EmergingReason] = []
    while remaining and len(groups) < max_groups:
        counts = Counter(term for index in remaining for term in docs[index])
        best = max(
            ((count + (0.5 if " " in term else 0.0), term) for term, count in counts.items()),
            default=None,
            key=lambda item: (item[0], -len(item[1]), item[1]),
        )
        if best is None or counts[best[1]] < min_count:
            break
        term = best[1]
        members = sorted(
            (index for index in remaining if term in docs[index]),
            key=lambda index: -quotes[index].answer_id,
        )
        remaining -= set(members)
        chosen = tuple(quotes[index] for index in members[:examples])
        groups.append(EmergingReason(label=term, count=len(members), quotes=chosen))
    return groups


def representative(quotes: Sequence[Quote], *, count: int = 3) -> list[Quote]:
    """Pick texts that say what most others say, of readable length, and not alike.

    Score: the mean share of the group's texts that use each of the text's words.
    """
    usable = [quote for quote in quotes if 12 <= len(quote.text.strip()) <= 280]
    if not usable:
        usable = [quote for quote in quotes if quote.text.strip()]
    words = [set(tokens(quote.text)) for quote in usable]
    frequency = Counter(word for group in words for word in group)
    total = max(len(usable), 1)

    def score(index: int) -> tuple[float, int]:
        group = words[index]
        mean = sum(frequency[word] for word in group) / (len(group) * total) if group else 0.0
        return (mean, usable[index].answer_id)

    picked: list[int] = []
    for index in sorted(range(len(usable)), key=score, reverse=True):
        if any(_jaccard(words[index], words[other]) > 0.6 for other in picked):
            continue
        picked.append(index)
        if len(picked) >= count:
            break
    return [usable[index] for index in picked]


def _jaccard(first: set[str], second: set[str]) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 1.0
