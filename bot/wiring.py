"""Builds the dependency container from settings: database, secret, surveys, classifier."""

from __future__ import annotations

import logging
import secrets

from bot.context import Deps
from bot.metrics import Metrics
from bot.settings import Settings
from storage import db as database
from storage.clock import Clock, utcnow
from storage.queries import app_state
from storage.session import run_unit
from surveys.accounts import Accounts
from surveys.classification import Classifier
from surveys.classification.service import ClassifyOnArrival
from surveys.definition import load_definitions
from surveys.engine import SurveyEngine
from surveys.i18n import Messages

log = logging.getLogger(__name__)

SECRET_STATE_KEY = "secret_key"


def build_deps(settings: Settings, *, clock: Clock = utcnow, migrate: bool = True) -> Deps:
    """Open the database (migrating it), load the surveys and build the domain services."""
    # Definitions first: a broken file stops start-up before the database is touched.
    definitions = load_definitions(settings.survey_definitions_dir)
    engine = database.make_engine(settings.database_url)
    if migrate:
        database.upgrade(engine)
    secret = _secret(settings, engine)
    messages = Messages.load()
    classifier = Classifier.load()
    surveys = SurveyEngine(
        surveys=definitions,
        messages=messages,
        secret=secret,
        clock=clock,
        on_answer=ClassifyOnArrival(classifier),
    )
    accounts = Accounts(messages=messages, secret=secret, clock=clock)
    return Deps(
        settings=settings,
        db=engine,
        clock=clock,
        secret=secret,
        definitions=definitions,
        surveys=surveys,
        accounts=accounts,
        classifier=classifier,
        metrics=Metrics(engine),
    )


def _secret(settings: Settings, engine: object) -> bytes:
    """SECRET_KEY if set; otherwise one generated once and kept in the database, so every
    instance on that database signs alike and links survive restarts."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value().strip():
        return settings.secret_key.get_secret_value().strip().encode()
    value = run_unit(
        engine,  # type: ignore[arg-type]
        lambda session: app_state.get_or_create(
            session=session, key=SECRET_STATE_KEY, make=secrets.token_urlsafe(48)
        ),
    )
    return value.encode()
