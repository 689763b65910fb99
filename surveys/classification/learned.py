"""The learned churn-reason model: TF-IDF word and character n-grams into linear heads.

Features: word 1-2-grams and character 1-5-grams of the normalised text (so typos,
inflections, dropped accents, Chinese and Korean without spaces still share features), plus
tokens for shouting in capitals (normalisation lower-cases), "!!"/"??" and emoji. Weights
are TF-IDF with sublinear term frequency and L2 normalisation, the same formula as scikit-learn's
`TfidfVectorizer(sublinear_tf=True)`. Three linear heads (scikit-learn's `LinearSVC`) share
the features: category, sentiment, language. Each head's scores become probabilities by a
softmax whose temperature is fitted on out-of-fold predictions (calibration).

The featurizer is ours, not a fitted `TfidfVectorizer`: training and prediction run the very
same code, tokens are hashed in numpy over a whole batch (`HashedFeaturizer`), and each head
is one sparse product, with none of scikit-learn's per-call validation. The artifact holds
only numbers and strings (a zip of `.npy` arrays and JSON, read with `allow_pickle=False`),
so loading it runs no code.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise, repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from surveys.classification.language import clean_markup, normalise

MODEL_PATH = Path(__file__).with_name("model.bin")
FORMAT = "churnbot-linear-2"  # hashed features (HashedFeaturizer)
VOCABULARY_FORMAT = "churnbot-linear-1"  # token strings (VocabularyFeaturizer), still read
MAX_CHARS = 4000
CHAR_NGRAMS = (1, 2, 3, 4, 5)
CAPS_TOKEN = "\x01caps"
# Tone cues that normalisation or the n-grams blur: repeated "!"/"?" and emoji. They lifted
# cross-validated sentiment accuracy (docs/classification.md, "Why these choices").
BANGS_TOKEN = "\x01bangs"
QUESTIONS_TOKEN = "\x01questions"
EMOJI_TOKEN = "\x01emoji"
_QUESTIONS = re.compile(r"\?\?|\?!|!\?")
_WORD = re.compile(r"\w+")
_SHOUTED = re.compile(r"\b[A-Z]{3,}\b")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def prepare(text: str) -> str:
    """The text the features are taken from: markup dropped, normalised, bounded."""
    return normalise(clean_markup(text[: MAX_CHARS * 2]))[:MAX_CHARS]


def cues(raw: str) -> list[str]:
    """The tone-cue tokens of a raw text: shouting, "!!", "??"/"?!", emoji."""
    found = []
    if _SHOUTED.search(raw) and sum(map(str.isupper, raw)) > sum(map(str.islower, raw)):
        found.append(CAPS_TOKEN)
    if "!!" in raw:
        found.append(BANGS_TOKEN)
    if _QUESTIONS.search(raw):
        found.append(QUESTIONS_TOKEN)
    if raw and max(raw) >= "\U0001f000":
        found.append(EMOJI_TOKEN)
    return found


def tokens(raw: str) -> list[str]:
    """Every feature token of a raw text (with repeats: term frequency counts them)."""
    text = prepare(raw)
    words = _WORD.findall(text)
    found = [f"w {word}" for word in words]
    found += [f"b {first} {second}" for first, second in pairwise(words)]
    padded = f" {text} "
    for size in CHAR_NGRAMS:
        found += [padded[index : index + size] for index in range(len(padded) - size + 1)]
    return found + cues(raw)


def _idf(document_frequency: np.ndarray, count: int) -> FloatArray:
    """Smoothed IDF, scikit-learn's formula."""
    return np.log((1 + count) / (1 + document_frequency.astype(np.float64))) + 1


def _tf_idf(
    rows: IntArray, positions: IntArray, counts: IntArray, idf: FloatArray, texts: int
) -> FloatArray:
    """Sublinear TF x IDF, L2-normalised per row."""
    values = (np.log(counts.astype(np.float64)) + 1) * idf[positions]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=texts))
    norms[norms == 0] = 1.0
    result: FloatArray = values / norms[rows]
    return result


def _csr(rows: IntArray, positions: IntArray, values: FloatArray, shape: tuple[int, int]) -> Any:
    """A CSR matrix from entries sorted by row."""
    pointers = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=shape[0]))))
    return csr_matrix((values, positions, pointers), shape=shape)


