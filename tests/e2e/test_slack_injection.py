"""Customer text is inert in Slack: every message type escapes it (real bolt, real slack_sdk)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import Session, select

from bot.context import Deps
from bot.slack_wiring import SlackParts, alert_for_invitation
from handlers.slack.poster import SlackSummaryPoster
from storage.models import Answer, Customer
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.alerts import RELABEL_ACTION
from surveys.reports.figures import compute_figures
from surveys.reports.periods import parse_period
from surveys.reports.render import summary_blocks
from tests.auxil.environment import FakeClock
from tests.auxil.slack_api import SlackServer
from tests.handlers.slack.helpers import (
    ALERTS_CHANNEL,
    MANAGER,
    SUMMARY_CHANNEL,
    command_body,
    post_signed,
    select_body,
    serving,
    slack_deps,
    slack_parts,
)
from tests.surveys.reports.dataset import build

ROLES = SurveyRoles.of(load_definitions())

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
INJECTION = "<!channel> <@U0ADMIN001> <https://evil.example|click here>"
ESCAPED = "&lt;!channel&gt; &lt;@U0ADMIN001&gt; &lt;https://evil.example|click here&gt;"
LIVE = ("<!channel>", "<@U0ADMIN001>", "<https://evil.example|")


@pytest.fixture
def deps(database_url: str, slack_server: SlackServer) -> Iterator[Deps]:
    built = slack_deps(database_url, slack_server, FakeClock(NOW))
    yield built
    built.db.dispose()


@pytest.fixture
def price(deps: Deps) -> Answer:
    """The data set, with the injection as c5's name and in the words of c0's exit answer."""
    answers = build(deps.db)
    with Session(deps.db, expire_on_commit=False) as session:
        customer = session.exec(select(Customer).where(Customer.external_id == "c5")).one()
        customer.name = f"Eve {INJECTION}"
        details = session.exec(
            select(Answer).where(
                Answer.invitation_id == answers["price"].invitation_id,
                Answer.question_key == "details",
            )
        ).one()
        details.text = f"Too expensive {INJECTION}"
        session.add_all([customer, details])
        session.commit()
    return answers["price"]


@pytest.fixture
def parts(deps: Deps) -> SlackParts:
    return slack_parts(deps)


@pytest.fixture
async def http(parts: SlackParts) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(parts) as client:
        yield client


def assert_inert(received: object) -> None:
    shown = str(received)
    assert not any(live in shown for live in LIVE), shown
    assert "&lt;!channel&gt;" in shown


async def _command(http: httpx.AsyncClient, server: SlackServer, text: str, key: str) -> dict:
    body = command_body(text, user=MANAGER, response_url=server.response_url(key))
    assert (await post_signed(http, "/slack/commands", body)).status_code == 200
    await server.fake.async_wait_for(lambda fake: bool(fake.responses(key)))
    (response,) = server.fake.responses(key)
    return response


async def test_injection_in_an_exit_answer_is_escaped_in_the_alert(
    deps: Deps,
    parts: SlackParts,
    http: httpx.AsyncClient,
    slack_server: SlackServer,
    price: Answer,
) -> None:
    assert await alert_for_invitation(deps, parts, price.invitation_id)
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert_inert(alert)
    assert ESCAPED in alert["blocks"][0]["text"]["text"]
    # The relabel confirmation and the alert updated in place stay inert too.
    body = select_body(
        user=MANAGER,
        block_id=alert["blocks"][1]["block_id"],
        value="poor_support",
        response_url=slack_server.response_url("relabel"),
        action_id=RELABEL_ACTION,
        ts=alert["ts"],
    )
    assert (await post_signed(http, "/slack/interactivity", body)).status_code == 200
    await slack_server.fake.async_wait_for(lambda fake: bool(fake.responses("relabel")))
    (updated,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert "Poor support" in updated["text"]
    assert_inert(updated)


async def test_injection_is_escaped_in_quotes_and_in_the_customer_card(
    http: httpx.AsyncClient, slack_server: SlackServer, price: Answer
) -> None:
    quotes = await _command(http, slack_server, "quotes price 2026-W46", "quotes")
    assert_inert(quotes)
    answers = await _command(http, slack_server, "customer c0", "answers")
    assert_inert(answers)
    card = await _command(http, slack_server, "customer c5", "card")
    assert_inert(card)
    assert "(Eve &lt;!channel&gt;" in card["blocks"][0]["text"]["text"]


async def test_injection_typed_by_a_manager_is_escaped_and_cut_in_the_answer(
    http: httpx.AsyncClient, slack_server: SlackServer, price: Answer
) -> None:
    relabel = await _command(http, slack_server, f"relabel {price.id} {INJECTION}", "relabel")
    assert not any(live in str(relabel) for live in LIVE)
    for index, line in enumerate(
        (f"customer {'x' * 5000}", f"stats {'x' * 5000}", f"quotes {'x' * 5000}")
    ):
        answer = await _command(http, slack_server, line, f"long{index}")
        assert "x" * 99 + "…" in answer["text"]
        assert "x" * 101 not in answer["text"]


async def test_injection_is_escaped_in_the_weekly_summary(
    deps: Deps, parts: SlackParts, slack_server: SlackServer, price: Answer
) -> None:
    with Session(deps.db) as session:
        period = parse_period("2026-W46", now=NOW)
        figures = compute_figures(session=session, period=period, now=NOW, roles=ROLES)
    await SlackSummaryPoster(parts.client).post_message(SUMMARY_CHANNEL, summary_blocks(figures))
    (summary,) = slack_server.fake.messages(SUMMARY_CHANNEL)
    assert_inert(summary)


async def test_relabel_of_an_answer_id_beyond_any_row_is_no_such_answer(
    http: httpx.AsyncClient, slack_server: SlackServer, price: Answer
) -> None:
    answer = await _command(http, slack_server, "relabel 99999999999999999999999 price", "big")
    assert answer["text"].startswith("no such answer: '99999999999999999999999'")


async def test_customer_card_leaves_out_what_is_unknown(
    http: httpx.AsyncClient, slack_server: SlackServer, price: Answer
) -> None:
    card = await _command(http, slack_server, "customer c5", "c5")
    assert "?" not in card["blocks"][0]["text"]["text"]
    assert "None" not in card["text"]
