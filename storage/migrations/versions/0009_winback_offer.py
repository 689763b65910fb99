"""winback_offer: acceptable win-back offers, and the outbox of accepted ones

Each exit survey that ends with an offer the customer can accept in one tap gets a row; an
accepted one is applied in billing once (its idempotency key goes with every Stripe write)
and then told to the customer, the team and the save webhook. The save rate and the revenue
saved are counted from these rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "winback_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("survey_key", AutoString(length=64), nullable=False),
        sa.Column("choice_key", AutoString(length=64), nullable=False),
        sa.Column("summary", AutoString(length=200), nullable=False),
        sa.Column("coupon", AutoString(length=100), nullable=True),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("subscription_ref", AutoString(length=200), nullable=True),
        sa.Column("billing", sa.Boolean(), nullable=False),
        sa.Column("monthly_revenue", sa.Float(), nullable=True),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("idempotency_key", AutoString(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", AutoString(length=500), nullable=True),
        sa.Column("customer_notice", AutoString(length=16), nullable=False),
        sa.Column("team_notice", AutoString(length=16), nullable=False),
        sa.Column("webhook_notice", AutoString(length=16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_next_at", UTCDateTime(), nullable=True),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invitation_id"], ["survey_invitation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invitation_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("winback_offer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_winback_offer_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_winback_offer_offered_at", ["offered_at"], unique=False)
        batch_op.create_index(
            "ix_winback_offer_status_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("winback_offer", schema=None) as batch_op:
        batch_op.drop_index("ix_winback_offer_status_due")
        batch_op.drop_index("ix_winback_offer_offered_at")
        batch_op.drop_index(batch_op.f("ix_winback_offer_customer_id"))
    op.drop_table("winback_offer")
