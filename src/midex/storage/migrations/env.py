"""Alembic's environment for the catalog: run by midex.storage.migrations, never from an alembic.ini.

The connection comes in `config.attributes["connection"]` (midex.storage.migrations opens it, holding the
catalog's schema lock); without one (a developer's `command.revision(..., autogenerate=True)`),
an engine is built from the `sqlalchemy.url` option. Offline (SQL script) mode is not supported:
the early revisions look at the catalog before they change it.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import midex.storage.catalog  # noqa: F401  (registers the models in SQLModel.metadata, for autogenerate)
from midex.contract.errors import MidexError
from midex.storage.catalog import engine_for

config = context.config


def render_item(kind: str, obj: Any, _autogen: Any) -> str | Literal[False]:
    """Write SQLModel's column types as plain SQLAlchemy ones in a generated revision: a
    revision must not change when sqlmodel does."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite cannot ALTER most things: batch operations copy the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise MidexError("the catalog's migrations run against a database, not as an SQL script")
shared = config.attributes.get("connection")
if shared is not None:
    run(shared)
else:
    with engine_for(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        run(conn)
