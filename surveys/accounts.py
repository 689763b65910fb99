"""The customer's own commands: linking a chat, opting out and in, help, erasure."""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from storage.clock import Clock
from storage.models import Customer, new_link_nonce
from storage.queries import customers as customer_queries
from surveys.i18n import Messages, isolate, pick_language
from surveys.replies import Button, Edit, Prompt, Reply
from surveys.signing import (
    ButtonAction,
    ButtonData,
    ExpiredToken,
    InvalidToken,
    RetiredToken,
    SigningKey,
    make_link_token,
    read_button,
    read_link_token,
    sign_button,
)

log = logging.getLogger(__name__)

CHOICE_MARK = "✓"


class Accounts:
    """What a customer can do about their own account from the chat."""

    def __init__(self, *, messages: Messages, key: SigningKey, clock: Clock) -> None:
        self.messages = messages
        self._key = key
        self._clock = clock

    def link_token(self, customer: Customer, days: int) -> str:
        """A deep-link token naming the customer (id and link nonce) for `days` days."""
        assert customer.id is not None
        if customer.link_nonce is None:
            customer.link_nonce = new_link_nonce()
        expires: datetime = self._clock() + timedelta(days=days)
        return make_link_token(self._key, customer.id, customer.link_nonce, expires)

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
            claim = read_link_token(self._key, payload, self._clock())
        except ExpiredToken:
            return Reply.say(self.messages.get("link_expired", language))
        except InvalidToken:
            log.warning("rejected link token from chat %s", chat_id)
            return Reply.say(self.messages.get("link_invalid", language))
        customer = session.get(Customer, claim.customer_id)
        if customer is None or not _same_nonce(customer.link_nonce, claim.nonce):
            # Made for a customer who was erased (their id may now name someone else).
            log.info("link token of a customer no longer here, from chat %s", chat_id)
            return Reply.say(self.messages.get("link_invalid", language))
        if customer.telegram_chat_id not in (None, chat_id):
            return Reply.say(self.messages.get("link_taken", language))
        customer_queries.link_chat(
            session=session, customer=customer, chat_id=chat_id, language=language
        )
        if customer.opted_out:
            customer_queries.set_opted_out(session=session, customer=customer, opted_out=False)
        name = customer.name or first_name
        language = customer.language or language
        greeting_name = (
            self.messages.get("greeting_name", language, name=isolate(name, language))
            if name
            else ""
        )
        return Reply.say(self.messages.get("linked", language, name=greeting_name))

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
        yes = sign_button(self._key, ButtonData(ButtonAction.FORGET_YES, customer.id))
        no = sign_button(self._key, ButtonData(ButtonAction.FORGET_NO, customer.id))
        buttons = (
            (Button(self.messages.get("forget_yes", language), yes),),
            (Button(self.messages.get("forget_no", language), no),),
        )
        return Reply(messages=(Prompt(self.messages.get("forget_confirm", language), buttons),))

    def on_forget_button(
        self, session: Session, *, chat_id: int, raw: str, language_code: str | None
    ) -> Reply:
        """The answer to the confirmation: delete everything, or nothing. A valid answer
        edits the confirmation (message id 0: the tapped message) to show the choice; a
        forged or expired button changes nothing, not even the message it was pressed on."""
        language = pick_language(language_code)
        try:
            data = read_button(self._key, raw)
        except RetiredToken:
            return Reply(toast=self.messages.get("forget_expired", language))
        except InvalidToken:
            log.warning("rejected forget button data from chat %s", chat_id)
            return Reply(toast=self.messages.get("invalid_button", language))
        if data.action not in (ButtonAction.FORGET_YES, ButtonAction.FORGET_NO):
            return Reply(toast=self.messages.get("invalid_button", language))
        customer = customer_queries.get_by_chat(session=session, chat_id=chat_id)
        if customer is None or customer.id != data.target:
            return Reply(toast=self.messages.get("invalid_button", language))
        language = customer.language or language
        chosen = "forget_yes" if data.action == ButtonAction.FORGET_YES else "forget_no"
        shown = Edit(
            message_id=0,
            text=f"{self.messages.get('forget_confirm', language)}\n\n"
            f"{CHOICE_MARK} {self.messages.get(chosen, language)}",
        )
        if data.action == ButtonAction.FORGET_NO:
            cancelled = self.messages.get("forget_cancelled", language)
            return Reply(toast=cancelled, edits=(shown,), messages=(Prompt(cancelled),))
        customer_queries.forget_customer(session=session, customer_id=data.target)
        log.info("customer %s erased on request", data.target)
        done = self.messages.get("forget_done", language)
        return Reply(edits=(shown,), messages=(Prompt(done),))

    @staticmethod
    def _language(customer: Customer | None, language_code: str | None) -> str:
        if customer is not None and customer.language:
            return customer.language
        return pick_language(language_code)


def _same_nonce(stored: str | None, claimed: str) -> bool:
    return stored is not None and hmac.compare_digest(stored.encode(), claimed.encode())
