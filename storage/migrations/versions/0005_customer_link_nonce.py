"""a deep link names the customer by id and a per-customer random nonce

SQLite reuses the rowid of a deleted row: after /forget, the next customer could get the
erased customer's id, and the erased customer's old link would bind a chat to them. Every
link now carries the customer's nonce too, and a new customer gets a new one. Existing
customers get theirs here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:45:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_nonce", sa.String(length=16), nullable=True))
    connection = op.get_bind()
    customer = sa.table("customer", sa.column("id", sa.Integer), sa.column("link_nonce"))
    ids = connection.execute(sa.select(customer.c.id)).scalars().all()
    if ids:
        connection.execute(
            customer.update()
            .where(customer.c.id == sa.bindparam("customer_id"))
            .values(link_nonce=sa.bindparam("nonce")),
            [{"customer_id": i, "nonce": secrets.token_urlsafe(8)} for i in ids],
        )


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("link_nonce")
