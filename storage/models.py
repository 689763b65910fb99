"""SQLModel tables: the whole persistent state of churnbot.

Everything the bot knows lives here, never in process memory, so a crash or a second
instance loses nothing. Timestamps are timezone-aware UTC (SQLModel's UTCDateTime).
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.clock import utcnow


class InvitationStatus(enum.StrEnum):
    """Life cycle of one survey invitation."""

    PENDING = "pending"
    SENT = "sent"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    FAILED = "failed"


OPEN_STATUSES = (InvitationStatus.SENT, InvitationStatus.IN_PROGRESS)


def new_link_nonce() -> str:
    """A fresh random link nonce: 8 bytes in URL-safe base64 (11 characters)."""
    return secrets.token_urlsafe(8)


# A customer of the business running churnbot (not a Telegram user as such).
class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, index=True)
    name: str | None = Field(default=None, max_length=200)
    telegram_chat_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, unique=True, nullable=True)
    )
    language: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    opted_out: bool = Field(default=False)
    unreachable: bool = Field(default=False)
    plan: str | None = Field(default=None, max_length=100)
    monthly_revenue: float | None = Field(default=None)
    # The Stripe customer (cus_…) this customer is, when Stripe reports events about them.
    stripe_customer_id: str | None = Field(default=None, max_length=64, unique=True)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # Named by every deep link made for this customer: a link outlives nothing it was made
    # for, even when SQLite gives a later customer the id of an erased one.
    link_nonce: str | None = Field(
        default_factory=new_link_nonce,
        sa_column=Column(String(16), nullable=True, default=new_link_nonce),
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# Something that happened to a customer, as reported by the business (CLI or API).
class Event(SQLModel, table=True):
    __table_args__ = (
        # Period scans of one event type; customer_id makes the reports' state query covering.
        Index("ix_event_type_occurred_customer", "type", "occurred_at", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_event_id: str = Field(max_length=200, unique=True)
    type: str = Field(max_length=64, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    occurred_at: datetime = Field(index=True)
    recorded_at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


# One survey offered to one customer; its row carries the conversation state.
class SurveyInvitation(SQLModel, table=True):
    __tablename__ = "survey_invitation"
    __table_args__ = (
        UniqueConstraint("event_id", "survey_key", name="uq_invitation_event_survey"),
        Index("ix_invitation_status_due", "status", "due_at"),
        Index("ix_invitation_customer_status", "customer_id", "status"),
        # Invitations sent in a period per survey and outcome (survey health), index-only.
        Index("ix_invitation_sent_at", "sent_at", "survey_key", "status"),
        # Reminders due: open invitations of one survey sent before a time. Leading with
        # the survey alone, every delivery tick scanned all of that survey's invitations.
        Index("ix_invitation_survey_status_sent", "survey_key", "status", "sent_at"),
        # The alerts sweep: invitations that finished or expired recently.
        Index("ix_invitation_status_updated", "status", "updated_at"),
        # One exit survey per cancelled subscription, however many cancel events name it
        # (NULL for invitations not about a subscription: NULLs never collide).
        Index(
            "uq_invitation_customer_survey_subscription",
            "customer_id",
            "survey_key",
            "subscription_ref",
            unique=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", ondelete="CASCADE")
    survey_key: str = Field(max_length=64)
    event_id: int | None = Field(default=None, foreign_key="event.id", ondelete="CASCADE")
    # The cancelled subscription's reference (the event's data.reference), if any.
    subscription_ref: str | None = Field(default=None, max_length=200)
    status: str = Field(default=InvitationStatus.PENDING, sa_type=String(16))
    status_reason: str | None = Field(default=None, max_length=500)
    current_step: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    due_at: datetime = Field(default_factory=utcnow)
    send_claimed_at: datetime | None = Field(default=None)
    send_started_at: datetime | None = Field(default=None)
    send_attempts: int = Field(default=0)
    sent_at: datetime | None = Field(default=None)
    started_at: datetime | None = Field(default=None)
    reminder_sent_at: datetime | None = Field(default=None)
    completed_at: datetime | None = Field(default=None)
    expires_at: datetime | None = Field(default=None)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


# One answer to one question, or unsolicited feedback (no invitation).
class Answer(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("invitation_id", "question_key", name="uq_answer_invitation_question"),
        Index("ix_answer_answered_at", "answered_at"),
        # Reason answers and scores of a period, by (survey, question) as the roles name
        # them; score and customer make it index-only.
        Index(
            "ix_answer_question_survey_answered",
            "question_key",
            "survey_key",
            "answered_at",
            "numeric_value",
            "customer_id",
        ),
        # A redelivered Telegram update is recognised by its id, within the customer's own
        # answers: Telegram picks the next update id at random after a week without
        # updates, and another bot's ids may repeat ours, so the id alone is not unique.
        # It also serves every lookup of a customer's answers (and the cascade on delete).
        Index("ix_answer_customer_update", "customer_id", "telegram_update_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Indexed first in ix_answer_customer_update.
    customer_id: int = Field(foreign_key="customer.id", ondelete="CASCADE")
    invitation_id: int | None = Field(
        default=None, foreign_key="survey_invitation.id", ondelete="CASCADE"
    )
    survey_key: str | None = Field(default=None, max_length=64)
    question_key: str = Field(max_length=64)
    numeric_value: int | None = Field(default=None)
    choice_key: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    language: str | None = Field(default=None, max_length=16)
    telegram_update_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    answered_at: datetime = Field(default_factory=utcnow)


# The automatic classification of an answer's text and/or reason choice.
class AnswerClassification(SQLModel, table=True):
    __tablename__ = "answer_classification"

    answer_id: int = Field(foreign_key="answer.id", primary_key=True, ondelete="CASCADE")
    category: str = Field(max_length=32, index=True)
    secondary: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    sentiment: str = Field(max_length=16)
    polarity: float | None = Field(default=None)
    subjectivity: float | None = Field(default=None)
    confidence: float = Field(default=0.0)
    language: str | None = Field(default=None, max_length=16)
    method: str = Field(max_length=64)
    classifier_version: str = Field(max_length=32)
    classified_at: datetime = Field(default_factory=utcnow)
    # The model was less sure than its threshold: shown as "needs review" and counted.
    needs_review: bool = Field(default=False)


# A manager's correction of an answer's category; overrides the automatic label.
class LabelCorrection(SQLModel, table=True):
    __tablename__ = "label_correction"

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="answer.id", index=True, ondelete="CASCADE")
    category: str = Field(max_length=32)
    sentiment: str | None = Field(default=None, max_length=16)
    corrected_by: str = Field(max_length=200)
    corrected_at: datetime = Field(default_factory=utcnow)


class ExampleSource(enum.StrEnum):
    """Where a training example of this instance came from."""

    BUTTON = "button"  # the customer tapped a reason and also wrote text
    RELABEL = "relabel"  # a manager corrected the label


# A labelled text of this instance's own customers: training data for `classify retrain`.
class TrainingExample(SQLModel, table=True):
    __tablename__ = "training_example"

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="answer.id", index=True, ondelete="CASCADE")
    text: str = Field(sa_column=Column(Text, nullable=False))
    language: str | None = Field(default=None, max_length=16)
    category: str = Field(max_length=32)
    sentiment: str | None = Field(default=None, max_length=16)
    source: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


# A model retrained on this instance's examples; the newest row is the one in use.
class ClassifierModel(SQLModel, table=True):
    __tablename__ = "classifier_model"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


# Small key/value store for instance-wide state (e.g. the generated secret key).
class AppState(SQLModel, table=True):
    __tablename__ = "app_state"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class SummaryPostStatus(enum.StrEnum):
    """Life cycle of one weekly summary post (stored as its string value)."""

    SENDING = "sending"  # claimed by one instance, Slack calls in flight
    RETRY = "retry"  # a Slack call failed for sure; retried after next_attempt_at
    POSTED = "posted"
    FAILED = "failed"  # gave up after the last attempt
    UNCERTAIN = "uncertain"  # the sender died mid-call: not retried, to never post twice


# One weekly summary for one Slack channel: claimed before posting, so it is posted once.
class SummaryPost(SQLModel, table=True):
    __tablename__ = "summary_post"
    __table_args__ = (UniqueConstraint("week", "channel", name="uq_summary_post_week_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(max_length=10)
    channel: str = Field(max_length=100)
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_at: datetime | None = Field(default=None)
    next_attempt_at: datetime | None = Field(default=None)
    message_ts: str | None = Field(default=None, max_length=32)
    chart_posted: bool = Field(default=False)
    posted_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SlackAlertStatus(enum.StrEnum):
    """Life cycle of one invitation's alert to SLACK_ALERTS_CHANNEL."""

    NONE = "none"  # the invitation was looked at and deserves no alert
    SENDING = "sending"  # claimed; if the sender died now Slack may have it: never re-posted
    RETRY = "retry"  # Slack refused for sure; the sweep tries again
    POSTED = "posted"
    FAILED = "failed"  # gave up after the last attempt


