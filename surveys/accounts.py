"""The customer's own commands: linking a chat, opting out and in, help, erasure."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from storage.clock import Clock
from storage.models import Customer
from storage.queries import customers as customer_queries
from surveys.i18n import Messages, pick_language
from surveys.replies import Button, Prompt, Reply
from surveys.signing import (
    ButtonData,
    ExpiredToken,
    InvalidToken,
    make_link_token,
    read_button,
    read_link_token,
    sign_button,
)

log = logging.getLogger(__name__)


class Accounts:
    """What a customer can do about their own account from the chat."""

    def __init__(self, *, messages: Messages, secret: bytes, clock: Clock) -> None:
        self.messages = messages
        self._secret = secret
        self._clock = clock

    def link_token(self, customer: Customer, days: int) -> str:
        assert customer.id is not None
        expires: datetime = self._clock() + timedelta(days=days)
        return make_link_token(self._secret, customer.id, expires)

    def on_start(
        self,
        session: Session,
        *,
        chat_id: int,
        payload: str | None,
        language_code: str | None,
        first_name: str | None,
    ) -> Reply:
        """`/start [token]`: link the chat with a token, or opt back in."""
        language = pick_language(language_code)
        current = customer_queries.get_by_chat(session=session, chat_id=chat_id)
        if not payload:
            if current is None:
                return Reply.say(self.messages.get("welcome_unlinked", language))
            language = current.language or language
            if current.opted_out:
                customer_queries.set_opted_out(session=session, customer=current, opted_out=False)
                return Reply.say(self.messages.get("opted_in", language))
            return Reply.say(self.messages.get("already_active", language))
        try:
            customer_id = read_link_token(self._secret, payload, self._clock())
        except ExpiredToken:
            return Reply.say(self.messages.get("link_expired", language))
        except InvalidToken:
            log.warning("rejected link token from chat %s", chat_id)
            return Reply.say(self.messages.get("link_invalid", language))
        customer = session.get(Customer, customer_id)
        if customer is None:
            return Reply.say(self.messages.get("link_invalid", language))
        if customer.telegram_chat_id not in (None, chat_id):
            return Reply.say(self.messages.get("link_taken", language))
        customer_queries.link_chat(
            session=session, customer=customer, chat_id=chat_id, language=language
        )
        if customer.opted_out:
            customer_queries.set_opted_out(session=session, customer=customer, opted_out=False)
        name = customer.name or first_name
        return Reply.say(
            self.messages.get(
                "linked", customer.language or language, name=f", {name}" if name else ""
            )
        )

    def on_stop(self, session: Session, *, chat_id: int, language_code: str | None) -> Reply:
        """`/stop`: no more surveys for this customer."""
        customer = customer_queries.get_by_chat(session=session, chat_id=chat_id)
        if customer is None:
            return Reply.say(self.messages.get("not_linked", pick_language(language_code)))
        customer_queries.set_opted_out(session=session, customer=customer, opted_out=True)
        return Reply.say(self.messages.get("opted_out", self._language(customer, language_code)))

    def on_help(self, session: Session, *, chat_id: int, language_code: str | None) -> Reply:
        customer = customer_queries.get_by_chat(session=session, chat_id=chat_id)
        return Reply.say(self.messages.get("help", self._language(customer, language_code)))

    def on_forget(self, session: Session, *, chat_id: int, language_code: str | None) -> Reply:
        """`/forget`: ask for confirmation with two signed buttons."""
        customer = customer_queries.get_by_chat(session=session, chat_id=chat_id)
        if customer is None or customer.id is None:
            return Reply.say(self.messages.get("not_linked", pick_language(language_code)))
        language = self._language(customer, language_code)
        yes = sign_button(self._secret, ButtonData("fy", customer.id))
        no = sign_button(self._secret, ButtonData("fn", customer.id))
        buttons = (
            (Button(self.messages.get("forget_yes", language), yes),),
            (Button(self.messages.get("forget_no", language), no),),
        )
        return Reply(messages=(Prompt(self.messages.get("forget_confirm", language), buttons),))

    def is_forget_button(self, raw: str) -> bool:
        return raw.startswith(("fy:", "fn:"))

    def on_forget_button(
        self, session: Session, *, chat_id: int, raw: str, language_code: str | None
    ) -> Reply:
        """The answer to the confirmation: delete everything, or nothing."""
        language = pick_language(language_code)
        try:
            data = read_button(self._secret, raw)
        except InvalidToken:
            return Reply(toast=self.messages.get("invalid_button", language))
        customer = customer_queries.get_by_chat(session=session, chat_id=chat_id)
        if customer is None or customer.id != data.target:
            return Reply(toast=self.messages.get("invalid_button", language))
        language = customer.language or language
        if data.action == "fn":
            return Reply(
                toast=self.messages.get("forget_cancelled", language),
                messages=(Prompt(self.messages.get("forget_cancelled", language)),),
            )
        customer_queries.forget_customer(session=session, customer_id=data.target)
        log.info("customer %s erased on request", data.target)
        return Reply(messages=(Prompt(self.messages.get("forget_done", language)),))

    @staticmethod
    def _language(customer: Customer | None, language_code: str | None) -> str:
        if customer is not None and customer.language:
            return customer.language
        return pick_language(language_code)
