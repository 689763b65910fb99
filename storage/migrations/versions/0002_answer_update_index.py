"""index answers by Telegram update id

A redelivered update must be recognised without scanning every answer: the answer path
looks its update id up on every message.

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


def downgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_telegram_update_id")
