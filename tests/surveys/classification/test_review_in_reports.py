"""Labels the model was unsure of: "needs review" in the Slack alert, counted in the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage.db import make_engine, upgrade
from surveys.classification import Classifier
from surveys.classification.service import classify_answer, relabel
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.alerts import alert_for
from surveys.reports.figures import compute_figures
from surveys.reports.periods import parse_period
from surveys.reports.render import summary_blocks
from tests.surveys.reports.dataset import WEEK, Builder, at

ROLES = SurveyRoles.of(load_definitions())


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/review.db")
    upgrade(engine)
    return engine


def _unsure_exit(engine: Engine, classifier: Classifier) -> tuple[int, int]:
    """An exit survey: "other" tapped, details text labelled by an unsure model."""
    unsure = Classifier(classifier.model)
    unsure.review_below = 1.01
    with Session(engine) as session:
        builder = Builder(session)
        builder.customer("cust-1")
        builder.cancel("cust-1", at(10))
        invitation = builder.invitation("cust-1", "exit", at(10), completed=True)
        reason = builder.answer("cust-1", "reason", at(10), invitation=invitation, choice="other")
        details = builder.answer(
            "cust-1", "details", at(10), invitation=invitation, text="the app keeps crashing"
        )
        for answer in (reason, details):
            classify_answer(session=session, answer=answer, classifier=unsure, roles=ROLES)
        session.commit()
        return invitation.id, details.id  # type: ignore[return-value]


def _summary(engine: Engine) -> tuple[int, str]:
    with Session(engine) as session:
        period = parse_period(WEEK, now=at(20))
        figures = compute_figures(session=session, period=period, now=at(20), roles=ROLES)
    rendered = summary_blocks(figures)
    return figures.needs_review, rendered.text + str(rendered.blocks)


def test_unsure_label_is_marked_in_the_alert_and_counted_in_the_summary(
    engine: Engine, classifier: Classifier
) -> None:
    invitation_id, _details_id = _unsure_exit(engine, classifier)
    with Session(engine) as session:
        alert = alert_for(session, invitation_id, ROLES)
    assert alert is not None
    assert "(needs review)" in alert.rendered.text
    assert "(needs review)" in str(alert.rendered.blocks)
    count, text = _summary(engine)
    assert count == 1
    assert "1 label needs review" in text


def test_a_manager_relabel_clears_needs_review(engine: Engine, classifier: Classifier) -> None:
    invitation_id, details_id = _unsure_exit(engine, classifier)
    with Session(engine) as session:
        relabel(session=session, answer_id=details_id, category="price", corrected_by="ann")
        session.commit()
        alert = alert_for(session, invitation_id, ROLES)
    assert alert is not None
    assert "needs review" not in alert.rendered.text
    count, text = _summary(engine)
    assert count == 0
    assert "need review" not in text
