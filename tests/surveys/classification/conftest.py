"""Fixtures for the classification tests: the shipped classifier, corpus and dev set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from surveys.classification import Classifier
from surveys.classification.corpus import Example, read_corpus

REPO_ROOT = Path(__file__).resolve().parents[3]
DEV_SET = Path(
    os.environ.get("CHURN_DEV_SET")
    or REPO_ROOT / ".." / "shared" / "data" / "churn_reasons_dev.jsonl"
)


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="session")
def corpus() -> list[Example]:
    return read_corpus()


@pytest.fixture(scope="session")
def small_corpus(corpus: list[Example]) -> list[Example]:
    """Every fifteenth example: enough to train on in a second, every category present."""
    return corpus[::15]


@pytest.fixture(scope="session")
def dev_set_path() -> Path:
    if not DEV_SET.is_file():
        pytest.skip(f"the labelled dev set is not at {DEV_SET} (it lives outside the repo)")
    return DEV_SET
