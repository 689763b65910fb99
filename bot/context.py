"""The dependency container built once at start-up and handed to every layer that needs it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bot.metrics import Metrics
from bot.settings import Settings
from storage.clock import Clock
from surveys.accounts import Accounts
from surveys.classification import Classifier
from surveys.definition import SurveyDefinition
from surveys.engine import SurveyEngine
from surveys.offers import OfferDesk
from surveys.services import Services


@dataclass(frozen=True)
class Deps:
    """Everything handlers and jobs need: no module-level state anywhere else."""

    settings: Settings
    db: Engine
    clock: Clock
    secret: bytes
    definitions: dict[str, SurveyDefinition]
    surveys: SurveyEngine
    accounts: Accounts
    classifier: Classifier
    metrics: Metrics
    offers: OfferDesk
    # What handlers call (they see nothing else of this container).
    services: Services
