"""Win-back offers a customer accepts in one tap, and the outbox that applies them.

`OfferDesk` adds Accept / No thanks buttons to a closing message whose offer can be accepted
(recording the offer, so the save rate has a denominator) and handles the taps. An accepted
offer is an outbox item: `SaveDesk` applies it in billing (through the `Billing` port; every
write carries the offer's idempotency key, so an attempt repeated after a crash cannot apply
it twice), then tells the customer, the team and the save webhook, each once. Without
billing, the accept goes straight to the team. No HTTP here: the ports are implemented in
handlers/.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import Clock
from storage.models import NoticeStatus, OfferStatus, WinbackOffer
from storage.queries import offers as queries
from storage.queries.invitations import InvitationState
from storage.queries.offers import NewOffer, Notice, OfferContext
from storage.session import transact
from surveys.definition import Offer, SurveyDefinition
from surveys.i18n import Messages, localize, pick_language
from surveys.replies import Button, Edit, Prompt, Reply
from surveys.reports.blocks import escape
from surveys.reports.render import money
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

APPLY_LEASE = timedelta(minutes=2)
APPLY_MAX_ATTEMPTS = 6
WEBHOOK_MAX_ATTEMPTS = 8
SWEEP_BATCH = 50


class BillingRefused(Exception):
    """Billing said no for good (the subscription has ended, an unknown coupon, ...)."""


class BillingUnavailable(Exception):
    """Billing could not be reached or failed on its side: try again later."""


class Billing(Protocol):
    async def apply(
        self,
        *,
        subscription_ref: str,
        coupon: str | None,
        resume: bool,
        idempotency_key: str,
    ) -> None:
        """Undo the scheduled cancellation (`resume`) and apply `coupon`, or raise."""
        ...


class CustomerChannel(Protocol):
    async def tell(self, chat_id: int, text: str) -> None: ...


class TeamChannel(Protocol):
    async def post(self, text: str) -> None: ...


class SaveWebhook(Protocol):
    async def deliver(self, payload: dict[str, Any]) -> None:
        """POST the signed payload; raise on anything but a 2xx answer."""
        ...


@dataclass(frozen=True)
class OfferTap:
    """What a tap on Accept / No thanks did: the reply, and the offer now to apply."""

    reply: Reply
    accepted: int | None = None


def chosen_offer(survey: SurveyDefinition, answers: Sequence[Any]) -> tuple[str, Offer] | None:
    """The offer the answers led to (by the offers' question), if any."""
    offers = survey.closing.offers
    if offers is None:
        return None
    chosen = next((a.choice_key for a in answers if a.question_key == offers.question), None)
    if chosen is None or chosen not in offers.by_choice:
        return None
    return chosen, offers.by_choice[chosen]


class OfferDesk:
    """The customer's side of an offer: its buttons and the taps on them."""

    def __init__(
        self,
        *,
        messages: Messages,
        key: SigningKey,
        clock: Clock,
        winback_coupon: str | None = None,
        billing_enabled: bool = False,
    ) -> None:
        self.messages = messages
        self._key = key
        self._clock = clock
        self._winback_coupon = winback_coupon
        self._billing_enabled = billing_enabled

    def closing_buttons(
        self,
        session: Session,
        *,
        invitation: InvitationState,
        survey: SurveyDefinition,
        answers: Sequence[Any],
    ) -> tuple[tuple[Button, ...], ...]:
        """Record the acceptable offer the closing message makes and return its buttons
        (none when the offer cannot be accepted)."""
        found = chosen_offer(survey, answers)
        if found is None or not found[1].acceptable:
            return ()
        choice, offer = found
        language = invitation.language or "en"
        coupon = offer.coupon_id(self._winback_coupon)
        subscription_ref = queries.subscription_ref_of(
            session=session, invitation_id=invitation.id
        )
        # An offer whose coupon is the unset STRIPE_WINBACK_COUPON goes to the team.
        billing = (
            self._billing_enabled
            and bool(subscription_ref)
            and (offer.coupon is None or coupon is not None)
        )
        offer_id = queries.record_offer(
            session=session,
            offer=NewOffer(
                invitation_id=invitation.id,
                customer_id=invitation.customer_id,
                survey_key=survey.key,
                choice_key=choice,
                summary=offer.summary or choice,
                coupon=coupon,
                resume=offer.resume,
                subscription_ref=subscription_ref,
                billing=billing,
                idempotency_key=f"churnbot-offer-{secrets.token_hex(16)}",
                offered_at=self._clock(),
            ),
        )
        accept = (
            localize(offer.accept_label, language)
            if offer.accept_label is not None
            else self.messages.get("offer_accept", language)
        )
        return (
            (
                Button(accept, self._sign(ButtonAction.OFFER_ACCEPT, offer_id)),
                Button(
                    self.messages.get("offer_decline", language),
                    self._sign(ButtonAction.OFFER_DECLINE, offer_id),
                ),
            ),
        )

    def _sign(self, action: ButtonAction, offer_id: int) -> str:
        return sign_button(self._key, ButtonData(action, offer_id))

    def on_button(
        self, session: Session, *, chat_id: int, language_code: str | None, raw: str
    ) -> OfferTap:
        """Record Accept or No thanks; forged, foreign or repeated taps change nothing."""
        language = pick_language(language_code)
        try:
            data = read_button(self._key, raw)
        except RetiredToken:
            return OfferTap(Reply(toast=self.messages.get("button_expired", language)))
        except InvalidToken:
            log.warning("rejected offer button data from chat %s", chat_id)
            return OfferTap(Reply(toast=self.messages.get("invalid_button", language)))
        if data.action not in (ButtonAction.OFFER_ACCEPT, ButtonAction.OFFER_DECLINE):
            return OfferTap(Reply(toast=self.messages.get("invalid_button", language)))
        offer = queries.offer_of_chat(session=session, offer_id=data.target, chat_id=chat_id)
        if offer is None:
            return OfferTap(Reply(toast=self.messages.get("invalid_button", language)))
        assert offer.id is not None
        language = (
            queries.invitation_language(session=session, invitation_id=offer.invitation_id)
            or language
        )
        now = self._clock()
        drop_buttons = (Edit(message_id=0),)
        if data.action == ButtonAction.OFFER_DECLINE:
            if not queries.decide(
                session=session, offer_id=offer.id, status=OfferStatus.DECLINED, now=now
            ):
                return OfferTap(Reply(toast=self.messages.get("offer_answered", language)))
            text = self.messages.get("offer_declined", language)
            return OfferTap(Reply(toast=text[:190], edits=drop_buttons, messages=(Prompt(text),)))
        revenue = queries.monthly_revenue_of(session=session, customer_id=offer.customer_id)
        if offer.billing:
            decided = queries.decide(
                session=session,
                offer_id=offer.id,
                status=OfferStatus.ACCEPTED,
                now=now,
                monthly_revenue=revenue,
            )
            key = "offer_accepted"
        else:
            # Nothing to apply automatically: the team applies it (and the webhook hears).
            decided = queries.decide(
                session=session,
                offer_id=offer.id,
                status=OfferStatus.HANDED_OVER,
                now=now,
                monthly_revenue=revenue,
                team_notice=NoticeStatus.PENDING,
                # Sent if SAVE_WEBHOOK_URL is set, dropped otherwise (see SaveDesk).
                webhook_notice=NoticeStatus.PENDING,
            )
            key = "offer_team"
        if not decided:
            return OfferTap(Reply(toast=self.messages.get("offer_answered", language)))
        text = self.messages.get(key, language)
        reply = Reply(toast=text[:190], edits=drop_buttons, messages=(Prompt(text),))
        return OfferTap(reply, accepted=offer.id)


@dataclass
class SaveDesk:
    """Applies accepted offers and tells everyone the outcome, each exactly once."""

    db: Engine
    clock: Clock
    messages: Messages
    billing: Billing | None = None
    customers: CustomerChannel | None = None
    team: TeamChannel | None = None
    webhook: SaveWebhook | None = None
    backoff: timedelta = field(default=timedelta(seconds=30))

    async def process(self, offer_id: int) -> None:
        """Apply the offer if it is due, then send whatever notices are waiting."""
        await self._apply(offer_id)
        await self._notify(offer_id)

    async def sweep(self) -> int:
        """Apply what is due and send what is waiting (a crash, a refusal or a restart left
        them); return how many offers were looked at. Never raises."""
        now = self.clock()
        try:
            due = await transact(
                self.db,
                lambda session: queries.due_for_apply(session=session, now=now, limit=SWEEP_BATCH),
            )
            for offer_id in due:
                await self._apply(offer_id)
            waiting = await transact(
                self.db,
                lambda session: queries.with_pending_notices(
                    session=session, now=self.clock(), limit=SWEEP_BATCH
                ),
            )
            for offer_id in waiting:
                await self._notify(offer_id)
        except Exception:
            log.exception("win-back offers sweep failed")
            return 0
        return len(due) + len(waiting)

    async def _apply(self, offer_id: int) -> None:
        now = self.clock()
        offer = await transact(
            self.db,
            lambda session: queries.claim_for_apply(
                session=session, offer_id=offer_id, now=now, lease_until=now + APPLY_LEASE
            ),
        )
        if offer is None:
            return
        if self.billing is None or not offer.billing or not offer.subscription_ref:
            await self._outcome(offer, OfferStatus.HANDED_OVER, None)
            return
        try:
            await self.billing.apply(
                subscription_ref=offer.subscription_ref,
                coupon=offer.coupon,
                resume=offer.resume,
                idempotency_key=offer.idempotency_key,
            )
        except BillingRefused as error:
            log.warning("offer %d refused by billing: %s", offer_id, error)
            await self._outcome(offer, OfferStatus.REFUSED, str(error))
            return
        except BillingUnavailable as error:
            if offer.attempts >= APPLY_MAX_ATTEMPTS:
                await self._outcome(offer, OfferStatus.REFUSED, f"gave up: {error}")
                return
            delay, message = self.backoff * 2 ** (offer.attempts - 1), str(error)
            log.warning("offer %d: billing unavailable, retry in %s: %s", offer_id, delay, error)
            await transact(
                self.db,
                lambda session: queries.retry_apply(
                    session=session,
                    offer_id=offer_id,
                    next_attempt_at=self.clock() + delay,
                    error=message,
                    now=self.clock(),
                ),
            )
            return
        await self._outcome(offer, OfferStatus.APPLIED, None)

    async def _outcome(self, offer: WinbackOffer, status: OfferStatus, error: str | None) -> None:
        assert offer.id is not None
        offer_id = offer.id
        tell_webhook = status == OfferStatus.HANDED_OVER and self.webhook is not None
        await transact(
            self.db,
            lambda session: queries.record_outcome(
                session=session,
                offer_id=offer_id,
                status=status,
                now=self.clock(),
                error=error,
                customer_notice=NoticeStatus.PENDING,
                team_notice=NoticeStatus.PENDING,
                webhook_notice=NoticeStatus.PENDING if tell_webhook else NoticeStatus.NONE,
            ),
        )
        log.info("offer %d: %s", offer_id, status)

    async def _notify(self, offer_id: int) -> None:
        context = await transact(
            self.db, lambda session: queries.context_of(session=session, offer_id=offer_id)
        )
        if context is None or context.offer.status not in queries.FINAL_STATUSES:
            return
        offer = context.offer
        if offer.customer_notice in (NoticeStatus.PENDING, NoticeStatus.RETRY):
            await self._send(offer_id, "customer_notice", self._tell_customer, context)
        if offer.team_notice in (NoticeStatus.PENDING, NoticeStatus.RETRY):
            await self._send(offer_id, "team_notice", self._tell_team, context)
        if offer.webhook_notice in (NoticeStatus.PENDING, NoticeStatus.RETRY):
            await self._send(offer_id, "webhook_notice", self._call_webhook, context)

    async def _send(self, offer_id: int, notice: Notice, send: Any, context: OfferContext) -> None:
        claimed = await transact(
            self.db,
            lambda session: queries.claim_notice(
                session=session, offer_id=offer_id, notice=notice, now=self.clock()
            ),
        )
        if not claimed:
            return
        status, next_at = NoticeStatus.SENT, None
        try:
            sent = await send(context)
            if not sent:
                status = NoticeStatus.NONE
        except Exception:
            log.exception("offer %d: %s failed", offer_id, notice)
            status = NoticeStatus.FAILED
            attempts = context.offer.webhook_attempts + 1
            if notice == "webhook_notice" and attempts < WEBHOOK_MAX_ATTEMPTS:
                status = NoticeStatus.RETRY
                next_at = self.clock() + self.backoff * 2 ** (attempts - 1)
        await transact(
            self.db,
            lambda session: queries.record_notice(
                session=session,
                offer_id=offer_id,
                notice=notice,
                status=status,
                now=self.clock(),
                next_at=next_at,
            ),
        )

    async def _tell_customer(self, context: OfferContext) -> bool:
        if self.customers is None or context.chat_id is None:
            return False
        # Handed over here (not at the tap, whose reply said so): Stripe was configured when
        # the offer was made and is not any more, so the team applies it.
        key = {
            OfferStatus.APPLIED: "offer_applied",
            OfferStatus.REFUSED: "offer_failed",
            OfferStatus.HANDED_OVER: "offer_team",
        }[OfferStatus(context.offer.status)]
        await self.customers.tell(context.chat_id, self.messages.get(key, context.language))
        return True

    async def _tell_team(self, context: OfferContext) -> bool:
        if self.team is None:
            return False
        await self.team.post(team_text(context))
        return True

    async def _call_webhook(self, context: OfferContext) -> bool:
        if self.webhook is None:
            return False
        await self.webhook.deliver(webhook_payload(context))
        return True


def team_text(context: OfferContext) -> str:
    """The Slack alert about an accepted offer (mrkdwn; everything from outside escaped)."""
    offer = context.offer
    who = f"*{escape(context.external_id)}*"
    summary = escape(offer.summary)
    revenue = (
        f"{money(offer.monthly_revenue)} a month" if offer.monthly_revenue else "revenue unknown"
    )
    what = _what(offer)
    if offer.status == OfferStatus.APPLIED:
        return (
            f":tada: Saved: {who} accepted {summary}; {what} in Stripe. Revenue kept: {revenue}."
        )
    if offer.status == OfferStatus.REFUSED:
        reason = escape(offer.last_error or "unknown")
        return (
            f":warning: {who} accepted {summary}, but it could not be applied in Stripe "
            f"({reason}). Follow up by hand: {what}. Revenue at stake: {revenue}."
        )
    return f"{who} accepted {summary}: apply it ({what}). Revenue at stake: {revenue}."


def _what(offer: WinbackOffer) -> str:
    parts = []
    subscription = escape(offer.subscription_ref) if offer.subscription_ref else None
    if offer.resume:
        parts.append(
            f"subscription {subscription} resumed" if subscription else "cancellation undone"
        )
    if offer.coupon:
        parts.append(f"coupon {escape(offer.coupon)}")
    elif subscription and not offer.resume:
        parts.append(f"subscription {subscription}")
    return ", ".join(parts) or "as offered"


def webhook_payload(context: OfferContext) -> dict[str, Any]:
    """What SAVE_WEBHOOK_URL receives when an accepted offer goes to the team."""
    offer = context.offer
    return {
        "type": "winback_offer.accepted",
        "offer_id": offer.id,
        "idempotency_key": offer.idempotency_key,
        "customer_id": context.external_id,
        "subscription_ref": offer.subscription_ref,
        "survey": offer.survey_key,
        "reason": offer.choice_key,
        "summary": offer.summary,
        "coupon": offer.coupon,
        "resume": offer.resume,
        "monthly_revenue": offer.monthly_revenue,
        "accepted_at": _iso(offer.decided_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
