"""The `classify` and `reclassify` commands, through a Typer app like churnbot's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_classify import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_classify_text_prints_json(app: typer.Typer) -> None:
    for arguments in (["the app crashes all the time"], ["--lang", "de", "zu teuer"]):
        result = CliRunner().invoke(app, ["classify", *arguments])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["category"] in ("bugs_reliability", "price")
        assert data["method"] == "model"
    assert data["language"] == "de"


def test_jsonl_keeps_ids_and_reports_malformed_lines(app: typer.Typer) -> None:
    lines = "\n".join(
        [
            json.dumps({"id": "a", "text": "too expensive"}),
            "{not json",
            json.dumps({"id": "c", "text": None}),
            json.dumps({"id": "d", "text": "Wir sind zu Asana gewechselt", "lang": "de"}),
        ]
    )
    result = CliRunner().invoke(app, ["classify", "--jsonl"], input=lines)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [record.get("id") for record in records] == ["a", None, "c", "d"]
    assert records[0]["category"] == "price"
    assert "error" in records[1]
    assert "error" in records[2]
    assert records[3]["category"] == "competitor"


def _held_out_file(tmp_path: Path) -> Path:
    from surveys.classification.corpus import read_corpus, split

    path = tmp_path / "held_out.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for example in split(read_corpus())[1]:
            handle.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
    return path


def test_eval_json_reports_groups_and_confusion(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["classify", "--eval", str(_held_out_file(tmp_path)), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) >= {"all", "en", "other", "errors"}
    assert report["en"]["category"]["confusion"]["price"]["price"] > 0


def test_eval_prints_tables(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["classify", "--eval", str(_held_out_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output
    assert "gold \\ predicted" in result.output
    assert "sentiment accuracy" in result.output


def test_eval_of_a_file_without_category_is_one_line_not_a_traceback(
    app: typer.Typer, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "too expensive"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", "--eval", str(path)])
    assert result.exit_code == 2
    assert "missing or unknown category" in result.output
    assert "Traceback" not in result.output


def test_check_corpus_passes_on_the_shipped_corpus(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["classify", "check-corpus"])
    assert result.exit_code == 0, result.output
    assert "corpus ok" in result.output


def test_retrain_without_a_database_is_refused_in_one_line(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["classify", "retrain"])
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.output


def test_reclassify_reports_count(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["reclassify", "--since", "2024-01-01"])
    assert result.exit_code == 0, result.output
    assert "reclassified 0 answers" in result.output
