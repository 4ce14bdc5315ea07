"""Submissions note what their reader left out on purpose (commit 4259aae): submission.notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine.reflection import Inspector

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def applied(inspector: Inspector) -> bool:
    return "notes" in {c["name"] for c in inspector.get_columns("submission")}


def upgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.drop_column("notes")
