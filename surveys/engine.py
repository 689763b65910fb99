"""The survey engine: walks a customer through a survey, one answer at a time.

Every method takes the caller's session and leaves the commit to it, so one customer
action is one transaction. The conversation state is the invitation row (`status`,
`current_step`), which is why a restart or a second instance continues where we were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

from storage.clock import Clock
from storage.models import SurveyInvitation
from storage.queries import answering, invitations
from storage.queries.answering import CustomerRef, NewAnswer, StoredAnswer
from storage.queries.invitations import InvitationState, state_of
from surveys.definition import (
    END,
    ChoiceQuestion,
    RatingQuestion,
    SurveyDefinition,
    TextQuestion,
)
from surveys.i18n import Messages, localize, pick_language
from surveys.replies import Button, Edit, Prompt, Reply
from surveys.signing import (
    ButtonAction,
    ButtonData,
    InvalidToken,
    RetiredToken,
    SigningKey,
    read_button,
    sign_button,
)

log = logging.getLogger(__name__)

FEEDBACK_QUESTION = "feedback"
ANSWER_MARK = "✓"
RECAP_CHARS = 120

AnswerHook = Callable[..., object]
# Buttons for the closing message (an offer's Accept / No thanks), given the session and
# the invitation, survey and answers as keywords; see surveys/offers.py.
ClosingButtons = Callable[..., tuple[tuple[Button, ...], ...]]


class AnswerView(Protocol):
    """What the recap and the branching rules read of an answer."""

    @property
    def question_key(self) -> str: ...
    @property
    def numeric_value(self) -> int | None: ...
    @property
    def choice_key(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...


@dataclass(frozen=True)
class Inbound:
    """Who sent an update: the chat, their client language and the update id."""

    chat_id: int
    language_code: str | None = None
    update_id: int | None = None


class SurveyEngine:
    """Renders survey questions and records answers; knows nothing of Telegram."""

    def __init__(
        self,
        *,
        surveys: dict[str, SurveyDefinition],
        messages: Messages,
        key: SigningKey,
        clock: Clock,
        on_answer: AnswerHook | None = None,
        closing_buttons: ClosingButtons | None = None,
    ) -> None:
        self.surveys = surveys
        self._closing_buttons = closing_buttons
        self.messages = messages
        self._key = key
        self._clock = clock
        self._on_answer = on_answer

    # Rendering -----------------------------------------------------------------------

    def prompt_for(self, invitation: InvitationState, step_key: str) -> Prompt:
        """The message that asks the question `step_key` of the invitation's survey."""
        survey = self.surveys[invitation.survey_key]
        language = invitation.language or "en"
        question = survey.question(step_key)
        step = survey.index_of(step_key)
        assert invitation.id is not None
        text = localize(question.text, language)
        rows: list[tuple[Button, ...]] = []
        if isinstance(question, RatingQuestion):
            rows = self._scale_rows(invitation.id, step, question, language)
            text = self._with_scale_legend(text, question, language)
        elif isinstance(question, ChoiceQuestion):
            buttons = [
                Button(
                    localize(option.label, language),
                    self._sign(ButtonAction.ANSWER, invitation.id, step, index),
                )
                for index, option in enumerate(question.options)
            ]
            rows = [
                tuple(buttons[start : start + question.columns])
                for start in range(0, len(buttons), question.columns)
            ]
        elif isinstance(question, TextQuestion) and question.optional:
            skip = self._sign(ButtonAction.SKIP, invitation.id, step, 0)
            rows = [(Button(self.messages.get("skip_button", language), skip),)]
        return Prompt(text=text, buttons=tuple(rows), invitation_id=invitation.id)

    def _scale_rows(
        self, invitation_id: int, step: int, question: RatingQuestion, language: str
    ) -> list[tuple[Button, ...]]:
        values = range(question.scale.min, question.scale.max + 1)
        buttons = [
            Button(str(value), self._sign(ButtonAction.ANSWER, invitation_id, step, value))
            for value in values
        ]
        per_row = 6 if len(buttons) > 7 else len(buttons)
        return [
            tuple(buttons[start : start + per_row]) for start in range(0, len(buttons), per_row)
        ]

    def _sign(self, action: ButtonAction, invitation_id: int, step: int, value: int) -> str:
        return sign_button(self._key, ButtonData(action, invitation_id, step, value))

    @staticmethod
    def _with_scale_legend(text: str, question: RatingQuestion, language: str) -> str:
        scale = question.scale
        if scale.min_label is None or scale.max_label is None:
            return text
        low, high = localize(scale.min_label, language), localize(scale.max_label, language)
        return f"{text}\n{scale.min} = {low} · {scale.max} = {high}"

    def closing_text(self, invitation: InvitationState, answers: Sequence[AnswerView]) -> str:
        survey = self.surveys[invitation.survey_key]
        language = invitation.language or "en"
        text = localize(survey.closing.text, language)
        offers = survey.closing.offers
        if offers is not None:
            chosen = next(
                (a.choice_key for a in answers if a.question_key == offers.question), None
            )
            if chosen in offers.by_choice:
                text = f"{text}\n\n{localize(offers.by_choice[chosen].text, language)}"
        return text

    # Starting --------------------------------------------------------------------------

    def opening(self, survey_key: str, language: str) -> tuple[str, str]:
        """The language a survey will speak to a customer who reads `language` (the
        closest the survey offers) and its first step."""
        survey = self.surveys[survey_key]
        return pick_language(language, survey.languages), survey.first.key

    def reminder_for(self, invitation: SurveyInvitation) -> Prompt:
        """The current question again, introduced as a gentle reminder."""
        assert invitation.current_step is not None
        question = self.prompt_for(state_of(invitation), invitation.current_step)
        intro = self.messages.get("reminder", invitation.language or "en")
        return Prompt(
            text=f"{intro}\n\n{question.text}",
            buttons=question.buttons,
            invitation_id=invitation.id,
        )

    def remember_message(self, session: Session, invitation_id: int, message_id: int) -> None:
        """Keep the id of the message asking the current question (to edit it later)."""
        answering.remember_message(
            session=session, invitation_id=invitation_id, message_id=message_id
        )

    # Buttons ---------------------------------------------------------------------------

    def on_button(self, session: Session, inbound: Inbound, raw: str) -> Reply:
        """Handle a tapped survey button; forged or stale taps change nothing."""
        try:
            data = read_button(self._key, raw)
        except RetiredToken:
            # Signed before `churnbot secret rotate`: say so, the customer did nothing wrong.
            return Reply(toast=self._text("button_expired", inbound))
        except InvalidToken:
            log.warning("rejected button data from chat %s", inbound.chat_id)
            return Reply(toast=self._text("invalid_button", inbound))
        if data.action not in (ButtonAction.ANSWER, ButtonAction.SKIP):
            return Reply(toast=self._text("invalid_button", inbound))
        invitation = answering.invitation_tapped(
            session=session, invitation_id=data.target, chat_id=inbound.chat_id
        )
        if invitation is None:
            return Reply(toast=self._text("invalid_button", inbound))
        language = invitation.language or "en"
        if not invitation.accepting:
            return Reply(toast=self.messages.get("stale_button", language))
        survey = self.surveys.get(invitation.survey_key)
        if survey is None or not 0 <= data.step < len(survey.questions):
            return Reply(toast=self.messages.get("invalid_button", language))
        question = survey.questions[data.step]
        if invitation.current_step != question.key:
            return Reply(toast=self.messages.get("stale_button", language))
        numeric_value = choice_key = None
        shown = self.messages.get("skipped", language)
        if data.action == ButtonAction.ANSWER:
            if isinstance(question, RatingQuestion):
                if not question.scale.min <= data.value <= question.scale.max:
                    return Reply(toast=self.messages.get("invalid_button", language))
                numeric_value = data.value
                shown = str(data.value)
            elif isinstance(question, ChoiceQuestion):
                if not 0 <= data.value < len(question.options):
                    return Reply(toast=self.messages.get("invalid_button", language))
                option = question.options[data.value]
                choice_key = option.key
                shown = localize(option.label, language)
            else:
                return Reply(toast=self.messages.get("invalid_button", language))
        elif isinstance(question, TextQuestion) and not question.optional:
            return Reply(toast=self.messages.get("invalid_button", language))
        answer = NewAnswer(
            customer_id=invitation.customer_id,
            invitation_id=invitation.id,
            survey_key=survey.key,
            question_key=question.key,
            language=language,
            numeric_value=numeric_value,
            choice_key=choice_key,
            answered_at=self._clock(),
        )
        reply, answers = self._record_and_advance(session, invitation, survey, answer)
        # The survey lives in one message: it now shows the answers so far and what comes
        # next (the next question with its buttons, or the closing words).
        following = reply.messages[0]
        edit = Edit(
            message_id=invitation.telegram_message_id or 0,
            text=f"{self._recap(survey, answers, language)}\n\n{following.text}",
            buttons=following.buttons,
        )
        return Reply(
            toast=self.messages.get("answer_saved", language, answer=shown)[:190],
            edits=(edit,),
            completed=reply.completed,
        )

    # Free text -------------------------------------------------------------------------

    def on_text(self, session: Session, inbound: Inbound, text: str) -> Reply:
        """Handle a typed message: an answer to the open question, or unsolicited feedback.
        A redelivered update whose answer is already stored gets no reply at all."""
        try:
            return self._on_text(session, inbound, text)
        except _AlreadyAnswered:
            log.info("update %s already answered: dropped", inbound.update_id)
            return Reply()

    def _on_text(self, session: Session, inbound: Inbound, text: str) -> Reply:
        customer = answering.customer_of_chat(session=session, chat_id=inbound.chat_id)
        if customer is None:
            return Reply.say(self._text("not_linked", inbound))
        invitation = answering.open_invitation_of(session=session, customer_id=customer.id)
        # Checked under the invitation's lock, so a redelivered update racing the first
        # delivery on another instance still finds the answer stored.
        if inbound.update_id is not None and answering.update_answered(
            session=session, customer_id=customer.id, update_id=inbound.update_id
        ):
            return Reply()
        survey = self.surveys.get(invitation.survey_key) if invitation else None
        if invitation is None or survey is None or invitation.current_step is None:
            return self._store_feedback(session, customer, inbound, text)
        language = invitation.language or "en"
        question = survey.question(invitation.current_step)
        numeric_value = None
        if isinstance(question, RatingQuestion):
            numeric_value = _as_int(text)
            if (
                numeric_value is None
                or not question.scale.min <= numeric_value <= question.scale.max
            ):
                feedback = self._store_feedback(session, customer, inbound, text)
                return Reply(
                    messages=(
                        *feedback.messages,
                        Prompt(self.messages.get("use_buttons", language)),
                    )
                )
        elif isinstance(question, TextQuestion) and len(text) > question.max_length:
            return Reply.say(
                self.messages.get("text_too_long", language, limit=question.max_length)
            )
        answer = NewAnswer(
            customer_id=customer.id,
            invitation_id=invitation.id,
            survey_key=survey.key,
            question_key=question.key,
            language=language,
            numeric_value=numeric_value,
            text=None if numeric_value is not None else text,
            telegram_update_id=inbound.update_id,
            answered_at=self._clock(),
        )
        reply, answers = self._record_and_advance(session, invitation, survey, answer)
        if not invitation.telegram_message_id:
            return reply
        # The survey message drops its Skip button and shows what was answered; what comes
        # next is a new message, below the customer's own.
        recap = Edit(
            message_id=invitation.telegram_message_id,
            text=self._recap(survey, answers, language),
        )
        return Reply(edits=(recap,), messages=reply.messages, completed=reply.completed)

    def _store_feedback(
        self, session: Session, customer: CustomerRef, inbound: Inbound, text: str
    ) -> Reply:
        answer = NewAnswer(
            customer_id=customer.id,
            question_key=FEEDBACK_QUESTION,
            text=text,
            language=customer.language,
            telegram_update_id=inbound.update_id,
            answered_at=self._clock(),
        )
        answer_id = _inserted(answering.insert_answer(session=session, answer=answer))
        self._notify(session, answer_id, answer, ())
        return Reply.say(self.messages.get("feedback_received", customer.language or "en"))

    # Shared ----------------------------------------------------------------------------

    def _record_and_advance(
        self,
        session: Session,
        invitation: InvitationState,
        survey: SurveyDefinition,
        answer: NewAnswer,
    ) -> tuple[Reply, list[StoredAnswer]]:
        now = self._clock()
        answer_id = _inserted(answering.insert_answer(session=session, answer=answer))
        answers = answering.answers_of(session=session, invitation_id=invitation.id)
        self._notify(session, answer_id, answer, answers)
        next_key = next_step(survey, answer.question_key, answers)
        if next_key == END:
            invitations.complete(session=session, invitation_id=invitation.id, now=now)
            buttons = (
                self._closing_buttons(
                    session, invitation=invitation, survey=survey, answers=answers
                )
                if self._closing_buttons is not None
                else ()
            )
            closing = Reply(
                messages=(Prompt(self.closing_text(invitation, answers), buttons=buttons),),
                completed=invitation.id,
            )
            return closing, answers
        invitations.advance(
            session=session, invitation_id=invitation.id, current_step=next_key, now=now
        )
        return Reply(messages=(self.prompt_for(invitation, next_key),)), answers

    def _recap(
        self, survey: SurveyDefinition, answers: Sequence[AnswerView], language: str
    ) -> str:
        """Each answered question with its answer, as the survey message shows them."""
        by_key = {answer.question_key: answer for answer in answers}
        parts = [
            f"{localize(question.text, language)}\n{ANSWER_MARK} "
            f"{self._shown(question, by_key[question.key], language)}"
            for question in survey.questions
            if question.key in by_key
        ]
        return "\n\n".join(parts)

    def _shown(
        self,
        question: RatingQuestion | ChoiceQuestion | TextQuestion,
        answer: AnswerView,
        language: str,
    ) -> str:
        if answer.numeric_value is not None:
            return str(answer.numeric_value)
        if answer.choice_key is not None and isinstance(question, ChoiceQuestion):
            for option in question.options:
                if option.key == answer.choice_key:
                    return localize(option.label, language)
        if answer.text:
            text = " ".join(answer.text.split())
            return text if len(text) <= RECAP_CHARS else text[: RECAP_CHARS - 1] + "…"
        return self.messages.get("skipped", language)

    def _notify(
        self,
        session: Session,
        answer_id: int,
        answer: NewAnswer,
        answers: Sequence[StoredAnswer],
    ) -> None:
        if self._on_answer is None:
            return
        try:
            self._on_answer(session=session, answer_id=answer_id, answer=answer, answers=answers)
        except Exception:
            # Classification must never cost the customer's answer (`reclassify` can
            # label it later).
            log.exception("answer hook failed for answer %s", answer_id)

    def _text(self, key: str, inbound: Inbound) -> str:
        return self.messages.get(key, pick_language(inbound.language_code))


class _AlreadyAnswered(Exception):
    """The answer of this Telegram update is already stored (another instance got it)."""


def _inserted(answer_id: int | None) -> int:
    if answer_id is None:
        raise _AlreadyAnswered
    return answer_id


def next_step(survey: SurveyDefinition, answered_key: str, answers: Sequence[AnswerView]) -> str:
    """The question after `answered_key` given the answers so far, or `END`."""
    by_key = {answer.question_key: answer for answer in answers}
    question = survey.question(answered_key)
    for rule in question.next:
        condition = rule.if_
        if condition is None:
            return rule.goto
        earlier = by_key.get(condition.question)
        if earlier is not None and condition.matches(earlier.numeric_value, earlier.choice_key):
            return rule.goto
    index = survey.index_of(answered_key)
    return survey.questions[index + 1].key if index + 1 < len(survey.questions) else END


def _as_int(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() and len(stripped) <= 3 else None
