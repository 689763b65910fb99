"""Settings: .env.example documents every setting, and its values are the safe defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def _example_names() -> set[str]:
    return {
        match.group(1)
        for match in re.finditer(r"^([A-Z_]+)=", EXAMPLE.read_text(), flags=re.MULTILINE)
    }


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    assert _example_names() == {name.upper() for name in Settings.model_fields}


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    from_example = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example.model_dump() == defaults.model_dump()
    assert from_example.telegram_bot_token is None
    assert from_example.survey_definitions_dir is None


def test_invalid_setting_stops_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIET_HOURS", "after dinner")
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith("QUIET_HOURS is invalid: ")
    assert "\n" not in message
