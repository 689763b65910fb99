"""Training is deterministic, the artifact is safe, small and matches the corpus."""

from __future__ import annotations

import zipfile
from io import BytesIO

import numpy as np
import pytest

from surveys.classification import Classifier
from surveys.classification.corpus import Example, corpus_hash, split
from surveys.classification.learned import (
    MODEL_PATH,
    VOCABULARY_FORMAT,
    HashedFeaturizer,
    LearnedModel,
    LinearHead,
    VocabularyFeaturizer,
)
from surveys.classification.model import CATEGORIES, LANGUAGES, SENTIMENTS
from surveys.classification.training import expected_calibration_error, train


def test_same_corpus_gives_the_same_model_bytes(small_corpus: list[Example]) -> None:
    first = train(small_corpus, corpus_hash="x", folds=3).to_bytes()
    second = train(small_corpus, corpus_hash="x", folds=3).to_bytes()
    assert first == second


def test_model_round_trips_through_bytes(small_corpus: list[Example]) -> None:
    model = train(small_corpus, corpus_hash="x", folds=3)
    again = LearnedModel.from_bytes(model.to_bytes())
    texts = [example.text for example in small_corpus[:50]]
    assert again.predict_many(texts) == model.predict_many(texts)


def test_shipped_model_matches_the_current_corpus(corpus: list[Example]) -> None:
    model = LearnedModel.load()
    assert model.metadata["corpus_hash"] == corpus_hash(corpus), (
        "the corpus changed: run `churnbot classify train` and commit the model"
    )
    training, _held_out = split(corpus)
    assert model.metadata["examples"] == len(training)


def test_shipped_model_is_at_most_20_mb_and_holds_no_pickle() -> None:
    assert MODEL_PATH.stat().st_size <= 20_000_000
    with zipfile.ZipFile(MODEL_PATH) as archive:
        names = archive.namelist()
        assert all(name.endswith((".json", ".npy")) for name in names)
        for name in names:
            if name.endswith(".npy"):
                np.load(BytesIO(archive.read(name)), allow_pickle=False)


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x05\x06" + b"\x00" * 18])
def test_garbage_is_refused_as_a_model(data: bytes) -> None:
    with pytest.raises(ValueError, match="model"):
        LearnedModel.from_bytes(data)


@pytest.mark.parametrize("kind", [HashedFeaturizer, VocabularyFeaturizer])
def test_batch_features_equal_one_text_features(
    kind: type[HashedFeaturizer | VocabularyFeaturizer],
) -> None:
    texts = ["Too expensive!!", "服务器经常宕机", "NOBODY ANSWERS", "", "zu teuer, leider"]
    featurizer = kind.fit(texts)
    matrix = featurizer.transform(texts).toarray()
    for row, text in enumerate(texts):
        positions, values = featurizer.transform_one(text)
        expected = np.zeros(matrix.shape[1])
        expected[positions] = values
        assert np.allclose(matrix[row], expected)


def test_hashed_features_are_the_tokens_of_the_text() -> None:
    texts = ["Too expensive!! too expensive", "服务器经常宕机 😡", "NOBODY ANSWERS", "no"]
    hashed = HashedFeaturizer.fit(texts)
    strings = VocabularyFeaturizer.fit(texts)
    assert hashed.size == strings.size
    assert np.allclose(np.sort(hashed.idf), np.sort(strings.idf))
    for text in texts:
        assert np.allclose(
            np.sort(hashed.transform_one(text)[1]), np.sort(strings.transform_one(text)[1])
        )
    assert hashed.transform_one("entirely unseen")[0].tolist() != []  # " " and "e" are known
    assert len(hashed.transform_one("ŻŹĆ")[0]) == 1  # only the padding space is known


def test_a_model_of_the_first_format_still_loads(small_corpus: list[Example]) -> None:
    texts = [example.text for example in small_corpus]
    featurizer = VocabularyFeaturizer.fit(texts)
    weights = np.random.default_rng(0)
    heads = {
        name: LinearHead(
            labels,
            weights.standard_normal((featurizer.size, len(labels))).astype(np.float32),
            np.zeros(len(labels)),
        )
        for name, labels in (
            ("category", CATEGORIES),
            ("sentiment", SENTIMENTS),
            ("language", LANGUAGES),
        )
    }
    old = LearnedModel(featurizer, heads, {"format": VOCABULARY_FORMAT, "version": "old"})
    again = LearnedModel.from_bytes(old.to_bytes())
    assert isinstance(again.featurizer, VocabularyFeaturizer)
    assert again.predict_many(texts[:20]) == old.predict_many(texts[:20])
    assert again.predict(texts[0]).category == old.predict_many(texts[:1])[0].category


def test_calibrated_confidence_is_close_to_accuracy_on_the_held_out_split(
    classifier: Classifier, corpus: list[Example]
) -> None:
    _training, held_out = split(corpus)
    results = classifier.classify_many(
        [example.text for example in held_out], languages=[e.lang for e in held_out]
    )
    error = expected_calibration_error(
        [result.confidence for result in results],
        [
            result.category == example.category
            for result, example in zip(results, held_out, strict=True)
        ],
    )
    assert error <= 0.1
