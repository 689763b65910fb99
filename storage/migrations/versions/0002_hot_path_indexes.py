"""indexes for the answer path and the delivery tick

- answers by Telegram update id: a redelivered update is recognised without scanning
  every answer (the answer path looks it up on every message);
- invitations by survey, status and send time, replacing the index on the survey alone:
  the reminder query of every delivery tick scanned all of a survey's invitations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.create_index("ix_answer_telegram_update_id", ["telegram_update_id"], unique=True)
    with op.batch_alter_table("survey_invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_invitation_survey_key")
        batch_op.create_index(
            "ix_invitation_survey_status_sent", ["survey_key", "status", "sent_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_invitation_survey_status_sent")
        batch_op.create_index("ix_survey_invitation_survey_key", ["survey_key"], unique=False)
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_telegram_update_id")
