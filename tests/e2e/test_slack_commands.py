"""The /churn slash command, alerts and their select menu: real bolt over real HTTP, signed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import Session, select

from bot.context import Deps
from bot.slack_wiring import SlackParts, alert_for_invitation
from storage.models import Answer, LabelCorrection, SurveyInvitation
from surveys.reports.alerts import RELABEL_ACTION
from tests.auxil.environment import FakeClock
from tests.auxil.slack_api import SlackServer
from tests.handlers.slack.helpers import (
    ALERTS_CHANNEL,
    MANAGER,
    STRANGER,
    command_body,
    post_signed,
    select_body,
    serving,
    slack_deps,
    slack_parts,
)
from tests.surveys.reports.dataset import build

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


@pytest.fixture
def deps(database_url: str, slack_server: SlackServer) -> Iterator[Deps]:
    built = slack_deps(database_url, slack_server, FakeClock(NOW))
    yield built
    built.db.dispose()


@pytest.fixture
def answers(deps: Deps) -> dict[str, Answer]:
    return build(deps.db)


@pytest.fixture
def parts(deps: Deps) -> SlackParts:
    return slack_parts(deps)


@pytest.fixture
async def http(parts: SlackParts) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(parts) as client:
        yield client


async def run_command(
    http: httpx.AsyncClient, server: SlackServer, text: str, key: str, *, user: str = MANAGER
) -> httpx.Response:
    body = command_body(text, user=user, response_url=server.response_url(key))
    return await post_signed(http, "/slack/commands", body)


async def answer_to(server: SlackServer, key: str) -> dict:
    await server.fake.async_wait_for(lambda fake: bool(fake.responses(key)))
    (response,) = server.fake.responses(key)
    return response


def corrections(deps: Deps) -> list[LabelCorrection]:
    with Session(deps.db) as session:
        return list(session.exec(select(LabelCorrection).order_by(LabelCorrection.id)))


async def test_stats_is_acknowledged_at_once_then_answered_with_blocks_and_text(
    http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    started = time.monotonic()
    response = await run_command(http, slack_server, "stats 2026-W46", "stats")
    assert response.status_code == 200
    assert time.monotonic() - started < 3

    answer = await answer_to(slack_server, "stats")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Churn figures · 2026-W46")
    assert "churn rate = L / S = 4 / 11 x 100 = 36.4%" in answer["text"]
    assert answer["blocks"][0]["text"]["text"] == "Churn figures · 2026-W46"


async def test_reasons_show_counts_and_trends(
    http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    await run_command(http, slack_server, "reasons 2026-W46", "reasons")
    answer = await answer_to(slack_server, "reasons")
    assert "Price: 1 (25.0%, ↓ -1)" in answer["text"]
    assert "Switched to a competitor: 1 (25.0%, new)" in answer["text"]


async def test_quotes_of_a_category_are_scrubbed(
    http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    await run_command(http, slack_server, "quotes price 2026-W46", "quotes")
    answer = await answer_to(slack_server, "quotes")
    assert "[email]" in answer["text"]
    assert "carla@example.com" not in str(answer)


async def test_a_non_manager_is_refused_ephemerally_and_nothing_happens(
    deps: Deps, http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    target = answers["price"].id
    response = await run_command(
        http, slack_server, f"relabel {target} competitor", "refused", user=STRANGER
    )
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "only churnbot managers" in response.json()["text"]
    assert len(corrections(deps)) == 2  # the data set's own
    assert slack_server.fake.responses("refused") == []


async def test_a_non_manager_is_refused_on_the_alert_menu_and_nothing_changes(
    deps: Deps,
    parts: SlackParts,
    http: httpx.AsyncClient,
    slack_server: SlackServer,
    answers: dict,
) -> None:
    price = answers["price"]
    assert await alert_for_invitation(deps, parts, price.invitation_id)
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    body = select_body(
        user=STRANGER,
        block_id=alert["blocks"][1]["block_id"],
        value="poor_support",
        response_url=slack_server.response_url("refused"),
        action_id=RELABEL_ACTION,
        ts=alert["ts"],
    )
    response = await post_signed(http, "/slack/interactivity", body)
    assert response.status_code == 200
    refusal = await answer_to(slack_server, "refused")
    assert "only churnbot managers" in refusal["text"]
    assert refusal["response_type"] == "ephemeral"
    assert len(corrections(deps)) == 2  # the data set's own
    assert slack_server.fake.calls("chat.update") == []


async def test_a_bad_signature_gets_401_and_nothing_happens(
    http: httpx.AsyncClient, slack_server: SlackServer
) -> None:
    body = command_body("stats", response_url=slack_server.response_url("forged"))
    forged = await post_signed(http, "/slack/commands", body, secret="not-the-secret")
    stale = await post_signed(http, "/slack/commands", body, timestamp=int(time.time()) - 60 * 10)
    unsigned = await http.post("/slack/commands", content=body)
    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert slack_server.fake.responses() == []


async def test_bad_arguments_get_the_usage_line(
    http: httpx.AsyncClient, slack_server: SlackServer
) -> None:
    await run_command(http, slack_server, "stats last-tuesday", "period")
    await run_command(http, slack_server, "relabel twelve price", "relabel")
    await run_command(http, slack_server, "frobnicate", "unknown")
    assert "Usage: /churn stats [period]" in (await answer_to(slack_server, "period"))["text"]
    relabel = await answer_to(slack_server, "relabel")
    # Escaped, so Slack shows the placeholders instead of broken links.
    assert relabel["text"] == "Usage: /churn relabel &lt;answer-id&gt; &lt;category&gt;"
    assert "Usage: /churn help" in (await answer_to(slack_server, "unknown"))["text"]


async def test_relabel_stores_a_correction_by_the_slack_user(
    deps: Deps, http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    target = answers["price"].id
    await run_command(http, slack_server, f"relabel {target} competitor", "relabel")
    answer = await answer_to(slack_server, "relabel")
    assert "Switched to a competitor" in answer["text"]
    latest = corrections(deps)[-1]
    assert (latest.answer_id, latest.category, latest.corrected_by) == (
        target,
        "competitor",
        f"slack:{MANAGER}",
    )


async def test_relabel_to_an_unknown_category_changes_nothing(
    deps: Deps, http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    await run_command(http, slack_server, f"relabel {answers['price'].id} cheap", "bad")
    assert "unknown category 'cheap'" in (await answer_to(slack_server, "bad"))["text"]
    assert len(corrections(deps)) == 2


async def test_survey_queues_an_invitation_due_now_for_the_delivery_job(
    deps: Deps, http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    await run_command(http, slack_server, "survey c5 post_interaction", "survey")
    assert "queued for c5" in (await answer_to(slack_server, "survey"))["text"]
    with Session(deps.db) as session:
        invitation = session.exec(
            select(SurveyInvitation).order_by(SurveyInvitation.id.desc())  # type: ignore[union-attr]
        ).first()
    assert (invitation.survey_key, invitation.status, invitation.event_id) == (
        "post_interaction",
        "pending",
        None,
    )
    assert invitation.due_at == NOW


async def test_customer_shows_events_surveys_and_labelled_answers(
    http: httpx.AsyncClient, slack_server: SlackServer, answers: dict
) -> None:
    await run_command(http, slack_server, "customer c1", "customer")
    text = (await answer_to(slack_server, "customer"))["text"]
    assert "subscription.cancelled" in text
    assert "#4 reason: price → competitor/neutral (corrected)" in text


async def test_help_lists_every_command(
    http: httpx.AsyncClient, slack_server: SlackServer
) -> None:
    await run_command(http, slack_server, "", "help")
    text = (await answer_to(slack_server, "help"))["text"]
    for name in ("stats", "reasons", "quotes", "customer", "relabel", "survey"):
        assert f"/churn {name}" in text


async def test_exit_survey_alert_carries_a_select_that_managers_use_to_relabel(
    deps: Deps,
    parts: SlackParts,
    http: httpx.AsyncClient,
    slack_server: SlackServer,
    answers: dict,
) -> None:
    price = answers["price"]
    assert await alert_for_invitation(deps, parts, price.invitation_id)
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert alert["text"] == (
        "Exit survey completed by c0: Price, negative, revenue 80.00 USD/month"
    )
    select_block = alert["blocks"][1]
    assert select_block["accessory"]["action_id"] == RELABEL_ACTION
    assert select_block["accessory"]["initial_option"]["value"] == "price"

    stranger = select_body(
        user=STRANGER,
        block_id=select_block["block_id"],
        value="poor_support",
        response_url=slack_server.response_url("stranger"),
        action_id=RELABEL_ACTION,
    )
    assert (await post_signed(http, "/slack/interactivity", stranger)).status_code == 200
    await answer_to(slack_server, "stranger")
    assert len(corrections(deps)) == 2

    manager = select_body(
        user=MANAGER,
        block_id=select_block["block_id"],
        value="poor_support",
        response_url=slack_server.response_url("manager"),
        action_id=RELABEL_ACTION,
        ts=alert["ts"],
    )
    assert (await post_signed(http, "/slack/interactivity", manager)).status_code == 200
    assert "Poor support" in (await answer_to(slack_server, "manager"))["text"]
    # The alert itself now says the new reason and who set it; its menu shows the choice.
    (updated,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert updated["ts"] == alert["ts"]
    assert f"Poor support (set by <@{MANAGER}>)" in updated["text"]
    assert f"*Reason:* Poor support (set by <@{MANAGER}>)" in updated["blocks"][0]["text"]["text"]
    assert updated["blocks"][1]["accessory"]["initial_option"]["value"] == "poor_support"
    assert len(slack_server.fake.calls("chat.update")) == 1
    latest = corrections(deps)[-1]
    assert (latest.answer_id, latest.category, latest.corrected_by) == (
        price.id,
        "poor_support",
        f"slack:{MANAGER}",
    )


async def test_relabel_by_command_updates_the_posted_alert_in_place(
    deps: Deps,
    parts: SlackParts,
    http: httpx.AsyncClient,
    slack_server: SlackServer,
    answers: dict,
) -> None:
    price = answers["price"]
    assert await alert_for_invitation(deps, parts, price.invitation_id)
    await run_command(http, slack_server, f"relabel {price.id} competitor", "relabel")
    await answer_to(slack_server, "relabel")
    await slack_server.fake.async_wait_for(lambda fake: bool(fake.calls("chat.update")))
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert f"Switched to a competitor (set by <@{MANAGER}>)" in alert["text"]
    assert alert["blocks"][1]["accessory"]["initial_option"]["value"] == "competitor"


async def test_no_alert_for_a_satisfied_customer(
    deps: Deps, parts: SlackParts, slack_server: SlackServer, answers: dict
) -> None:
    with Session(deps.db) as session:
        happy = session.exec(
            select(Answer).where(Answer.question_key == "csat", Answer.numeric_value == 5)
        ).one()
    assert not await alert_for_invitation(deps, parts, happy.invitation_id)
    assert slack_server.fake.messages(ALERTS_CHANNEL) == []


async def test_detractor_alert_names_the_score(
    deps: Deps, parts: SlackParts, slack_server: SlackServer, answers: dict
) -> None:
    with Session(deps.db) as session:
        low = session.exec(
            select(Answer).where(Answer.question_key == "csat", Answer.numeric_value == 1)
        ).all()
    invitation_id = next(a.invitation_id for a in low if a.invitation_id is not None)
    assert await alert_for_invitation(deps, parts, invitation_id)
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert alert["text"].startswith("Detractor: c6 gave CSAT 1/5")
