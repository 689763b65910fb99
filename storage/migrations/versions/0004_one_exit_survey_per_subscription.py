"""one exit survey per cancelled subscription

A cancellation can be reported several times with different event ids (a retry by the
billing system, two clicks). The invitation now records the subscription's reference and a
unique index keeps one invitation per customer, survey and subscription; invitations not
about a subscription keep NULL, which never collides.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_invitation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "subscription_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
            )
        )
        batch_op.create_index(
            "uq_invitation_customer_survey_subscription",
            ["customer_id", "survey_key", "subscription_ref"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_invitation", schema=None) as batch_op:
        batch_op.drop_index("uq_invitation_customer_survey_subscription")
        batch_op.drop_column("subscription_ref")
