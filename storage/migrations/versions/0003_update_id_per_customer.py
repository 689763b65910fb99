"""a Telegram update id is unique per customer, not across all answers

Telegram picks the next update id at random after a week without updates, and a new bot
token starts a sequence of its own: a new answer could carry the id of a stored one and be
refused as a redelivery. A redelivery comes from the same chat, so the id is looked up and
kept unique within the customer's answers. That index starts with the customer, so it
replaces the index on the customer alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 21:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_telegram_update_id")
        batch_op.drop_index("ix_answer_customer_id")
        batch_op.create_index(
            "ix_answer_customer_update", ["customer_id", "telegram_update_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_customer_update")
        batch_op.create_index("ix_answer_customer_id", ["customer_id"], unique=False)
        batch_op.create_index("ix_answer_telegram_update_id", ["telegram_update_id"], unique=True)
