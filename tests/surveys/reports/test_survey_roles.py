"""Reports and alerts read question roles from the definitions, never survey keys.

The two surveys here exist only in this test, with keys of their own ("farewell"/"why"/
"more", "pulse"/"happiness"): declaring the roles is all it takes for their answers to count.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session

from storage.db import make_engine, upgrade
from surveys.definition import Role, SurveyRoles, check_definitions, load_definitions
from surveys.reports.alerts import AlertKind, alert_for
from surveys.reports.figures import compute_figures
from surveys.reports.periods import parse_period
from surveys.reports.render import summary_blocks
from tests.surveys.reports.dataset import WEEK, Builder, at


def _texts(en: str) -> dict[str, str]:
    return {"en": en}


FAREWELL: dict[str, Any] = {
    "key": "farewell",
    "title": _texts("Goodbye"),
    "languages": ["en"],
    "triggers": ["subscription.cancelled"],
    "questions": [
        {
            "key": "why",
            "type": "choice",
            "role": "reason",
            "text": _texts("Why are you leaving?"),
            "options": [
                {"key": "competitor", "label": _texts("Found something else")},
                {"key": "price", "label": _texts("Too dear")},
                {"key": "other", "label": _texts("Other")},
            ],
        },
        {"key": "more", "type": "text", "role": "details", "text": _texts("Tell us more")},
    ],
    "closing": {"text": _texts("Thanks")},
}
PULSE: dict[str, Any] = {
    "key": "pulse",
    "title": _texts("Pulse"),
    "languages": ["en"],
    "triggers": ["interaction.completed"],
    "questions": [
        {
            "key": "happiness",
            "type": "rating",
            "role": "nps",
            "detractor_at_most": 6,
            "text": _texts("Would you recommend us?"),
            "scale": {"min": 0, "max": 10},
        },
        {"key": "why_not", "type": "text", "text": _texts("What would change your mind?")},
    ],
    "closing": {"text": _texts("Thanks")},
}


def _write(folder: Path, *surveys: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    for survey in surveys:
        (folder / f"{survey['key']}.yaml").write_text(yaml.safe_dump(survey), encoding="utf-8")
    return folder


@pytest.fixture
def roles(tmp_path: Path) -> SurveyRoles:
    return SurveyRoles.of(load_definitions(_write(tmp_path / "surveys", FAREWELL, PULSE)))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/roles.db")
    upgrade(engine)
    return engine


def _history(engine: Engine) -> dict[str, int]:
    """One customer leaves through "farewell"; another stays but gives "pulse" a 3 of 10."""
    with Session(engine, expire_on_commit=False) as session:
        b = Builder(session)
        for key in ("leaver", "grumbler"):
            b.customer(key)
            b.start(key, at(1, 10))
        cancel = b.cancel("leaver", at(10), voluntary=True)
        farewell = b.invitation("leaver", "farewell", at(10), completed=True, event=cancel)
        b.answer(
            "leaver",
            "why",
            at(10),
            invitation=farewell,
            choice="competitor",
            category="competitor",
        )
        b.answer(
            "leaver",
            "more",
            at(10),
            invitation=farewell,
            text="A rival does it for less",
            category="competitor",
            sentiment="negative",
        )
        pulse = b.invitation("grumbler", "pulse", at(11), completed=True)
        b.answer("grumbler", "happiness", at(11), invitation=pulse, value=3)
        b.answer("grumbler", "why_not", at(11), invitation=pulse, text="Support is slow")
        session.commit()
        return {"farewell": farewell.id, "pulse": pulse.id}  # type: ignore[dict-item]


def test_a_survey_known_only_by_its_roles_counts_in_the_reports(
    engine: Engine, roles: SurveyRoles
) -> None:
    _history(engine)
    with Session(engine) as session:
        figures = compute_figures(
            session=session, period=parse_period(WEEK, now=at(20)), now=at(20), roles=roles
        )
    assert [(reason.category, reason.count) for reason in figures.reasons] == [("competitor", 1)]
    assert figures.reasons[0].quotes[0].text == "A rival does it for less"
    assert figures.answered_exits == 1
    assert figures.health.nps == {3: 1}
    assert figures.health.at_risk_count == 1
    (row,) = figures.health.at_risk
    assert (row.external_id, row.question, row.score) == ("grumbler", Role.NPS, 3)
    assert "NPS 3" in str(summary_blocks(figures).blocks)


def test_without_the_roles_the_same_answers_count_nowhere(engine: Engine) -> None:
    _history(engine)
    shipped = SurveyRoles.of(load_definitions())
    with Session(engine) as session:
        figures = compute_figures(
            session=session, period=parse_period(WEEK, now=at(20)), now=at(20), roles=shipped
        )
    assert figures.reasons == ()
    assert figures.health.nps == {}
    assert figures.health.at_risk_count == 0


def test_a_survey_known_only_by_its_roles_is_alerted(engine: Engine, roles: SurveyRoles) -> None:
    ids = _history(engine)
    with Session(engine) as session:
        exit_alert = alert_for(session, ids["farewell"], roles)
        detractor = alert_for(session, ids["pulse"], roles)
        nothing = alert_for(session, ids["pulse"], SurveyRoles())
    assert exit_alert is not None
    assert exit_alert.kind == AlertKind.EXIT
    assert "Switched to a competitor" in exit_alert.rendered.text
    assert detractor is not None
    assert detractor.kind == AlertKind.DETRACTOR
    assert "gave NPS 3/10" in detractor.rendered.text
    assert nothing is None


def test_a_score_above_the_declared_threshold_is_not_a_detractor(
    tmp_path: Path, engine: Engine
) -> None:
    strict = {**PULSE, "questions": [{**PULSE["questions"][0], "detractor_at_most": 2}]}
    roles = SurveyRoles.of(load_definitions(_write(tmp_path / "strict", strict)))
    ids = _history(engine)
    with Session(engine) as session:
        assert alert_for(session, ids["pulse"], roles) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda s: s["questions"][0]["options"].append(
                {"key": "too_slow", "label": _texts("Slow")}
            ),
            "question 'why': role reason needs category options; unknown: too_slow",
        ),
        (lambda s: s["questions"][1].update(role="reason"), "roles repeat: reason"),
        (
            lambda s: s["questions"][0].pop("role"),
            "question 'more': role details needs a question with role reason",
        ),
        (lambda s: s["questions"][1].update(role="csat"), "role csat needs a rating question"),
    ],
)
def test_surveys_check_rejects_a_misdeclared_role(
    tmp_path: Path, change: Any, problem: str
) -> None:
    broken = copy.deepcopy(FAREWELL)
    change(broken)
    (line,) = check_definitions(_write(tmp_path / "broken", broken))
    assert problem in line


@pytest.mark.parametrize(
    ("question", "problem"),
    [
        ({"detractor_at_most": None}, "role nps needs detractor_at_most"),
        ({"detractor_at_most": 10}, "detractor_at_most must be a score of the scale"),
        ({"role": None}, "detractor_at_most needs a csat or nps role"),
    ],
)
def test_surveys_check_rejects_a_bad_detractor_threshold(
    tmp_path: Path, question: dict[str, Any], problem: str
) -> None:
    changed = {k: v for k, v in {**PULSE["questions"][0], **question}.items() if v is not None}
    broken = {**PULSE, "questions": [changed, *PULSE["questions"][1:]]}
    (line,) = check_definitions(_write(tmp_path / "broken", broken))
    assert problem in line
