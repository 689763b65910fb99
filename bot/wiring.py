"""Builds the dependency container from settings: database, secret, surveys, classifier."""

from __future__ import annotations

import logging

from bot.context import Deps
from bot.metrics import Metrics
from bot.settings import Settings
from storage import db as database
from storage.clock import Clock, utcnow
from storage.session import run_unit
from surveys.accounts import Accounts
from surveys.classification import Classifier
from surveys.classification.service import ClassifyOnArrival
from surveys.definition import SurveyRoles, load_definitions
from surveys.engine import SurveyEngine
from surveys.i18n import Messages
from surveys.keyring import signing_key
from surveys.offers import OfferDesk
from surveys.services import build_services
from surveys.signing import SigningKey

log = logging.getLogger(__name__)


def build_deps(settings: Settings, *, clock: Clock = utcnow, migrate: bool = True) -> Deps:
    """Open the database (migrating it), load the surveys and build the domain services."""
    # Definitions first: a broken file stops start-up before the database is touched.
    definitions = load_definitions(settings.survey_definitions_dir)
    engine = database.make_engine(settings.database_url)
    if migrate:
        database.upgrade(engine)
    key = _secret(settings, engine)
    messages = Messages.load()
    classifier = Classifier.load()
    offers = OfferDesk(
        messages=messages,
        key=key,
        clock=clock,
        winback_coupon=settings.stripe_winback_coupon,
        billing_enabled=settings.stripe_enabled,
    )
    surveys = SurveyEngine(
        surveys=definitions,
        messages=messages,
        key=key,
        clock=clock,
        on_answer=ClassifyOnArrival(classifier, SurveyRoles.of(definitions)),
        closing_buttons=offers.closing_buttons,
    )
    accounts = Accounts(messages=messages, key=key, clock=clock)
    return Deps(
        settings=settings,
        db=engine,
        clock=clock,
        secret=key.secret,
        definitions=definitions,
        surveys=surveys,
        accounts=accounts,
        classifier=classifier,
        metrics=Metrics(engine),
        offers=offers,
        services=build_services(
            db=engine,
            engine=surveys,
            accounts=accounts,
            clock=clock,
            zone=settings.zone,
            command=settings.slack_command,
            offers=offers,
        ),
    )


def _secret(settings: Settings, engine: object) -> SigningKey:
    """The signing key at its current generation (see `surveys.keyring`)."""
    return run_unit(
        engine,  # type: ignore[arg-type]
        lambda session: signing_key(session=session, configured=_configured_secret(settings)),
    )


def _configured_secret(settings: Settings) -> str | None:
    if settings.secret_key is None:
        return None
    return settings.secret_key.get_secret_value().strip() or None
