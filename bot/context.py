"""The dependency container built once at start-up and handed to every layer that needs it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from bot.settings import Settings
from storage.clock import Clock, utcnow
from surveys.definition import SurveyDefinition


@dataclass(frozen=True)
class Deps:
    """Everything handlers and jobs need: no module-level state anywhere else."""

    settings: Settings
    engine: Engine
    secret: bytes
    surveys: dict[str, SurveyDefinition]
    clock: Clock = field(default=utcnow)
