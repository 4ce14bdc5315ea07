"""The first released catalog (commit d927a42): providers, submissions, stage runs, releases.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Exactly what that commit's `Catalog.init()` (SQLModel.metadata.create_all) created: the types
are written out here, not taken from today's models, so later model changes never change it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine.reflection import Inspector

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)  # SQLModel's datetime: timestamptz on PostgreSQL


def applied(inspector: Inspector) -> bool:
    """A catalog made before migrations existed has this revision's tables."""
    return {"provider", "submission", "stagerun", "release"} <= set(inspector.get_table_names())


def upgrade() -> None:
    op.create_table(
        "provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.Enum("national", "agency", name="providerkind"), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_provider_code", "provider", ["code"], unique=True)
    op.create_table(
        "release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("as_of", MOMENT, nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("manifest_sha256", sa.String(), nullable=False),
        sa.Column("tables", sa.JSON(), nullable=False),
        sa.Column("submission_ids", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    status = sa.Enum(
        "received", "parsed", "harmonised", "accepted", "rejected", "failed",
        name="submissionstatus",
    )  # fmt: skip
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_code", sa.String(), nullable=False),
        sa.Column("file_name", sa.String(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("landing_uri", sa.String(), nullable=False),
        sa.Column("received_at", MOMENT, nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("parsed_at", MOMENT, nullable=True),
        sa.Column("harmonised_at", MOMENT, nullable=True),
        sa.Column("validated_at", MOMENT, nullable=True),
        sa.Column("accepted_at", MOMENT, nullable=True),
        sa.Column("resolved_at", MOMENT, nullable=True),
        sa.Column("rows_raw", sa.Integer(), nullable=True),
        sa.Column("rows_harmonised", sa.Integer(), nullable=True),
        sa.Column("rows_quarantined", sa.Integer(), nullable=True),
        sa.Column("errors", sa.Integer(), nullable=True),
        sa.Column("warnings", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("mapping_version", sa.String(), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["provider_code"], ["provider.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_submission_provider_code", "submission", ["provider_code"])
    op.create_index("ix_submission_sha256", "submission", ["sha256"])
    op.create_index("ix_submission_status", "submission", ["status"])
    op.create_table(
        "stagerun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("message", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stagerun_submission_id", "stagerun", ["submission_id"])


def downgrade() -> None:
    op.drop_table("stagerun")
    op.drop_table("submission")
    op.drop_table("release")
    op.drop_table("provider")
    bind = op.get_bind()
    sa.Enum(name="submissionstatus").drop(
        bind, checkfirst=True
    )  # PostgreSQL types; no-op on SQLite
    sa.Enum(name="providerkind").drop(bind, checkfirst=True)
