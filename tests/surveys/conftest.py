"""Fixtures for the survey domain tests: surveys already sent to a linked customer."""

from __future__ import annotations

import pytest

from bot.context import Deps
from surveys import events
from tests.auxil.factories import OpenSurvey, open_survey


@pytest.fixture
def csat(deps: Deps) -> OpenSurvey:
    """The post-interaction (CSAT) survey, sent in English to chat 1001."""
    return open_survey(deps, event_type=events.INTERACTION_COMPLETED)


@pytest.fixture
def exit_survey(deps: Deps) -> OpenSurvey:
    """The exit survey after a voluntary cancellation, sent in English to chat 1001."""
    return open_survey(deps, event_type=events.SUBSCRIPTION_CANCELLED)
