"""The survey engine: branching, answers stored once, forged and stale taps harmless."""

from __future__ import annotations

from bot.context import Deps
from storage.models import InvitationStatus
from surveys import events
from surveys.definition import ChoiceQuestion
from surveys.engine import FEEDBACK_QUESTION
from surveys.i18n import RLM
from surveys.signing import ButtonData, sign_button
from tests.auxil.factories import (
    OpenSurvey,
    all_answers,
    button_data,
    invitation,
    next_after_tap,
    open_survey,
    say,
    tap,
)

OTHER_CHAT = 2002


def _text(deps: Deps, survey: str, question: str, language: str = "en") -> str:
    texts = deps.definitions[survey].question(question).text
    return (RLM if language == "fa" else "") + texts[language]


def _message(deps: Deps, key: str, language: str = "en", **values: object) -> str:
    return deps.surveys.messages.get(key, language, **values)


def _offer(deps: Deps, choice: str, language: str = "en") -> str:
    offers = deps.definitions["exit"].closing.offers
    assert offers is not None
    return offers.by_choice[choice].text[language]


def _closing(deps: Deps, survey: str, language: str = "en") -> str:
    return deps.definitions[survey].closing.text[language]


def test_low_csat_branches_to_the_improve_question(deps: Deps, csat: OpenSurvey) -> None:
    reply = tap(deps, csat.chat_id, button_data(csat.prompt, "2"))

    assert reply.messages == ()
    assert next_after_tap(reply).text == _text(deps, "post_interaction", "improve")
    assert reply.edits[0].text.startswith(_text(deps, "post_interaction", "csat"))
    assert invitation(deps.db, csat.invitation_id).current_step == "improve"
    [answer] = all_answers(deps.db)
    assert (answer.question_key, answer.numeric_value) == ("csat", 2)
    assert reply.toast == _message(deps, "answer_saved", answer="2")


def test_high_csat_branches_to_the_comment_question(deps: Deps, csat: OpenSurvey) -> None:
    reply = tap(deps, csat.chat_id, button_data(csat.prompt, "5"))

    assert next_after_tap(reply).text == _text(deps, "post_interaction", "comment")
    stored = invitation(deps.db, csat.invitation_id)
    assert stored.current_step == "comment"
    assert stored.status == InvitationStatus.IN_PROGRESS


def test_text_answer_completes_the_survey_with_the_closing_message(
    deps: Deps, csat: OpenSurvey
) -> None:
    tap(deps, csat.chat_id, button_data(csat.prompt, "2"))

    reply = say(deps, csat.chat_id, "The courier was two days late.", update_id=11)

    assert [prompt.text for prompt in reply.messages] == [_closing(deps, "post_interaction")]
    stored = invitation(deps.db, csat.invitation_id)
    assert stored.status == InvitationStatus.COMPLETED
    assert stored.current_step is None
    assert stored.completed_at == deps.clock()
    answers = all_answers(deps.db)
    assert [(a.question_key, a.numeric_value, a.text) for a in answers] == [
        ("csat", 2, None),
        ("improve", None, "The courier was two days late."),
    ]
    assert all(a.invitation_id == csat.invitation_id for a in answers)


def test_skip_on_optional_text_stores_an_empty_answer_and_advances(
    deps: Deps, csat: OpenSurvey
) -> None:
    comment = next_after_tap(tap(deps, csat.chat_id, button_data(csat.prompt, "5")))

    reply = tap(deps, csat.chat_id, button_data(comment, _message(deps, "skip_button")))

    assert next_after_tap(reply).text == _closing(deps, "post_interaction")
    assert reply.edits[0].buttons == ()
    assert reply.completed == csat.invitation_id
    skipped = all_answers(deps.db)[-1]
    assert skipped.question_key == "comment"
    assert (skipped.text, skipped.numeric_value, skipped.choice_key) == (None, None, None)
    assert invitation(deps.db, csat.invitation_id).status == InvitationStatus.COMPLETED


