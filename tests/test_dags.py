"""DAG integrity, and a real end-to-end run of midex_intake with `airflow dags test`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO, REPO

DAGS = sorted((REPO / "dags").glob("*.py"))
HEAVY = ("pyspark", "great_expectations", "pandas")


def test_dag_files_import_nothing_heavy_at_module_top() -> None:
    assert DAGS
    for path in DAGS:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not [n for n in names if n.split(".")[0] in HEAVY], (path.name, names)


def test_every_dag_imports_with_tags_retries_owner_and_docs() -> None:
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(REPO / "dags"))
    elapsed = time.perf_counter() - started
    assert bag.import_errors == {}
    assert "midex_intake" in bag.dags
    for dag in bag.dags.values():
        assert dag.tags and "midex" in dag.tags
        assert dag.doc_md
        for t in dag.tasks:
            assert t.retries >= 2, (dag.dag_id, t.task_id)
            assert t.owner == "midex"
    assert elapsed < 5, f"parsing the DAG folder took {elapsed:.1f} s"


def test_every_job_a_dag_references_exists() -> None:
    for path in DAGS:
        for job in __import__("re").findall(r'spark_submit\(\s*"([a-z_]+)"', path.read_text()):
            assert (REPO / "jobs" / f"{job}.py").exists(), (path.name, job)


@pytest.mark.airflow
@pytest.mark.slow
def test_intake_dag_runs_end_to_end(tmp_path: Path) -> None:
    """`airflow dags test` on a temporary Airflow home: pending submissions are processed through
    spark-submit jobs and resolved into observations."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        MIDEX_HOME=str(tmp_path / "midex"),
        MIDEX_SPARK_MASTER="local[1]",
        MIDEX_SPARK_SHUFFLE_PARTITIONS="2",
    )
    for var in ("MIDEX_LAKE", "MIDEX_LANDING", "MIDEX_CATALOG_URL"):
        env.pop(var, None)

    def midex(*args: str) -> str:
        proc = subprocess.run(
            [str(bin_dir / "midex"), *args], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    midex("provider", "add", "WB", "--name", "World Bank", "--kind", "agency")
    midex("provider", "add", "PH", "--name", "PSA", "--kind", "national", "--areas", "PHL")
    midex("submit", str(DEMO / "wb_kmd_remittances_gdp_2018_2022.csv"), "--provider", "WB")
    midex("submit", str(DEMO / "ph_psa_2023_draft_with_errors.csv"), "--provider", "PH")

    migrate = subprocess.run(
        [str(bin_dir / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    run = subprocess.run(
        [str(bin_dir / "airflow"), "dags", "test", "midex_intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]

    import json

    statuses = {s["id"]: s for s in json.loads(midex("status", "--json").strip().splitlines()[-1])}
    assert statuses[1]["status"] == "accepted" and statuses[1]["rows_harmonised"] == 60
    assert statuses[1]["resolved_at"] is not None
    assert statuses[2]["status"] == "rejected" and statuses[2]["errors"] == 3
    assert (tmp_path / "midex" / "lake" / "resolved" / "observations").is_dir()
