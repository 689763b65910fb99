"""The corpus check: labels, duplicates, near-duplicates, dev-set overlap, counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surveys.classification.corpus import (
    CORPUS_DIR,
    Example,
    check_corpus,
    counts_table,
    find_duplicates,
    import_corpus,
    is_held_out,
    split,
)
from surveys.classification.corpus_check import main
from surveys.classification.model import CATEGORIES, LANGUAGES


def _example(text: str, category: str = "price", lang: str = "en") -> Example:
    return Example(text=text, lang=lang, category=category, sentiment="neutral")


def _write(directory: Path, rows: list[dict[str, object]]) -> None:
    for row in rows:
        path = directory / str(row["lang"]) / f"{row['category']}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def test_exact_and_near_duplicates_are_found_and_the_first_stays() -> None:
    examples = [
        _example("Way too expensive for a small team like ours"),
        _example("way too expensive for a small team like ours!!"),
        _example("Way too expensive for a small team like ours."),
        _example("Way too expensive for a smal team like ours"),
        _example("the app crashes every morning"),
    ]
    dropped = find_duplicates(examples)
    assert sorted(dropped) == [1, 2, 3]
    assert "exact duplicate" in dropped[1]
    assert "near-duplicate" in dropped[3]


def test_different_short_answers_are_not_near_duplicates() -> None:
    examples = [_example(text) for text in ("too pricey", "too pricy", "💸", "👎", "xd")]
    assert find_duplicates(examples) == {}


def test_dev_set_texts_are_refused_after_normalisation() -> None:
    examples = [_example("Interface is a MAZE!"), _example("the app crashes")]
    dropped = find_duplicates(examples, forbidden=["interface is a maze"])
    assert list(dropped) == [0]
    assert "dev set" in dropped[0]


def test_check_reports_unknown_labels_duplicates_dev_overlap_and_counts(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write(
        corpus,
        [
            {"text": "too expensive", "lang": "en", "category": "price", "sentiment": "neutral"},
            {"text": "too expensive!", "lang": "en", "category": "price", "sentiment": "neutral"},
            {"text": "interface is a maze", "lang": "en", "category": "price", "sentiment": "x"},
            {"text": "nobody answers", "lang": "en", "category": "price", "sentiment": "negative"},
        ],
    )
    (corpus / "xx").mkdir()
    (corpus / "xx" / "price.jsonl").write_text(
        json.dumps({"text": "a", "lang": "xx", "category": "price", "sentiment": "neutral"})
        + "\n",
        encoding="utf-8",
    )
    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps({"text": "Nobody answers."}) + "\n", encoding="utf-8")
    report = check_corpus(corpus, dev_set=dev)
    text = "\n".join(report.problems)
    assert not report.ok
    assert "unknown sentiment 'x'" in text
    assert "unknown lang 'xx'" in text
    assert "exact duplicate" in text
    assert "appears in the dev set" in text
    assert "fewer than 3000" in text
    assert "en/low_value: 0.0%" in text


def test_check_skips_the_dev_overlap_with_a_message_when_absent(tmp_path: Path) -> None:
    report = check_corpus(tmp_path, dev_set=tmp_path / "missing.jsonl")
    assert any("overlap check skipped" in note for note in report.notes)


def test_import_drops_duplicates_deterministically(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    texts = ["too expensive", "price went up again", "cannot afford it", "budget cut", "$$$"]
    rows: list[dict[str, object]] = [
        {"text": text, "lang": "en", "category": "price", "sentiment": "neutral"} for text in texts
    ]
    rows.append(dict(rows[0]))
    _write(staging, rows)
    first, second = tmp_path / "a", tmp_path / "b"
    written, dropped = import_corpus(staging, first)
    import_corpus(staging, second)
    assert (written, len(dropped)) == (5, 1)
    assert (first / "en" / "price.jsonl").read_bytes() == (
        second / "en" / "price.jsonl"
    ).read_bytes()


def test_held_out_split_is_deterministic_and_about_fifteen_percent(
    corpus: list[Example],
) -> None:
    training, held_out = split(corpus)
    assert len(training) + len(held_out) == len(corpus)
    assert 0.12 <= len(held_out) / len(corpus) <= 0.18
    assert all(is_held_out(example.text) for example in held_out)


def test_shipped_corpus_passes_the_check() -> None:
    assert main(["--corpus", str(CORPUS_DIR)]) == 0


def test_shipped_corpus_covers_every_language_and_category(corpus: list[Example]) -> None:
    cells = {(example.lang, example.category) for example in corpus}
    assert cells == {(lang, category) for lang in LANGUAGES for category in CATEGORIES}


def test_dev_set_is_not_in_the_shipped_corpus(dev_set_path: Path) -> None:
    report = check_corpus(CORPUS_DIR, dev_set=dev_set_path)
    assert not [problem for problem in report.problems if "dev" in problem]


@pytest.mark.parametrize("name", ["churn_reasons_dev.jsonl"])
def test_dev_set_file_is_never_copied_into_the_repository(name: str) -> None:
    repo = Path(__file__).resolve().parents[3]
    assert [path for path in repo.rglob(name) if ".venv" not in path.parts] == []


def test_datasheet_counts_match_the_shipped_corpus(corpus: list[Example]) -> None:
    datasheet = (Path(__file__).resolve().parents[3] / "docs" / "corpus.md").read_text(
        encoding="utf-8"
    )
    embedded = datasheet.split("<!-- counts:start -->\n")[1].split("<!-- counts:end -->")[0]
    assert embedded == counts_table(corpus), (
        "run `python -m surveys.classification.corpus_check --counts` and update docs/corpus.md"
    )