def test_exit_reason_price_gets_the_price_win_back_offer(
    deps: Deps, exit_survey: OpenSurvey
) -> None:
    details = tap(deps, exit_survey.chat_id, button_data(exit_survey.prompt, "It's too expensive"))
    assert next_after_tap(details).text == _text(deps, "exit", "details")

    reply = say(deps, exit_survey.chat_id, "Doubled in price at renewal")

    [closing] = reply.messages
    assert closing.text.startswith(_closing(deps, "exit"))
    assert _offer(deps, "price") in closing.text
    assert [(a.question_key, a.choice_key, a.text) for a in all_answers(deps.db)] == [
        ("reason", "price", None),
        ("details", None, "Doubled in price at renewal"),
    ]


def test_exit_reason_without_offer_gets_no_offer_text(deps: Deps, exit_survey: OpenSurvey) -> None:
    tap(
        deps,
        exit_survey.chat_id,
        button_data(exit_survey.prompt, "I'm switching to another product"),
    )

    reply = say(deps, exit_survey.chat_id, "Found something with a Linux app")

    [closing] = reply.messages
    assert closing.text == _closing(deps, "exit")
    offers = deps.definitions["exit"].closing.offers
    assert offers is not None
    assert "competitor" not in offers.by_choice


def test_forged_button_data_changes_nothing(deps: Deps, csat: OpenSurvey) -> None:
    genuine = button_data(csat.prompt, "5")
    body, _signature = genuine.rsplit(":", 1)
    forged_value = body.rsplit(":", 1)[0] + ":1:" + _signature
    other_secret = sign_button(b"attacker", ButtonData("a", csat.invitation_id, 0, 1))

    for forged in (forged_value, other_secret, "a:1:0:1", "garbage"):
        reply = tap(deps, csat.chat_id, forged)
        assert reply.toast == _message(deps, "invalid_button")
        assert reply.messages == ()

    assert all_answers(deps.db) == []
    assert invitation(deps.db, csat.invitation_id).current_step == "csat"


def test_button_of_a_completed_survey_gets_the_stale_toast(deps: Deps, csat: OpenSurvey) -> None:
    comment = next_after_tap(tap(deps, csat.chat_id, button_data(csat.prompt, "5")))
    tap(deps, csat.chat_id, button_data(comment, "Skip"))
    before = len(all_answers(deps.db))

    reply = tap(deps, csat.chat_id, button_data(comment, "Skip"))

    assert reply.toast == _message(deps, "stale_button")
    assert reply.messages == ()
    assert len(all_answers(deps.db)) == before == 2


def test_button_from_another_customers_chat_stores_nothing(deps: Deps, csat: OpenSurvey) -> None:
    open_survey(deps, customer="cust-2", chat_id=OTHER_CHAT)

    reply = tap(deps, OTHER_CHAT, button_data(csat.prompt, "1"))

    assert reply.toast == _message(deps, "invalid_button")
    assert all_answers(deps.db) == []
    assert invitation(deps.db, csat.invitation_id).current_step == "csat"


def test_button_from_an_unlinked_chat_stores_nothing(deps: Deps, csat: OpenSurvey) -> None:
    reply = tap(deps, 9999, button_data(csat.prompt, "1"))

    assert reply.toast == _message(deps, "invalid_button")
    assert all_answers(deps.db) == []


def test_second_tap_on_an_answered_question_stores_nothing_new(
    deps: Deps, csat: OpenSurvey
) -> None:
    tap(deps, csat.chat_id, button_data(csat.prompt, "5"))

    reply = tap(deps, csat.chat_id, button_data(csat.prompt, "1"))

    assert reply.toast == _message(deps, "stale_button")
    [answer] = all_answers(deps.db)
    assert answer.numeric_value == 5
    assert invitation(deps.db, csat.invitation_id).current_step == "comment"


