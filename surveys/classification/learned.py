"""The learned churn-reason model: TF-IDF word and character n-grams into linear heads.

Features: word 1-2-grams and character 1-5-grams of the normalised text (so typos,
inflections, dropped accents, Chinese and Korean without spaces still share features), plus
tokens for shouting in capitals (normalisation lower-cases), "!!"/"??" and emoji. Weights
are TF-IDF with sublinear term frequency and L2 normalisation, the same formula as scikit-learn's
`TfidfVectorizer(sublinear_tf=True)`. Three linear heads (scikit-learn's `LinearSVC`) share
the features: category, sentiment, language. Each head's scores become probabilities by a
softmax whose temperature is fitted on out-of-fold predictions (calibration).

The featurizer is ours, not a fitted `TfidfVectorizer`: training and prediction run the very
same code, and predicting one text is a few dict look-ups and a small dense product instead
of scikit-learn's per-call validation. The artifact holds only numbers and strings (a zip
of `.npy` arrays and JSON, read with `allow_pickle=False`), so loading it runs no code.
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
from scipy.sparse import csr_matrix

from surveys.classification.language import clean_markup, normalise

MODEL_PATH = Path(__file__).with_name("model.bin")
FORMAT = "churnbot-linear-1"
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


def prepare(text: str) -> str:
    """The text the features are taken from: markup dropped, normalised, bounded."""
    return normalise(clean_markup(text[: MAX_CHARS * 2]))[:MAX_CHARS]


def tokens(raw: str) -> list[str]:
    """Every feature token of a raw text (with repeats: term frequency counts them)."""
    text = prepare(raw)
    words = _WORD.findall(text)
    found = [f"w {word}" for word in words]
    found += [f"b {first} {second}" for first, second in pairwise(words)]
    padded = f" {text} "
    for size in CHAR_NGRAMS:
        found += [padded[index : index + size] for index in range(len(padded) - size + 1)]
    if len(_SHOUTED.findall(raw)) >= 1 and sum(map(str.isupper, raw)) > sum(map(str.islower, raw)):
        found.append(CAPS_TOKEN)
    if "!!" in raw:
        found.append(BANGS_TOKEN)
    if _QUESTIONS.search(raw):
        found.append(QUESTIONS_TOKEN)
    if any(ord(character) >= 0x1F000 for character in raw):
        found.append(EMOJI_TOKEN)
    return found


class Featurizer:
    """Token counts → sublinear TF × IDF → L2-normalised sparse vector."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray) -> None:
        self.vocabulary = list(vocabulary)
        self.index = {token: position for position, token in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)

    @classmethod
    def fit(cls, texts: Sequence[str], *, min_df: int = 1) -> Featurizer:
        """Learn the vocabulary (tokens in at least `min_df` texts) and smoothed IDF."""
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(set(tokens(text)))
        vocabulary = sorted(token for token, df in document_frequency.items() if df >= min_df)
        count = len(texts)
        idf = np.array(
            [math.log((1 + count) / (1 + document_frequency[token])) + 1 for token in vocabulary]
        )
        return cls(vocabulary, idf)

    def _lookup(self, text: str) -> tuple[list[int], list[int]]:
        """(vocabulary positions, counts) of a text's distinct tokens; -1 for unknown ones.

        Counting and looking up run in C (`Counter`, `map` with a default): a Python
        loop over every token took 40% of a batch's time.
        """
        found = Counter(tokens(text))
        return list(map(self.index.get, found, repeat(-1))), list(found.values())

    def _weights(self, positions: np.ndarray, counts: np.ndarray) -> np.ndarray:
        weights: np.ndarray = (np.log(counts.astype(np.float64)) + 1) * self.idf[positions]
        return weights

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, weights) of one text."""
        looked_up, counted = self._lookup(text)
        positions = np.array(looked_up, dtype=np.int64)
        known = positions >= 0
        positions = positions[known]
        if not len(positions):
            return positions, np.empty(0)
        values = self._weights(positions, np.array(counted)[known])
        values /= math.sqrt(float(values @ values))
        return positions, values

    def transform(self, texts: Sequence[str]) -> Any:
        """A sparse CSR matrix, one row per text (the same values as `transform_one`,
        computed for the whole batch at once)."""
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            looked_up, counted = self._lookup(text)
            columns += looked_up
            counts += counted
            rows += [row] * len(looked_up)
        positions = np.array(columns, dtype=np.int64)
        known = positions >= 0
        positions = positions[known]
        row_of = np.array(rows, dtype=np.int64)[known]
        values = self._weights(positions, np.array(counts, dtype=np.int64)[known])
        pointers = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=len(texts)))))
        matrix = csr_matrix(
            (values, positions, pointers), shape=(len(texts), len(self.vocabulary))
        )
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
        return matrix


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
            "vocabulary.json": _json(self.featurizer.vocabulary),
            "idf.npy": _npy(self.featurizer.idf),
        }
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
                if metadata.get("format") != FORMAT:
                    raise ValueError(f"not a {FORMAT} model")
                featurizer = Featurizer(
                    json.loads(archive.read("vocabulary.json")),
                    np.load(io.BytesIO(archive.read("idf.npy")), allow_pickle=False),
                )
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
