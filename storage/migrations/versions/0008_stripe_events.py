"""stripe_event, customer_notice and customer.stripe_customer_id: Stripe as an event source

Each Stripe webhook event is recorded once by its id, pending until a churnbot customer
matches its Stripe customer, then applied through the event intake. customer_notice holds
the payment-failed messages, one per invoice, sent at most once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stripe_event",
        sa.Column("id", AutoString(length=255), nullable=False),
        sa.Column("type", AutoString(length=100), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("stripe_customer_id", AutoString(length=64), nullable=True),
        sa.Column("object_id", AutoString(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", AutoString(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stripe_event_customer_status",
            ["stripe_customer_id", "status", "created"],
            unique=False,
        )
        batch_op.create_index(
            "ix_stripe_event_object_created", ["object_id", "created"], unique=False
        )
    op.create_table(
        "customer_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", AutoString(length=32), nullable=False),
        sa.Column("reference", AutoString(length=255), nullable=False),
        sa.Column("link", AutoString(length=2000), nullable=True),
        sa.Column("amount", AutoString(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", AutoString(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "reference", name="uq_customer_notice_kind_reference"),
    )
    with op.batch_alter_table("customer_notice", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_notice_status_created", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_notice_customer_id"), ["customer_id"], unique=False
        )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stripe_customer_id", AutoString(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_customer_stripe_customer_id", ["stripe_customer_id"])


def downgrade() -> None:
    op.drop_table("customer_notice")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_constraint("uq_customer_stripe_customer_id", type_="unique")
        batch_op.drop_column("stripe_customer_id")
    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_event_object_created")
        batch_op.drop_index("ix_stripe_event_customer_status")
    op.drop_table("stripe_event")
