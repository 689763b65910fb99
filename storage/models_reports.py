"""Tables and indexes of the reports (weekly summary, figures); to be merged into models.py.

Kept apart while models.py is owned elsewhere; migration 0002 creates exactly this.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.clock import utcnow
from storage.models import Answer, Event, SurveyInvitation


class SummaryPostStatus:
    """Life cycle of one weekly summary post (plain strings, stored as such)."""

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


# Indexes on the existing tables for what the reports filter and group by. Column objects
# attach them to those tables' metadata, so the migration check sees them as part of the model.
REPORT_INDEXES = (
    # Period scans of one event type; customer_id makes it covering for the state query.
    Index(
        "ix_event_type_occurred_customer",
        Event.__table__.c.type,  # type: ignore[attr-defined]
        Event.__table__.c.occurred_at,  # type: ignore[attr-defined]
        Event.__table__.c.customer_id,  # type: ignore[attr-defined]
    ),
    # Reason answers and CSAT scores of a period.
    Index(
        "ix_answer_question_answered",
        Answer.__table__.c.question_key,  # type: ignore[attr-defined]
        Answer.__table__.c.answered_at,  # type: ignore[attr-defined]
    ),
    # Invitations sent in a period (survey health).
    Index(
        "ix_invitation_sent_at",
        SurveyInvitation.__table__.c.sent_at,  # type: ignore[attr-defined]
    ),
)
