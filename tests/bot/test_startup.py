"""Start-up: busy ports named by their setting, private files, what `surveys check` checks."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import db as database
from tests.auxil.cli import Invoke
from tests.auxil.telegram_api import TelegramServer


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.e2e
def test_busy_http_port_is_reported_as_http_port(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, busy_port: int
) -> None:
    with TelegramServer() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", server.fake.token)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", server.base_url)
        monkeypatch.setenv("HTTP_PORT", str(busy_port))
        monkeypatch.setenv("LOG_LEVEL", "ERROR")

        result = invoke("run")

    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert f"HTTP_PORT {busy_port}" in line
    assert "SANDBOX_PORT" not in line
    assert server.fake.calls() == []  # stopped before talking to Telegram


@pytest.mark.e2e
def test_busy_sandbox_port_is_reported_as_sandbox_port(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, busy_port: int
) -> None:
    monkeypatch.setenv("SANDBOX_PORT", str(busy_port))
    monkeypatch.setenv("HTTP_PORT", "0")

    result = invoke("sandbox")

    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert f"SANDBOX_PORT {busy_port}" in line
    assert "HTTP_PORT" not in line


@pytest.mark.e2e
def test_busy_http_port_in_the_sandbox_is_reported_as_http_port(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, busy_port: int
) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "0")
    monkeypatch.setenv("HTTP_PORT", str(busy_port))

    result = invoke("sandbox")

    assert result.exit_code == 2
    assert f"HTTP_PORT {busy_port}" in _one_error_line(result.stderr)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # a permissive umask, as on most systems
    try:
        engine = database.make_engine(f"sqlite:///{tmp_path / 'data' / 'churnbot.db'}")
        database.upgrade(engine)
        engine.dispose()
    finally:
        os.umask(previous)

    files = sorted((tmp_path / "data").iterdir())
    assert files
    for path in files:  # the database and SQLite's -wal / -shm companions
        assert _mode(path) == 0o600, (path.name, oct(_mode(path)))


def test_files_the_cli_creates_are_private(
    invoke: Invoke, tmp_path: Path, cli_database_url: str
) -> None:
    os.umask(0o022)
    assert invoke("link", "acme-1", "--token-only").exit_code == 0
    export = tmp_path / "answers.csv"

    result = invoke("export", "answers", "--format", "csv", "--output", str(export))

    assert result.exit_code == 0, result.output
    assert _mode(Path(cli_database_url.removeprefix("sqlite:///"))) == 0o600
    assert _mode(export) == 0o600


VALID_DEFINITION = """\
key: exit
title: {en: Exit}
languages: [en]
questions:
  - key: reason
    type: text
    text: {en: 'Why?'}
closing: {text: {en: Thanks}}
"""


@pytest.mark.parametrize(
    ("folder_state", "problem"),
    [("missing", "no such folder"), ("empty", "no survey definitions"), ("broken", "exit.yaml")],
)
def test_surveys_check_checks_survey_definitions_dir_as_run_would(
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    folder_state: str,
    problem: str,
) -> None:
    folder = tmp_path / "definitions"
    if folder_state != "missing":
        folder.mkdir()
    if folder_state == "broken":
        (folder / "exit.yaml").write_text("key: [exit\n", encoding="utf-8")
    monkeypatch.setenv("SURVEY_DEFINITIONS_DIR", str(folder))

    result = invoke("surveys", "check")

    assert result.exit_code == 1
    assert "all survey definitions are valid" not in result.output
    assert result.stderr.startswith("invalid:")
    assert problem in result.stderr


def test_surveys_check_passes_a_valid_survey_definitions_dir(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "exit.yaml").write_text(VALID_DEFINITION, encoding="utf-8")
    monkeypatch.setenv("SURVEY_DEFINITIONS_DIR", str(folder))

    result = invoke("surveys", "check")

    assert result.exit_code == 0, result.output
    assert "all survey definitions are valid" in result.stdout