def test_typed_number_answers_a_rating_question(deps: Deps, csat: OpenSurvey) -> None:
    reply = say(deps, csat.chat_id, " 4 ", update_id=21)

    [answer] = all_answers(deps.db)
    assert (answer.question_key, answer.numeric_value, answer.text) == ("csat", 4, None)
    assert answer.invitation_id == csat.invitation_id
    assert [prompt.text for prompt in reply.messages] == [
        _text(deps, "post_interaction", "comment")
    ]


def test_typed_out_of_range_number_is_not_taken_as_a_rating(deps: Deps, csat: OpenSurvey) -> None:
    say(deps, csat.chat_id, "9")

    [answer] = all_answers(deps.db)
    assert answer.question_key == FEEDBACK_QUESTION
    assert answer.numeric_value is None
    assert invitation(deps.db, csat.invitation_id).current_step == "csat"


def test_typed_words_for_a_rating_are_kept_as_feedback_and_ask_for_buttons(
    deps: Deps, csat: OpenSurvey
) -> None:
    reply = say(deps, csat.chat_id, "pretty good I guess")

    [answer] = all_answers(deps.db)
    assert answer.question_key == FEEDBACK_QUESTION
    assert answer.invitation_id is None
    assert answer.text == "pretty good I guess"
    assert [prompt.text for prompt in reply.messages] == [
        _message(deps, "feedback_received"),
        _message(deps, "use_buttons"),
    ]
    assert invitation(deps.db, csat.invitation_id).current_step == "csat"


def test_text_without_an_open_survey_is_stored_as_feedback_and_acknowledged(
    deps: Deps, csat: OpenSurvey
) -> None:
    tap(deps, csat.chat_id, button_data(csat.prompt, "2"))
    say(deps, csat.chat_id, "late delivery")
    assert invitation(deps.db, csat.invitation_id).status == InvitationStatus.COMPLETED

    reply = say(deps, csat.chat_id, "Also, your app logs me out every day.", update_id=31)

    feedback = all_answers(deps.db)[-1]
    assert feedback.question_key == FEEDBACK_QUESTION
    assert feedback.invitation_id is None
    assert feedback.survey_key is None
    assert feedback.customer_id == csat.customer_id
    assert feedback.text == "Also, your app logs me out every day."
    assert [prompt.text for prompt in reply.messages] == [_message(deps, "feedback_received")]


def test_text_from_an_unlinked_chat_gets_not_linked_and_stores_nothing(deps: Deps) -> None:
    reply = say(deps, 5555, "hello?", language_code="de")

    assert [prompt.text for prompt in reply.messages] == [_message(deps, "not_linked", "de")]
    assert all_answers(deps.db) == []


