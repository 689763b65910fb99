"""slack_alert: each finished invitation's alert, claimed before posting and where it went

Alerts were posted from the Telegram handler with no record: a Skip lost them, an expired
half-answered survey had none, and a relabel could not find the message to update. The
sweep finds recently finished invitations through ix_invitation_status_updated.
Invitations that finished before this revision were alerted (or not) by the old code: they
are recorded as `none`, so the first sweep does not alert them again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_alert",
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("message_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["invitation_id"], ["survey_invitation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("invitation_id"),
    )
    with op.batch_alter_table("slack_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_alert_status"), ["status"], unique=False)
    with op.batch_alter_table("survey_invitation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invitation_status_updated", ["status", "updated_at"], unique=False
        )
    op.execute(
        "INSERT INTO slack_alert (invitation_id, status, attempts, created_at, updated_at) "
        "SELECT id, 'none', 0, updated_at, updated_at FROM survey_invitation "
        "WHERE status IN ('completed', 'expired')"
    )


def downgrade() -> None:
    with op.batch_alter_table("survey_invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_invitation_status_updated")
    with op.batch_alter_table("slack_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_alert_status"))
    op.drop_table("slack_alert")
