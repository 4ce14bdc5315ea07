"""Claims on submissions, so two processes never process one twice (commit 56a7854): table claim.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Like 0003, it creates the table only if a pre-migration `Catalog.init()` has not already.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine.reflection import Inspector

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def applied(inspector: Inspector) -> bool:
    return inspector.has_table("claim")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("claim"):
        return
    op.create_table(
        "claim",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )


def downgrade() -> None:
    op.drop_table("claim")
