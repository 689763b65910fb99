"""What every `churnbot` command group loads: the settings and the dependency container.

Its own module so that bot/cli.py and the command groups (bot/cli_*.py) share it without
importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.context import Deps


def settings() -> Settings:
    """The settings; a bad one stops the command with one line (see `ChurnbotGroup`)."""
    return load_settings()


def deps(settings: Settings) -> Deps:
    """The dependency container (opens and migrates the database, loads the surveys)."""
    from bot.wiring import build_deps

    return build_deps(settings)