class HashedFeaturizer:
    """The same tokens as `tokens`, hashed to 64 bits in numpy, looked up in a sorted array.

    A batch is one array of code points: every character n-gram and word is a polynomial
    hash of its span, taken from one prefix sum (mod 2**64), finished by the splitmix64
    mixer with a tag per kind of token; bigrams combine the hashes of two words. Known
    hashes are found by `searchsorted` in the sorted hashes of the training texts (no
    string is built or hashed in Python), so unknown tokens are dropped as before and
    collisions among a few hundred thousand 64-bit hashes are negligible. About four
    times faster in batches than building and looking up token strings
    (docs/benchmarks.md).
    """

    def __init__(self, hashes: np.ndarray, idf: np.ndarray) -> None:
        self.hashes = np.asarray(hashes, dtype=np.uint64)
        self.idf = np.asarray(idf, dtype=np.float64)
        self._by_hash = np.argsort(self.hashes)
        self._sorted = self.hashes[self._by_hash]

    @property
    def size(self) -> int:
        return len(self.hashes)

    @classmethod
    def fit(cls, texts: Sequence[str]) -> HashedFeaturizer:
        """Learn the hashes of every token in the texts and their smoothed IDF.

        Features are numbered in order of first occurrence in the texts, not by hash: the
        weights of features from the same text sit together, and the artifact compresses
        to a third (docs/classification.md).
        """
        rows, hashes = token_hashes(texts)
        by_text = np.argsort(rows, kind="stable")
        rows, hashes = rows[by_text], hashes[by_text]
        distinct, first, occurrence = np.unique(hashes, return_index=True, return_inverse=True)
        in_texts = np.unique(rows * len(distinct) + occurrence) % len(distinct)
        frequency = np.bincount(in_texts, minlength=len(distinct))
        order = np.argsort(first)
        return cls(distinct[order], _idf(frequency[order], len(texts)))

    def _positions(self, distinct: np.ndarray) -> IntArray:
        """Feature positions of sorted distinct hashes; -1 for unknown ones.

        Each distinct hash is searched once, in sorted order: three times faster than
        searching every occurrence (the look-ups stay in cache).
        """
        if not self.size:
            return np.full(len(distinct), -1, dtype=np.int64)
        found = np.minimum(np.searchsorted(self._sorted, distinct), self.size - 1)
        positions: IntArray = np.where(self._sorted[found] == distinct, self._by_hash[found], -1)
        return positions

    def _entries(self, texts: Sequence[str]) -> tuple[IntArray, IntArray, FloatArray]:
        """(row, feature position, weight) of every known feature, sorted by row and position."""
        rows, hashes = token_hashes(texts)
        distinct, occurrence = np.unique(hashes, return_inverse=True)
        positions = self._positions(distinct)[occurrence]
        known = positions >= 0
        size = self.size
        keys, counts = np.unique(rows[known] * size + positions[known], return_counts=True)
        rows, positions = keys // size, keys % size
        return rows, positions, _tf_idf(rows, positions, counts, self.idf, len(texts))

    def transform(self, texts: Sequence[str]) -> Any:
        """A sparse CSR matrix of TF-IDF weights, one row per text."""
        rows, positions, values = self._entries(texts)
        return _csr(rows, positions, values, (len(texts), self.size))

    def transform_one(self, text: str) -> tuple[IntArray, FloatArray]:
        """(feature indices, weights) of one text: the answer path, one sort, no CSR."""
        _rows, hashes = token_hashes([text])
        distinct, counts = np.unique(hashes, return_counts=True)
        positions = self._positions(distinct)
        known = positions >= 0
        positions = positions[known]
        values = (np.log(counts[known].astype(np.float64)) + 1) * self.idf[positions]
        norm = math.sqrt(float(values @ values))
        return positions, values / norm if norm else values


# An odd multiplier, so it has an inverse mod 2**64 and spans hash alike wherever they start.
_BASE = 0x100000001B3
_INVERSE = pow(_BASE, -1, 2**64)
_GOLDEN = 0x9E3779B97F4A7C15


def _constant(values: list[int]) -> np.ndarray:
    array = np.array(values, dtype=np.uint64)
    array.setflags(write=False)
    return array


# Powers of the base and of its inverse for every position of a padded text.
_POWERS = _constant([pow(_BASE, k, 2**64) for k in range(MAX_CHARS + 3)])
_INVERSES = _constant([pow(_INVERSE, k, 2**64) for k in range(MAX_CHARS + 3)])
_WORD_TAG, _BIGRAM_TAG, _CUE_TAG = 6, 7, 8
_CUES = (CAPS_TOKEN, BANGS_TOKEN, QUESTIONS_TOKEN, EMOJI_TOKEN)


