"""Catalog migrations (src/midex/migrations, Alembic) on SQLite and PostgreSQL.

A catalog with each released schema — made as that commit's `Catalog.init()` made it, from the
DDL in tests/data/catalog_history/ (generated once from the old models; no git at test time) —
and filled with providers, submissions, stage runs, tokens and releases is upgraded in place by
today's `Catalog.init()`: every row is still there and usable through today's API, and the
schema is exactly today's models. Also: init on a current catalog changes nothing, two processes
upgrading at once, every revision's downgrade, and /ready while the schema is behind.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from midex.contract.errors import MidexError
from midex.service.tokens import issue_token, token_sha256, verify_token
from midex.storage import migrations
from midex.storage.catalog import (
    Catalog,
    Claim,
    ProviderKind,
    Release,
    Submission,
    SubmissionMode,
    SubmissionStatus,
    Token,
    engine_for,
)
from tests.conftest import PG_ADMIN_URL, _pg_available
from tests.service_support import serve

HISTORY = Path(__file__).parent / "data" / "catalog_history"
MX_TOKEN = "mdx_" + "m" * 43  # a provider's token issued before the upgrade
REVOKED_TOKEN = "mdx_" + "r" * 43
ADMIN_TOKEN = "mdx_" + "a" * 43
MOMENT = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own per test: the session's shared PostgreSQL database
    (conftest's postgres_url) already holds other tests' catalog."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    name = f"midex_migrations_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- building old catalogs ------------------------------------------------------------------


def create_historical(engine: sa.Engine, commit: str) -> None:
    """The tables `commit`'s Catalog.init() created, from its DDL for this database."""
    text = (HISTORY / f"{commit}.{engine.dialect.name}.sql").read_text("utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in body.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def create_later_tables(engine: sa.Engine, *tables: type[SQLModel]) -> None:
    """What a newer midex's init (create_all) did to an older catalog before migrations
    existed: it created the tables missing, never the columns."""
    SQLModel.metadata.create_all(engine, tables=[t.__table__ for t in tables])


def fill(engine: sa.Engine) -> None:
    """Rows as the midex of the catalog's schema wrote them: only the columns its tables have
    (reflected), database-assigned ids (so PostgreSQL's sequences are where real ones are)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables

    def insert(conn: sa.Connection, table: str, row: dict[str, Any]) -> int | None:
        columns = set(t[table].c.keys())
        values = {k: v for k, v in row.items() if k in columns}
        if "id" not in columns:
            conn.execute(t[table].insert().values(values))
            return None
        return conn.execute(t[table].insert().values(values).returning(t[table].c.id)).scalar_one()

    with engine.begin() as conn:
        insert(conn, "provider", dict(code="MX_INEGI", name="INEGI", kind="national", areas=["MEX"], created_at=MOMENT))  # fmt: skip
        insert(conn, "provider", dict(code="WB", name="World Bank", kind="agency", areas=[], created_at=MOMENT))  # fmt: skip
        base = dict(format="template", size_bytes=10, received_at=MOMENT, mode="merge")
        accepted = insert(conn, "submission", dict(
            base, provider_code="MX_INEGI", file_name="mx.csv", sha256="a" * 64,
            landing_uri="/landing/mx.csv", status="accepted", parsed_at=MOMENT,
            accepted_at=MOMENT, rows_raw=12, errors=0, warnings=1, mapping_version="m1",
            validation={"suite": "observations", "warnings": ["one"]}, notes=["aggregates"],
            rates_version="r1",
        ))  # fmt: skip
        insert(conn, "submission", dict(
            base, provider_code="MX_INEGI", file_name="bad.csv", sha256="b" * 64,
            landing_uri="/landing/bad.csv", status="rejected", errors=3, mode="replace",
            error="3 error findings",
        ))  # fmt: skip
        pending = insert(conn, "submission", dict(
            base, provider_code="WB", file_name="wb.csv", sha256="c" * 64,
            landing_uri="/landing/wb.csv", status="parsed",
        ))  # fmt: skip
        for stage, ok in (("parse", True), ("harmonise", True)):
            insert(conn, "stagerun", dict(submission_id=accepted, stage=stage, started_at=MOMENT, finished_at=MOMENT, ok=ok))  # fmt: skip
        insert(conn, "stagerun", dict(submission_id=pending, stage="harmonise", started_at=MOMENT))  # fmt: skip
        for number in (1, 2):
            insert(conn, "release", dict(
                number=number, created_at=MOMENT, as_of=MOMENT, path=f"/lake/published/{number}",
                manifest_sha256=str(number) * 64, tables={"observations": 7 * number},
                submission_ids=[accepted],
                embargo_until=MOMENT + timedelta(days=30) if number == 2 else None,
            ))  # fmt: skip
        if "token" in t:
            for plain, role, provider, revoked in (
                (MX_TOKEN, "provider", "MX_INEGI", None),
                (REVOKED_TOKEN, "consumer", None, MOMENT),
                (ADMIN_TOKEN, "admin", None, None),
            ):
                insert(conn, "token", dict(
                    token_sha256=token_sha256(plain), role=role, provider_code=provider,
                    name=f"{role} token", created_at=MOMENT, revoked_at=revoked,
                ))  # fmt: skip


def snapshot(engine: sa.Engine, columns: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Every row of every catalog table (only `columns`, when given), in key order."""
    meta = sa.MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            if name == "alembic_version" or (columns is not None and name not in columns):
                continue
            chosen = [table.c[c] for c in (columns[name] if columns else table.c.keys())]
            order = list(table.primary_key.columns)
            out[name] = [tuple(r) for r in conn.execute(sa.select(*chosen).order_by(*order))]
    return out


def table_columns(engine: sa.Engine) -> dict[str, list[str]]:
    inspector = sa.inspect(engine)
    return {
        name: [c["name"] for c in inspector.get_columns(name)]
        for name in inspector.get_table_names()
        if name != "alembic_version"
    }


def schema_differences(engine: sa.Engine, metadata: sa.MetaData = SQLModel.metadata) -> list:
    """What Alembic's autogenerate would change to make the database match `metadata`
    (tables, columns, types, nullability, indexes, unique and foreign keys)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


# --- upgrading every released schema --------------------------------------------------------

# name: (commit whose DDL builds the catalog, tables a later init added, revision detected)
HISTORICAL = {
    "first released (d927a42)": ("d927a42", (), "0001"),
    "submission notes (4259aae)": ("4259aae", (), "0002"),
    "modes, embargoes, tokens (27e3057)": ("27e3057", (), "0003"),
    # a d927a42 catalog opened later by 56a7854's midex: token and claim, but no new columns
    "first released, tables added by a later init": ("d927a42", (Token, Claim), "0001"),
    # every catalog deployed so far at today's models: no alembic_version
    "today's tables, unversioned": (None, (), "0005"),
}


@pytest.mark.parametrize("history", list(HISTORICAL))
def test_init_upgrades_every_released_catalog_with_its_data(empty_url: str, history: str) -> None:
    commit, later_tables, revision = HISTORICAL[history]
    engine = engine_for(empty_url)
    if commit is None:
        SQLModel.metadata.create_all(engine)
    else:
        create_historical(engine, commit)
        create_later_tables(engine, *later_tables)
    fill(engine)
    old_columns = table_columns(engine)
    before = snapshot(engine)
    with engine.connect() as conn:
        assert migrations.current(conn) is None
        assert migrations.detect(conn) == revision

    catalog = Catalog(empty_url)
    catalog.init()

    assert catalog.schema_revision() == migrations.head()
    assert schema_differences(engine) == []
    # every row, every old column: the same values
    assert snapshot(engine, old_columns) == before
    # and through today's API
    providers = catalog.providers()
    assert [(p.code, p.kind, p.areas) for p in providers] == [
        ("MX_INEGI", ProviderKind.national, ["MEX"]),
        ("WB", ProviderKind.agency, []),
    ]
    subs = catalog.submissions()
    assert [(s.file_name, s.status) for s in subs] == [
        ("mx.csv", SubmissionStatus.accepted),
        ("bad.csv", SubmissionStatus.rejected),
        ("wb.csv", SubmissionStatus.parsed),
    ]
    had_modes = "mode" in old_columns["submission"]
    assert [s.mode for s in subs] == [
        SubmissionMode.merge,
        SubmissionMode.replace if had_modes else SubmissionMode.merge,  # the only mode before
        SubmissionMode.merge,
    ]
    accepted, _, pending = subs
    assert accepted.validation == {"suite": "observations", "warnings": ["one"]}
    assert accepted.notes == (["aggregates"] if "notes" in old_columns["submission"] else None)
    assert [(r.stage, r.ok) for r in catalog.stage_runs(accepted.id)] == [
        ("parse", True),
        ("harmonise", True),
    ]
    releases = catalog.releases()
    assert [(r.number, r.tables, r.submission_ids) for r in releases] == [
        (1, {"observations": 7}, [accepted.id]),
        (2, {"observations": 14}, [accepted.id]),
    ]
    if "token" in old_columns:
        mx = verify_token(catalog, MX_TOKEN)
        assert mx is not None and (mx.role, mx.provider_code) == ("provider", "MX_INEGI")
        admin = verify_token(catalog, ADMIN_TOKEN)
        assert admin is not None and admin.role == "admin"
        assert verify_token(catalog, REVOKED_TOKEN) is None

    # usable: claim and finish an old pending submission, add new rows of every kind
    owner = "upgrade-test:1:abcd"
    assert catalog.claim([pending.id], owner, lease_s=60) == [pending.id]
    assert len(catalog.close_interrupted_stages([pending.id])) == 1
    catalog.update_submission(pending.id, status=SubmissionStatus.accepted)
    catalog.release_claims(owner)
    new = catalog.add_submission(
        Submission(
            provider_code="WB",
            file_name="new.csv",
            format="template",
            sha256="d" * 64,
            size_bytes=1,
            landing_uri="/landing/new.csv",
        )
    )
    assert new.id == max(s.id for s in subs) + 1  # the id sequence carried on
    catalog.add_provider("PH_PSA", "PSA", ProviderKind.national, ["PHL"])
    plain, _ = issue_token(catalog, "provider", "MX_INEGI", "MX_INEGI", rotate=True)
    assert verify_token(catalog, plain) is not None and verify_token(catalog, MX_TOKEN) is None
    assert catalog.next_release_number() == 3
    catalog.add_release(Release(number=3, path="/lake/published/3", manifest_sha256="3" * 64))
    assert catalog.release().number == 3
    assert catalog.submission(pending.id).status == SubmissionStatus.accepted


@pytest.mark.parametrize(
    ("commit", "revision"), [("d927a42", "0001"), ("4259aae", "0002"), ("27e3057", "0003")]
)
def test_each_revision_builds_its_commits_schema(
    empty_url: str, tmp_path: Path, commit: str, revision: str
) -> None:
    """Upgrading a new database to a revision gives exactly the schema that commit's midex
    made (0001: the first released catalog), compared with autogenerate on both sides."""
    if empty_url.startswith("sqlite"):
        reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
        cleanup = None
    else:  # a second database beside the test's one
        name = f"{empty_url.rsplit('/', 1)[1]}_ref"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        reference_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        cleanup = (admin, name)
    try:
        reference = engine_for(reference_url)
        create_historical(reference, commit)
        old = sa.MetaData()
        old.reflect(reference)

        engine = engine_for(empty_url)
        with engine.begin() as conn:
            command.upgrade(migrations.config(conn), revision)
        assert schema_differences(engine, old) == []
    finally:
        engine_for(reference_url).dispose()
        if cleanup:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_a_new_database_gets_todays_schema_through_the_migrations(empty_url: str) -> None:
    catalog = Catalog(empty_url)
    catalog.init()
    assert catalog.schema_revision() == migrations.head()
    assert schema_differences(catalog.engine) == []  # the same as create_all's


def test_init_on_a_current_catalog_changes_nothing(empty_url: str) -> None:
    catalog = Catalog(empty_url)
    catalog.init()
    fill(catalog.engine)
    before = (snapshot(catalog.engine), table_columns(catalog.engine))
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(catalog.engine, "before_cursor_execute", record)
    try:
        Catalog(empty_url).init()
        catalog.init()
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", record)
    writes = [s for s in statements if s.split()[0].upper() not in ("SELECT", "PRAGMA")]
    assert writes == []
    assert (snapshot(catalog.engine), table_columns(catalog.engine)) == before
    assert catalog.schema_revision() == migrations.head()


@pytest.mark.fault
@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_a_failed_upgrade_leaves_the_catalog_as_it_was(empty_url: str, versioned: bool) -> None:
    """Revision 0003 fails after 0002 and part of itself ran (an index's name is taken):
    nothing of the upgrade stays (one transaction, on SQLite too), and once the clash is gone
    the next init upgrades the untouched catalog."""
    engine = engine_for(empty_url)
    create_historical(engine, "d927a42")
    fill(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_token_provider_code ON provider (name)")
        if versioned:
            command.stamp(migrations.config(conn), "0001")
    old_columns = table_columns(engine)
    before = snapshot(engine)
    with pytest.raises(MidexError, match="from revision 0001 to .* failed, so nothing was"):
        Catalog(empty_url).init()
    assert table_columns(engine) == old_columns  # no notes, mode, embargo, token or claim
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert migrations.current(conn) == ("0001" if versioned else None)
        assert migrations.detect(conn) == "0001"

    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_token_provider_code")
    Catalog(empty_url).init()
    assert schema_differences(engine) == [] and snapshot(engine, old_columns) == before


def _init(url: str) -> None:
    Catalog(url).init()


@pytest.mark.fault
def test_two_processes_upgrading_at_once(empty_url: str) -> None:
    """Two services starting together on an old catalog: one upgrades, the other waits for the
    schema lock and finds the work done."""
    engine = engine_for(empty_url)
    create_historical(engine, "d927a42")
    fill(engine)
    old_columns = table_columns(engine)
    before = snapshot(engine, old_columns)
    ctx = multiprocessing.get_context("spawn")
    starters = [ctx.Process(target=_init, args=(empty_url,)) for _ in range(2)]
    for p in starters:
        p.start()
    for p in starters:
        p.join(120)
    assert [p.exitcode for p in starters] == [0, 0]
    assert Catalog(empty_url).schema_revision() == migrations.head()
    assert schema_differences(engine) == []
    assert snapshot(engine, old_columns) == before


def test_every_revision_downgrades_and_upgrades_again(empty_url: str) -> None:
    catalog = Catalog(empty_url)
    catalog.init()
    with catalog.engine.begin() as conn:
        command.downgrade(migrations.config(conn), "base")
    assert not migrations.CATALOG_TABLES & set(sa.inspect(catalog.engine).get_table_names())
    catalog.init()
    assert (
        catalog.schema_revision() == migrations.head() and schema_differences(catalog.engine) == []
    )


def test_a_database_with_some_other_tables_is_refused(empty_url: str) -> None:
    engine = engine_for(empty_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE submission (id INTEGER PRIMARY KEY)")
    with pytest.raises(MidexError, match="not made by midex or is damaged"):
        Catalog(empty_url).init()


def test_a_catalog_upgraded_by_a_newer_midex_is_left_alone(empty_url: str) -> None:
    catalog = Catalog(empty_url)
    catalog.init()
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    assert catalog.schema_revision() != migrations.head()
    with pytest.raises(MidexError, match="a newer midex upgraded it"):
        catalog.init()


# --- /ready ---------------------------------------------------------------------------------


def test_ready_says_not_ready_while_the_schema_is_behind(empty_url: str, tmp_path: Path) -> None:
    from midex.contract.settings import Settings
    from midex.service import create_app
    from midex.service.processing import Processor

    settings = Settings(home=tmp_path / "home", catalog_url=empty_url)
    app = create_app(settings, processor=Processor())  # create_app runs init: schema at head
    catalog: Catalog = app.state.ctx.catalog
    with serve(app) as url:
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 200 and ready.json()["catalog"] == "ok"

        with catalog.engine.begin() as conn:  # as if the catalog were restored from an old backup
            command.stamp(migrations.config(conn), "0003")
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not ready"
        assert body["catalog"].startswith(
            f"schema behind: at revision 0003, this midex needs {migrations.head()}"
        )
        assert "midex init" in body["catalog"]

        catalog.init()  # what `midex init` or a restart does
        assert httpx.get(f"{url}/ready").status_code == 200

        with catalog.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503 and ready.json()["catalog"].startswith("schema ahead")
