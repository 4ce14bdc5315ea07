"""Shared fixtures: one Spark session per test run, an isolated MIDEX_HOME per test, PostgreSQL."""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

# Airflow reads its configuration when first imported: keep it out of ~/airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="midex-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
DEMO = REPO / "src" / "midex" / "demo"
PG_ADMIN_URL = os.environ.get(
    "MIDEX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def spark():
    """The one Spark session of the run (local, loopback only, few shuffle partitions)."""
    from midex.contract.settings import Settings
    from midex.runtime.spark import build_session

    session = build_session(
        Settings(spark_master="local[2]", spark_shuffle_partitions=2), app_name="midex-tests"
    )
    yield session
    session.stop()


@pytest.fixture
def midex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated embedded deployment: MIDEX_HOME under tmp_path, SQLite catalog."""
    home = tmp_path / "midex"
    monkeypatch.setenv("MIDEX_HOME", str(home))
    for var in ("MIDEX_LAKE", "MIDEX_LANDING", "MIDEX_CATALOG_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def ctx(midex_home: Path):
    from midex.stages import Context, init

    context = Context.open()
    init(context)
    return context


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):  # the last line of output with --json
        import json

        return json.loads(self.out.strip().splitlines()[-1])


def run_cli(*args: str) -> CliResult:
    """Run the `midex` command in this process (so it reuses the test run's Spark session)."""
    from midex.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the resources its fixtures need, so `-m spark` / `-m postgres` and
    their negations select by what a test really uses (catalog_url marks its PostgreSQL case)."""
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        if "spark" in needs:
            item.add_marker(pytest.mark.spark)
        if "postgres_url" in needs:
            item.add_marker(pytest.mark.postgres)


def _pg_available() -> str | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    import sqlalchemy as sa

    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    name = f"midex_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from midex.storage.catalog import engine_for

    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A catalog URL on each engine: every test taking it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
