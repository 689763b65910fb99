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
    result = CliRunner().invoke(app, ["classify", "服务器经常宕机", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["category"] == "bugs_reliability"


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


def test_eval_json_reports_groups_and_confusion(app: typer.Typer, dev_set_path: Path) -> None:
    result = CliRunner().invoke(app, ["classify", "--eval", str(dev_set_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) >= {"all", "en", "other", "errors"}
    assert report["en"]["category"]["confusion"]["price"]["price"] > 0


def test_eval_prints_tables(app: typer.Typer, dev_set_path: Path) -> None:
    result = CliRunner().invoke(app, ["classify", "--eval", str(dev_set_path)])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output
    assert "gold \\ predicted" in result.output


def test_reclassify_reports_count(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["reclassify", "--since", "2024-01-01"])
    assert result.exit_code == 0, result.output
    assert "reclassified 0 answers" in result.output
