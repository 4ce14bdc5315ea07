"""Submission modes, exchange-rate fingerprints, embargoes and API tokens (commit 27e3057):
submission.mode and .rates_version, release.embargo_until, table token.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Before migrations, `Catalog.init()` created missing tables but never added columns: a catalog
made by an older midex and opened by 27e3057's may already have `token` while its submissions
lack `mode`. So this revision creates only what is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine.reflection import Inspector

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)
MODE = sa.Enum("merge", "replace", name="submissionmode")


def _columns(inspector: Inspector, table: str) -> set[str]:
    return {c["name"] for c in inspector.get_columns(table)}


def applied(inspector: Inspector) -> bool:
    return (
        {"mode", "rates_version"} <= _columns(inspector, "submission")
        and "embargo_until" in _columns(inspector, "release")
        and inspector.has_table("token")
    )


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    submission = _columns(inspector, "submission")
    MODE.create(bind, checkfirst=True)  # the PostgreSQL enum type; no-op on SQLite
    with op.batch_alter_table("submission") as batch:
        if "mode" not in submission:
            # every submission before modes existed merged; the server default also gives any
            # older process still inserting during an upgrade what it meant
            batch.add_column(
                sa.Column("mode", MODE, nullable=False, server_default=sa.text("'merge'"))
            )
        if "rates_version" not in submission:
            batch.add_column(sa.Column("rates_version", sa.String(), nullable=True))
    if "embargo_until" not in _columns(inspector, "release"):
        with op.batch_alter_table("release") as batch:
            batch.add_column(sa.Column("embargo_until", MOMENT, nullable=True))
    if not inspector.has_table("token"):
        op.create_table(
            "token",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("token_sha256", sa.String(length=64), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("provider_code", sa.String(), nullable=True),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("created_at", MOMENT, nullable=False),
            sa.Column("revoked_at", MOMENT, nullable=True),
            sa.ForeignKeyConstraint(["provider_code"], ["provider.code"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_token_provider_code", "token", ["provider_code"])
        op.create_index("ix_token_token_sha256", "token", ["token_sha256"], unique=True)


def downgrade() -> None:
    op.drop_table("token")
    with op.batch_alter_table("release") as batch:
        batch.drop_column("embargo_until")
    with op.batch_alter_table("submission") as batch:
        batch.drop_column("rates_version")
        batch.drop_column("mode")
    MODE.drop(op.get_bind(), checkfirst=True)
