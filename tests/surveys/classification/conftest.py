"""Fixtures for the classification tests: one classifier and the dev set's location."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveys.classification import Classifier

REPO_ROOT = Path(__file__).resolve().parents[3]
DEV_SET = REPO_ROOT / ".." / "shared" / "data" / "churn_reasons_dev.jsonl"
PROBE_SET = Path(__file__).with_name("probe_set.jsonl")


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="session")
def dev_set_path() -> Path:
    if not DEV_SET.is_file():
        pytest.skip(f"the labelled dev set is not at {DEV_SET} (it lives outside the repo)")
    return DEV_SET