# The alert of one finished (or expired) invitation: claimed before posting, so it is posted
# once, and remembering where it went, so a relabel can update it in place.
class SlackAlert(SQLModel, table=True):
    __tablename__ = "slack_alert"

    invitation_id: int = Field(
        foreign_key="survey_invitation.id", primary_key=True, ondelete="CASCADE"
    )
    kind: str | None = Field(default=None, max_length=16)
    status: str = Field(max_length=16, index=True)  # the sweep looks for `retry`
    attempts: int = Field(default=0)
    channel: str | None = Field(default=None, max_length=100)
    message_ts: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OfferStatus(enum.StrEnum):
    """Life cycle of one win-back offer that can be accepted."""

    OFFERED = "offered"  # shown with Accept / No thanks
    DECLINED = "declined"
    ACCEPTED = "accepted"  # the outbox: to be applied in billing or handed to the team
    APPLIED = "applied"  # Stripe resumed the subscription (and applied the coupon)
    HANDED_OVER = "handed_over"  # no Stripe: the team applies it
    REFUSED = "refused"  # the subscription had ended or Stripe refused: the team follows up


class NoticeStatus(enum.StrEnum):
    """Life cycle of one notice (to a customer, the team or a webhook); sent at most once."""

    NONE = "none"  # nobody is to be told this way
    PENDING = "pending"
    SENDING = "sending"  # claimed; a crash now leaves it unsent rather than sent twice
    RETRY = "retry"  # failed for sure; tried again at next_attempt_at
    SENT = "sent"
    SKIPPED = "skipped"  # no chat, opted out or unreachable
    FAILED = "failed"  # gave up


