"""A Telegram update handled twice at once stores one answer and raises nothing; NUL in
customer text is removed at the edge, so both databases store the same text."""

from __future__ import annotations

import threading
import time

from sqlmodel import Session

from bot.context import Deps
from storage.models import Answer
from storage.queries import answering
from storage.queries import customers as customer_queries
from storage.queries.answering import NewAnswer
from storage.session import run_unit
from surveys.engine import Inbound
from surveys.inbound import clean_json, clean_text
from surveys.replies import Reply
from tests.surveys.helpers import all_answers, say

CHAT = 7001


def _linked(deps: Deps) -> int:
    def work(session: Session) -> int:
        customer = customer_queries.upsert_customer(session=session, external_id="cust-dup")
        customer_queries.link_chat(session=session, customer=customer, chat_id=CHAT, language="en")
        assert customer.id is not None
        return customer.id

    return run_unit(deps.db, work)


def test_the_same_update_on_a_second_connection_waits_and_is_dropped_without_error(
    deps: Deps,
) -> None:
    customer_id = _linked(deps)
    inbound = Inbound(chat_id=CHAT, language_code="en", update_id=4242)
    second: list[Reply | BaseException] = []

    def second_instance() -> None:
        try:
            second.append(
                run_unit(deps.db, lambda s: deps.surveys.on_text(s, inbound, "Late again"))
            )
        except BaseException as error:
            second.append(error)

    with Session(deps.db) as first:
        # The first instance has stored the answer but not committed yet when the second
        # instance, which has found nothing stored, writes the same answer.
        answering.insert_answer(
            session=first,
            answer=NewAnswer(
                customer_id=customer_id,
                question_key="feedback",
                text="Late again",
                telegram_update_id=4242,
                answered_at=deps.clock(),
            ),
        )
        thread = threading.Thread(target=second_instance)
        thread.start()
        time.sleep(0.5)
        first.commit()
    # SQLite's pool holds one connection: the second instance gets it only now.
    thread.join(timeout=30)

    assert second == [Reply()]
    assert [a.text for a in all_answers(deps.db)] == ["Late again"]


def test_insert_of_an_answer_whose_update_is_stored_returns_none(deps: Deps) -> None:
    customer_id = _linked(deps)
    answer = NewAnswer(
        customer_id=customer_id,
        question_key="feedback",
        text="once",
        telegram_update_id=99,
        answered_at=deps.clock(),
    )

    first = run_unit(deps.db, lambda s: answering.insert_answer(session=s, answer=answer))
    again = run_unit(deps.db, lambda s: answering.insert_answer(session=s, answer=answer))

    assert isinstance(first, int)
    assert again is None
    assert len(all_answers(deps.db)) == 1


def test_clean_text_removes_nul_and_keeps_everything_else() -> None:
    assert clean_text("Bad\x00Name") == "BadName"
    assert clean_text("zu teuer \U0001f61e\n\tگران") == "zu teuer \U0001f61e\n\tگران"
    assert clean_json({"a\x00": ["b\x00", 1, None, {"c": "\x00d"}]}) == {
        "a": ["b", 1, None, {"c": "d"}]
    }


def test_feedback_with_nul_is_stored_without_it_on_every_database(deps: Deps) -> None:
    _linked(deps)

    reply = say(deps, CHAT, clean_text("slow\x00 delivery"), update_id=5)

    assert reply.messages[0].text == deps.surveys.messages.get("feedback_received", "en")
    stored: list[Answer] = all_answers(deps.db)
    assert [a.text for a in stored] == ["slow delivery"]