def _mix(values: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser of value + tag x golden ratio (arrays wrap mod 2**64)."""
    mixed: np.ndarray = values + tags.astype(np.uint64) * np.uint64(_GOLDEN)
    mixed ^= mixed >> np.uint64(30)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    return mixed


def token_hashes(texts: Sequence[str]) -> tuple[IntArray, np.ndarray]:
    """(row, 64-bit hash) of every token occurrence of every text, as `tokens` lists them.

    Few numpy calls whatever the batch size, so that one text (the answer path) is fast too.
    """
    padded = [f" {prepare(text)} " for text in texts]
    joined = "".join(padded)
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    row_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    local = np.arange(total, dtype=np.int64) - np.repeat(ends - lengths, lengths)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
    weighted = (codes.astype(np.uint64) + np.uint64(1)) * _POWERS[local]
    prefix = np.concatenate(([np.uint64(0)], np.cumsum(weighted, dtype=np.uint64)))
    # Character n-grams: every start and size that stays inside its padded text.
    sizes = np.repeat(np.array(CHAR_NGRAMS, dtype=np.int64), total)
    starts = np.tile(np.arange(total, dtype=np.int64), len(CHAR_NGRAMS))
    inside = starts + sizes <= np.tile(np.repeat(ends, lengths), len(CHAR_NGRAMS))
    starts, sizes = starts[inside], sizes[inside]
    words = np.array([match.span() for match in _WORD.finditer(joined)], dtype=np.int64).reshape(
        -1, 2
    )
    starts = np.concatenate((starts, words[:, 0]))
    stops = np.concatenate((starts[: len(sizes)] + sizes, words[:, 1]))
    spans = (prefix[stops] - prefix[starts]) * _INVERSES[local[starts]]
    word_hashes = spans[len(sizes) :]
    word_rows = row_of[words[:, 0]]
    pairs = np.flatnonzero(word_rows[1:] == word_rows[:-1])
    bigrams = word_hashes[pairs] * np.uint64(_BASE) ^ word_hashes[pairs + 1]
    cue_rows, cue_kinds = [], []
    for row, text in enumerate(texts):
        for cue in cues(text):
            cue_rows.append(row)
            cue_kinds.append(_CUES.index(cue))
    tags = np.concatenate(
        (
            sizes,
            np.full(len(words), _WORD_TAG),
            np.full(len(pairs), _BIGRAM_TAG),
            np.full(len(cue_rows), _CUE_TAG),
        )
    )
    raw = np.concatenate((spans, bigrams, np.array(cue_kinds, dtype=np.uint64)))
    rows = np.concatenate((row_of[starts], word_rows[pairs], np.array(cue_rows, dtype=np.int64)))
    return rows, _mix(raw, tags)


class VocabularyFeaturizer:
    """Format 1 (`churnbot-linear-1`): token strings looked up in a vocabulary dict.

    Kept so that models retrained and stored before the hashed featurizer still load.
    """

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray) -> None:
        self.vocabulary = list(vocabulary)
        self.index = {token: position for position, token in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(cls, texts: Sequence[str]) -> VocabularyFeaturizer:
        """Learn the vocabulary (every token of the texts) and smoothed IDF."""
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(set(tokens(text)))
        vocabulary = sorted(document_frequency)
        frequency = np.array([document_frequency[token] for token in vocabulary])
        return cls(vocabulary, _idf(frequency, len(texts)))

    def _entries(self, texts: Sequence[str]) -> tuple[IntArray, IntArray, FloatArray]:
        """(row, feature position, weight) of every known feature, sorted by row and position."""
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            found = Counter(tokens(text))
            looked_up = sorted(
                (position, count)
                for position, count in zip(
                    map(self.index.get, found, repeat(-1)), found.values(), strict=True
                )
                if position >= 0
            )
            columns += [position for position, _ in looked_up]
            counts += [count for _, count in looked_up]
            rows += [row] * len(looked_up)
        row_of = np.array(rows, dtype=np.int64)
        positions = np.array(columns, dtype=np.int64)
        values = _tf_idf(row_of, positions, np.array(counts), self.idf, len(texts))
        return row_of, positions, values

    def transform(self, texts: Sequence[str]) -> Any:
        """A sparse CSR matrix of TF-IDF weights, one row per text."""
        rows, positions, values = self._entries(texts)
        return _csr(rows, positions, values, (len(texts), self.size))

    def transform_one(self, text: str) -> tuple[IntArray, FloatArray]:
        """(feature indices, weights) of one text."""
        _rows, positions, values = self._entries([text])
        return positions, values


Featurizer = HashedFeaturizer | VocabularyFeaturizer


@dataclass(frozen=True)
class LinearHead:
    """One linear classifier over the shared features, calibrated by a temperature."""

    labels: tuple[str, ...]
    coef: np.ndarray  # (features, labels), float32: a row per feature gathers fast
    intercept: np.ndarray
    temperature: float = 1.0

    def logits_one(self, positions: np.ndarray, values: np.ndarray) -> np.ndarray:
        logits: np.ndarray = values @ self.coef[positions] + self.intercept
        return logits

    def logits(self, matrix: Any) -> np.ndarray:
        logits: np.ndarray = np.asarray(matrix @ self.coef) + self.intercept
        return logits

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        scaled = logits / self.temperature
        scaled = scaled - scaled.max(axis=-1, keepdims=True)
        exp = np.exp(scaled)
        probabilities: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
        return probabilities


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's answer for one text: each head's label and calibrated probability."""

    category: str
    category_probability: float
    secondary: tuple[str, ...]
    sentiment: str
    sentiment_probability: float
    language: str
    language_probability: float


class LearnedModel:
    """The trained featurizer and heads, with the metadata of how they were trained."""

    HEADS = ("category", "sentiment", "language")

    def __init__(
        self, featurizer: Featurizer, heads: dict[str, LinearHead], metadata: dict[str, Any]
    ) -> None:
        self.featurizer = featurizer
        self.heads = heads
        self.metadata = metadata

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "model"))

    def predict(self, text: str) -> Prediction:
        """Predict one text (the answer path)."""
        positions, values = self.featurizer.transform_one(text)
        return self._prediction(
            {
                name: head.probabilities(head.logits_one(positions, values))
                for name, head in self.heads.items()
            },
            0,
        )

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """Predict a batch with one sparse product per head (bulk paths)."""
        if not texts:
            return []
        matrix = self.featurizer.transform(texts).astype(np.float32)
        probabilities = {
            name: head.probabilities(head.logits(matrix)) for name, head in self.heads.items()
        }
        return [self._prediction(probabilities, row) for row in range(len(texts))]

    def _prediction(self, probabilities: dict[str, np.ndarray], row: int) -> Prediction:
        chosen = {}
        for name, head in self.heads.items():
            values = probabilities[name]
            values = values[row] if values.ndim == 2 else values
            best = int(values.argmax())
            chosen[name] = (head.labels[best], float(values[best]), values)
        category, category_p, category_all = chosen["category"]
        order = np.argsort(-category_all, kind="stable")
        secondary = tuple(
            self.heads["category"].labels[index]
            for index in order[1:3]
            if category_all[index] >= 0.2 and self.heads["category"].labels[index] != "other"
        )
        return Prediction(
            category=category,
            category_probability=category_p,
            secondary=secondary,
            sentiment=chosen["sentiment"][0],
            sentiment_probability=chosen["sentiment"][1],
            language=chosen["language"][0],
            language_probability=chosen["language"][1],
        )

    def to_bytes(self) -> bytes:
        """Serialise to a deterministic zip of `.npy` arrays and JSON (no pickle)."""
        members: dict[str, bytes] = {
            "metadata.json": _json(self.metadata),
            "idf.npy": _npy(self.featurizer.idf),
        }
        if isinstance(self.featurizer, HashedFeaturizer):
            members["hashes.npy"] = _npy(self.featurizer.hashes)
        else:
            members["vocabulary.json"] = _json(self.featurizer.vocabulary)
        for name, head in self.heads.items():
            members[f"{name}.json"] = _json(
                {"labels": list(head.labels), "temperature": head.temperature}
            )
            members[f"{name}.coef.npy"] = _npy(head.coef)
            members[f"{name}.intercept.npy"] = _npy(head.intercept)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, members[name])
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LearnedModel:
        """Read what `to_bytes` wrote; raises ValueError for anything else."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                metadata = json.loads(archive.read("metadata.json"))
                idf = np.load(io.BytesIO(archive.read("idf.npy")), allow_pickle=False)
                featurizer: Featurizer
                if metadata.get("format") == FORMAT:
                    hashes = np.load(io.BytesIO(archive.read("hashes.npy")), allow_pickle=False)
                    featurizer = HashedFeaturizer(hashes, idf)
                elif metadata.get("format") == VOCABULARY_FORMAT:
                    vocabulary = json.loads(archive.read("vocabulary.json"))
                    featurizer = VocabularyFeaturizer(vocabulary, idf)
                else:
                    raise ValueError(f"not a {FORMAT} model")
                heads = {}
                for name in cls.HEADS:
                    head = json.loads(archive.read(f"{name}.json"))
                    heads[name] = LinearHead(
                        labels=tuple(head["labels"]),
                        coef=np.load(
                            io.BytesIO(archive.read(f"{name}.coef.npy")), allow_pickle=False
                        ),
                        intercept=np.load(
                            io.BytesIO(archive.read(f"{name}.intercept.npy")), allow_pickle=False
                        ),
                        temperature=float(head["temperature"]),
                    )
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
            raise ValueError(f"unreadable model: {error}") from None
        return cls(featurizer, heads, metadata)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LearnedModel:
        """Load the model shipped with the package."""
        return cls.from_bytes(path.read_bytes())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()