# A win-back offer made at the end of an exit survey, and what became of it. Accepted, it is
# an outbox item: applied in billing once (every Stripe write carries `idempotency_key`), then
# told to the customer, the team and the save webhook.
class WinbackOffer(SQLModel, table=True):
    __tablename__ = "winback_offer"
    __table_args__ = (
        Index("ix_winback_offer_status_due", "status", "next_attempt_at"),
        Index("ix_winback_offer_offered_at", "offered_at"),
        # Ids travel in buttons: never reuse the id of a deleted row.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="survey_invitation.id", unique=True, ondelete="CASCADE")
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    survey_key: str = Field(max_length=64)
    choice_key: str = Field(max_length=64)
    summary: str = Field(max_length=200)
    coupon: str | None = Field(default=None, max_length=100)
    resume: bool = Field(default=False)
    subscription_ref: str | None = Field(default=None, max_length=200)
    # Billing (Stripe) can apply it: configured, a subscription to act on, and the coupon set
    # when the offer has one. Otherwise an accept goes to the team.
    billing: bool = Field(default=False)
    # The customer's monthly revenue when they accepted: what a save keeps.
    monthly_revenue: float | None = Field(default=None)
    status: str = Field(default=OfferStatus.OFFERED, max_length=16)
    idempotency_key: str = Field(max_length=64)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    customer_notice: str = Field(default=NoticeStatus.NONE, max_length=16)
    team_notice: str = Field(default=NoticeStatus.NONE, max_length=16)
    webhook_notice: str = Field(default=NoticeStatus.NONE, max_length=16)
    webhook_attempts: int = Field(default=0)
    webhook_next_at: datetime | None = Field(default=None)
    offered_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = Field(default=None)
    applied_at: datetime | None = Field(default=None)
    updated_at: datetime = Field(default_factory=utcnow)


class StripeEventStatus(enum.StrEnum):
    """Whether a received Stripe event has reached the domain yet."""

    PENDING = "pending"  # no churnbot customer matches its Stripe customer yet
    APPLIED = "applied"  # mapped into the event intake (or found to need nothing)


# One Stripe webhook event, recorded once by its id (Stripe retries and reorders them).
class StripeEvent(SQLModel, table=True):
    __tablename__ = "stripe_event"
    __table_args__ = (
        # Waiting events of one Stripe customer, applied oldest first once it is matched.
        Index("ix_stripe_event_customer_status", "stripe_customer_id", "status", "created"),
        # The newest event about one subscription or invoice (stale updates are dropped).
        Index("ix_stripe_event_object_created", "object_id", "created"),
    )

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    created: datetime
    stripe_customer_id: str | None = Field(default=None, max_length=64)
    object_id: str | None = Field(default=None, max_length=255)
    status: str = Field(default=StripeEventStatus.PENDING, sa_type=String(16))
    outcome: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: datetime = Field(default_factory=utcnow)
    applied_at: datetime | None = Field(default=None)


class NoticeKind(enum.StrEnum):
    """Messages to a customer that are not surveys."""

    PAYMENT_FAILED = "payment_failed"


# One message to a customer about their billing (a failed payment), once per invoice.
class CustomerNotice(SQLModel, table=True):
    __tablename__ = "customer_notice"
    __table_args__ = (
        UniqueConstraint("kind", "reference", name="uq_customer_notice_kind_reference"),
        Index("ix_customer_notice_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32)
    reference: str = Field(max_length=255)
    link: str | None = Field(default=None, max_length=2000)
    amount: str | None = Field(default=None, max_length=64)
    status: str = Field(default=NoticeStatus.PENDING, sa_type=String(16))
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None)