def test_long_message_mixing_emoji_rtl_and_cjk_is_stored_exactly(
    deps: Deps, exit_survey: OpenSurvey
) -> None:
    tap(deps, exit_survey.chat_id, button_data(exit_survey.prompt, "Something else"))
    piece = "Price 💸👨‍👩‍👧 قیمت خیلی بالاست مرحبا 价格太贵了 가격 \u200f«ok»\n"
    text = (piece * (4096 // len(piece) + 1))[:4096]
    assert len(text) == 4096

    reply = say(deps, exit_survey.chat_id, text)

    assert [prompt.text for prompt in reply.messages] == [_closing(deps, "exit")]
    stored = all_answers(deps.db)[-1]
    assert stored.question_key == "details"
    assert stored.text == text


def test_message_over_the_length_limit_is_refused_and_not_stored(
    deps: Deps, exit_survey: OpenSurvey
) -> None:
    tap(deps, exit_survey.chat_id, button_data(exit_survey.prompt, "Something else"))

    reply = say(deps, exit_survey.chat_id, "x" * 4097)

    assert [prompt.text for prompt in reply.messages] == [
        _message(deps, "text_too_long", limit=4096)
    ]
    assert [answer.question_key for answer in all_answers(deps.db)] == ["reason"]


def test_same_telegram_update_twice_stores_one_answer(deps: Deps, csat: OpenSurvey) -> None:
    tap(deps, csat.chat_id, button_data(csat.prompt, "5"))

    first = say(deps, csat.chat_id, "Lovely people", update_id=777)
    second = say(deps, csat.chat_id, "Lovely people", update_id=777)

    assert [prompt.text for prompt in first.messages] == [_closing(deps, "post_interaction")]
    assert second.messages == ()
    assert [(a.question_key, a.text) for a in all_answers(deps.db)] == [
        ("csat", None),
        ("comment", "Lovely people"),
    ]


def test_same_feedback_update_twice_stores_one_answer(deps: Deps, csat: OpenSurvey) -> None:
    say(deps, csat.chat_id, "hmm", update_id=888)
    say(deps, csat.chat_id, "hmm", update_id=888)

    assert [a.text for a in all_answers(deps.db)] == ["hmm"]


def test_another_customers_answer_with_a_stored_update_id_is_still_stored(deps: Deps) -> None:
    """Telegram picks update ids at random after a week without updates, and a new bot
    token starts its own sequence: the same id from another chat is a new answer."""
    first = open_survey(deps, customer="cust-1", chat_id=1001)
    second = open_survey(deps, customer="cust-2", chat_id=1002)
    tap(deps, first.chat_id, button_data(first.prompt, "5"))
    tap(deps, second.chat_id, button_data(second.prompt, "5"))

    say(deps, first.chat_id, "Lovely people", update_id=999)
    reply = say(deps, second.chat_id, "Quick and kind", update_id=999)

    assert [prompt.text for prompt in reply.messages] == [_closing(deps, "post_interaction")]
    comments = [
        (a.customer_id, a.text) for a in all_answers(deps.db) if a.question_key == "comment"
    ]
    assert comments == [
        (first.customer_id, "Lovely people"),
        (second.customer_id, "Quick and kind"),
    ]


def test_persian_customer_gets_persian_question_and_buttons(deps: Deps) -> None:
    survey = open_survey(deps, event_type=events.SUBSCRIPTION_CANCELLED, language="fa")

    assert survey.prompt.text.startswith(RLM)
    assert survey.prompt.text == _text(deps, "exit", "reason", "fa")
    reason = deps.definitions["exit"].question("reason")
    assert isinstance(reason, ChoiceQuestion)
    labels = [button.label for row in survey.prompt.buttons for button in row]
    assert labels == [RLM + option.label["fa"] for option in reason.options]
    assert invitation(deps.db, survey.invitation_id).language == "fa"


def test_persian_customer_tapping_a_reason_gets_persian_follow_up(deps: Deps) -> None:
    survey = open_survey(deps, event_type=events.SUBSCRIPTION_CANCELLED, language="fa")

    reply = tap(deps, survey.chat_id, button_data(survey.prompt, "خیلی گران است"))

    assert next_after_tap(reply).text == _text(deps, "exit", "details", "fa")


def test_unknown_language_falls_back_to_english(deps: Deps) -> None:
    survey = open_survey(deps, language="pt-br")

    assert invitation(deps.db, survey.invitation_id).language == "en"
    assert survey.prompt.text.startswith(_text(deps, "post_interaction", "csat"))
    reply = say(deps, 4321, "olá", language_code="pt-br")
    assert [prompt.text for prompt in reply.messages] == [_message(deps, "not_linked", "en")]


def test_regional_language_code_gets_the_survey_in_the_base_language(deps: Deps) -> None:
    survey = open_survey(deps, language="de-DE")

    assert invitation(deps.db, survey.invitation_id).language == "de"
    assert survey.prompt.text.startswith(_text(deps, "post_interaction", "csat", "de"))
