"""Bad settings and bad input: one line naming what is wrong, exit code 2, nothing done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import func, select

from storage.models import Customer, Event
from storage.session import run_unit
from tests.auxil.cli import Invoke

BROKEN_YAML = "key: [exit\n  questions: {\n"


def _broken_definitions(tmp_path: Path) -> str:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "exit.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    return str(folder)


def _unlabelled_file(tmp_path: Path) -> str:
    path = tmp_path / "unlabelled.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "too expensive", "lang": "en"}) + "\n")
    return str(path)


# (case, environment, arguments, words the one line must contain)
BAD_SETTINGS = [
    ("garbage database url", {"DATABASE_URL": "garbage"}, ["link", "c-1"], ["DATABASE_URL"]),
    (
        "unsupported database",
        {"DATABASE_URL": "mysql://user:pw@localhost/churn"},
        ["link", "c-1"],
        ["DATABASE_URL", "mysql", "not supported"],
    ),
    (
        "unreachable postgres",
        {"DATABASE_URL": "postgresql+psycopg://postgres:pw@127.0.0.1:1/test"},
        ["link", "c-1"],
        ["DATABASE_URL", "cannot be reached"],
    ),
    (
        "bad schedule",
        {"SUMMARY_SCHEDULE": "garbage"},
        ["link", "c-1"],
        ["SUMMARY_SCHEDULE", "'garbage'"],
    ),
    ("bad log level", {"LOG_LEVEL": "LOUD"}, ["link", "c-1"], ["LOG_LEVEL", "'LOUD'"]),
    (
        "malformed bot token",
        {"TELEGRAM_BOT_TOKEN": "paste-your-token-here"},
        ["link", "c-1"],
        ["TELEGRAM_BOT_TOKEN", "not a Bot API token"],
    ),
    ("bad sandbox port", {"SANDBOX_PORT": "eighty"}, ["sandbox"], ["SANDBOX_PORT"]),
    (
        "broken survey yaml",
        {"SURVEY_DEFINITIONS_DIR": "{definitions}"},
        ["link", "c-1"],
        ["SURVEY_DEFINITIONS_DIR", "exit.yaml", "cannot read"],
    ),
    ("empty customer id", {}, ["link", " "], ["CUSTOMER_ID is empty"]),
    ("link valid for no day", {}, ["link", "c-1", "--days", "0"], ["--days 0"]),
    (
        "event in the far future",
        {},
        ["event", "cancel", "c-1", "--ref", "SUB-1", "--at", "2090-01-01T00:00:00+00:00"],
        ["--at", "2090-01-01", "outside"],
    ),
    (
        "event before 2000",
        {},
        ["event", "interaction", "c-1", "--ref", "T-1", "--at", "0001-01-01T00:00:00"],
        ["--at", "outside"],
    ),
    (
        "evaluation file without category",
        {},
        ["classify", "--eval", "{unlabelled}"],
        ["unlabelled.jsonl", "category"],
    ),
]


@pytest.mark.parametrize(
    ("environment", "args", "words"),
    [pytest.param(env, args, words, id=case) for case, env, args, words in BAD_SETTINGS],
)
def test_bad_setting_or_input_stops_with_one_line_and_exit_2_doing_nothing(
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    environment: dict[str, str],
    args: list[str],
    words: list[str],
) -> None:
    places = {"definitions": _broken_definitions(tmp_path), "unlabelled": ""}
    if "{unlabelled}" in args:
        places["unlabelled"] = _unlabelled_file(tmp_path)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(**places))

    result = invoke(*[arg.format(**places) for arg in args])

    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.output
    assert "pw@" not in result.output  # a database password is never echoed
    assert not (tmp_path / "cli.db").exists()  # nothing half-done: no database either


@pytest.mark.parametrize("how", ["--debug", "LOG_LEVEL=DEBUG"])
def test_debug_shows_the_traceback_behind_the_line(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str
) -> None:
    monkeypatch.setenv("SURVEY_DEFINITIONS_DIR", _broken_definitions(tmp_path))
    if how == "--debug":
        result = invoke("--debug", "link", "c-1")
    else:
        monkeypatch.setenv("LOG_LEVEL", "DEBUG")
        result = invoke("link", "c-1")

    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "DefinitionError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: survey definitions")


def test_event_at_a_sane_past_time_is_still_recorded(invoke: Invoke, cli_db: Engine) -> None:
    result = invoke("event", "cancel", "c-1", "--ref", "SUB-1", "--at", "2026-11-01T10:00:00Z")

    assert result.exit_code == 0, result.output
    assert run_unit(cli_db, lambda s: s.exec(select(func.count()).select_from(Event)).one()) == 1


def test_summary_post_without_slack_fails_before_printing_the_summary(invoke: Invoke) -> None:
    result = invoke("summary", "--post")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "SLACK_BOT_TOKEN" in result.stderr


def _all_commands(invoke: Invoke) -> list[list[str]]:
    from typer.main import get_command

    from bot.cli import app

    group = get_command(app)
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        commands = getattr(command, "commands", None)
        if commands is None:
            found.append(path)
            return
        for name, sub in commands.items():
            walk(sub, [*path, name])

    walk(group, [])
    return found


def test_help_shows_no_bool_beside_flags_and_plain_usage_names(invoke: Invoke) -> None:
    commands = _all_commands(invoke)
    assert ["customers", "import"] in commands

    for path in [[], *commands]:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, path
        usage = result.stdout.strip().splitlines()[0]
        assert "{" not in usage, (path, usage)
    assert "link [OPTIONS] CUSTOMER_ID\n" in invoke("link", "--help").stdout


def test_import_count_is_singular_for_one_customer(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "one.csv"
    path.write_text("customer_id\nacme-1\n", encoding="utf-8")

    result = invoke("customers", "import", str(path))

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "imported 1 customer"
    assert run_unit(cli_db, lambda s: s.exec(select(func.count()).select_from(Customer)).one())
