"""The catalog's schema migrations: Alembic revisions in versions/, one per schema change since
the first released catalog, so `Catalog.init()` upgrades any catalog in place, with its data.

Configured here, not by an alembic.ini: the script folder is this package's, the connection is
the catalog's. A catalog made before migrations existed has no `alembic_version` table; it is
recognised by its tables and columns (each early revision's `applied`), stamped at the last
revision it has, then upgraded like any other.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from midex.contract.errors import MidexError

log = logging.getLogger("midex.storage.catalog")
SCRIPTS = Path(__file__).parent
# every table the catalog has ever had; a database with none of them is new
CATALOG_TABLES = {"provider", "submission", "stagerun", "release", "token", "claim"}


def config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for the catalog on `connection` (or at `url`, for a developer's
    `alembic.command.revision(config(url=...), message, autogenerate=True)`)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The revision this midex's models are at."""
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def state(revision: str | None) -> str:
    """For a catalog at `revision`: "ok" at head, otherwise what is wrong and what to do."""
    target = head()
    if revision == target:
        return "ok"
    if revision is None or revision in known():
        return (
            f"schema behind: at revision {revision or 'none'}, this midex needs {target}; "
            "run `midex init` (or restart the service) to upgrade it"
        )
    return (
        f"schema ahead: at revision {revision}, unknown to this midex ({target}); "
        "a newer midex upgraded it: run that version"
    )


def known() -> set[str]:
    return {script.revision for script in scripts().walk_revisions()}


def current(connection: sa.Connection) -> str | None:
    """The catalog's revision; None when it has no alembic_version (new, or made before
    migrations existed)."""
    return MigrationContext.configure(connection).get_current_revision()


def detect(connection: sa.Connection) -> str | None:
    """The revision an unversioned catalog is at: the last one, oldest first, whose changes it
    all has (None: a new, empty database). Later revisions create what is still missing."""
    inspector = sa.inspect(connection)
    found = None
    for script in reversed(list(scripts().walk_revisions())):
        applied = getattr(script.module, "applied", None)
        if applied is None or not applied(inspector):
            break
        found = script.revision
    present = CATALOG_TABLES & set(inspector.get_table_names())
    if found is None and present:
        raise MidexError(
            f"the catalog has some of midex's tables ({', '.join(sorted(present))}) but not "
            "those of its first release (provider, submission, stagerun, release); it was not "
            "made by midex or is damaged: point MIDEX_CATALOG_URL at a midex catalog or an "
            "empty database"
        )
    return found


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Bring the catalog to head in one transaction (all or nothing); a new database gets
    every revision in order. Returns (revision before, revision after). The caller holds
    the catalog's schema lock."""
    target = head()
    with engine.connect() as conn:
        before = current(conn)
        # tables dropped (SQLModel.metadata.drop_all) but not alembic_version: the database is
        # new again, whatever the version says
        emptied = before is not None and not CATALOG_TABLES & set(
            sa.inspect(conn).get_table_names()
        )
        conn.rollback()  # reading began a transaction; the upgrade is one of its own
        if before == target and not emptied:
            return before, target
        if before is not None and not emptied and before not in known():
            raise MidexError(f"cannot upgrade the catalog: {state(before)}")
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Python's sqlite3 opens a transaction only before DML, so DDL would commit one
            # statement at a time: take over and BEGIN ourselves, making the upgrade all or
            # nothing as on PostgreSQL. Batch operations copy tables, so foreign keys are
            # checked once, at the end (the pragma is ignored inside a transaction).
            driver = conn.connection.driver_connection
            assert driver is not None
            isolation = driver.isolation_level
            driver.isolation_level = None
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                cfg = config(conn)
                if emptied:
                    command.stamp(cfg, "base", purge=True)
                    before = None
                elif before is None:
                    before = detect(conn)
                    if before is not None:
                        command.stamp(cfg, before)
                try:
                    command.upgrade(cfg, "head")
                except (CommandError, sa.exc.SQLAlchemyError) as exc:
                    reason = getattr(exc, "orig", None) or exc
                    raise MidexError(
                        f"upgrading the catalog's schema from revision {before or 'none'} to "
                        f"{target} failed, so nothing was changed: {reason}"
                    ) from exc
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MidexError(
                            f"upgrading the catalog left rows pointing at missing rows: {broken[:5]}"
                        )
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
                assert driver is not None  # set above when sqlite
                driver.isolation_level = isolation
    log.info("catalog schema brought to revision %s from %s", target, before or "nothing")
    return before, target
