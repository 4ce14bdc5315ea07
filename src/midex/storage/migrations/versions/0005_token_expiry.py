"""Tokens may expire: column token.expires_at (null: never).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine.reflection import Inspector

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def applied(inspector: Inspector) -> bool:
    return inspector.has_table("token") and "expires_at" in {
        c["name"] for c in inspector.get_columns("token")
    }


def upgrade() -> None:
    # a token table made by a pre-migration `Catalog.init()` (create_all) may have it already
    if applied(sa.inspect(op.get_bind())):
        return
    with op.batch_alter_table("token") as batch:
        batch.add_column(sa.Column("expires_at", MOMENT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("token") as batch:
        batch.drop_column("expires_at")
