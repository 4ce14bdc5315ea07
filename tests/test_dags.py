"""DAG integrity, the decisions the DAGs delegate to midex.orchestration, and real end-to-end runs
of midex_intake and midex_release with `airflow dags test` on a temporary Airflow home."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DEMO, REPO

DAGS = sorted((REPO / "dags").glob("*.py"))
HEAVY = ("pyspark", "great_expectations", "pandas")
EXPECTED_DAGS = {"midex_intake", "midex_release", "midex_reprocess"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


# ---------------------------------------------------------------- integrity


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


def test_each_dag_file_imports_in_under_a_second_and_loads_nothing_heavy() -> None:
    """CPU time of importing each DAG file after Airflow's own SDK (what the dag-processor pays
    per file, every parse; CPU rather than wall time so a busy machine does not flake it); and
    what a DAG file imports from midex at the top must not drag Spark, GX or pandas in."""
    code = (
        "import runpy, sys, time\n"
        "import airflow.sdk\n"
        f"for p in {[str(p) for p in DAGS]!r}:\n"
        "    t = time.process_time(); runpy.run_path(p)\n"
        "    print(p, time.process_time() - t)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "[]"
    costs = {Path(p).name: float(t) for p, t in (line.rsplit(" ", 1) for line in lines[-4:-1])}
    assert set(costs) == {p.name for p in DAGS}
    assert all(t < 1.0 for t in costs.values()), costs


def test_the_dags_decisions_load_no_stage_and_nothing_heavy() -> None:
    """midex.orchestration is imported with every DAG file at every parse: not midex.stages
    (every stage), not Spark, GX or pandas (docs/architecture.md, "The edges")."""
    code = (
        "import sys, midex.orchestration\n"
        "print(sorted(m for m in sys.modules if m == 'midex.stages' or m.startswith("
        f"'midex.stages.') or m.split('.')[0] in {HEAVY!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", proc.stdout


def test_every_dag_imports_with_tags_retries_owner_and_docs(dagbag) -> None:
    assert set(dagbag.dags) == EXPECTED_DAGS
    for dag in dagbag.dags.values():
        assert dag.tags and "midex" in dag.tags, dag.dag_id
        assert dag.doc_md and dag.doc_md.strip().startswith(f"### {dag.dag_id}")
        assert dag.catchup is False and dag.max_active_runs == 1
        assert dag.dagrun_timeout is not None
        for t in dag.tasks:
            assert t.retries >= 2, (dag.dag_id, t.task_id)
            assert t.retry_exponential_backoff, (dag.dag_id, t.task_id)
            assert t.owner == "midex", (dag.dag_id, t.task_id)
            assert t.execution_timeout is not None, (dag.dag_id, t.task_id)


def _jobs_referenced(path: Path) -> list[str]:
    return re.findall(r'spark_submit\(\s*"([a-z_]+)"', path.read_text())


def _job_module(job: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"midex_job_{job}", REPO / "jobs" / f"{job}.py")
    assert spec is not None and spec.loader is not None, job
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the job runs only under __main__
    return module


def test_every_job_a_dag_references_takes_the_arguments_the_dags_pass(capsys) -> None:
    from midex.orchestration import ReleaseRequest, reprocess_args

    # the DAG files and the module their tasks delegate to (midex.orchestration)
    sources = [*DAGS, REPO / "src" / "midex" / "orchestration.py"]
    referenced = {job for path in sources for job in _jobs_referenced(path)}
    assert referenced == {"process_submission", "resolve", "publish", "reprocess"}
    moment = datetime(2026, 1, 2, 18, tzinfo=UTC)
    passed = {  # built as the DAGs build them
        "process_submission": ["--submission", "7"],
        "resolve": [],
        "publish": ReleaseRequest(as_of=moment, embargo_until=moment).job_args(),
        "reprocess": reprocess_args("WB", "GDP", True),
    }
    for job in referenced:
        module = _job_module(job)
        for part in ("Reads:", "Writes:", "Changes:", f"spark-submit jobs/{job}.py"):
            assert part in (module.__doc__ or ""), (job, part)
        assert callable(module.main), job
        if not passed[job]:
            continue  # resolve takes no arguments (and --help would run it)
        # every argument is parsed (values converted) before --help stops the job
        with pytest.raises(SystemExit) as stopped:
            module.main([*passed[job], "--help"])
        assert stopped.value.code == 0, (job, capsys.readouterr().err)
        usage = capsys.readouterr().out
        options = [a for a in passed[job] if a.startswith("--")]
        assert options and all(o in usage for o in options), (job, usage)


def test_intake_maps_one_task_per_submission_and_polls_as_well_as_listens(dagbag) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = dagbag.dags["midex_intake"]
    assert isinstance(dag.get_task("parse"), MappedOperator)
    assert isinstance(dag.get_task("harmonise_validate"), MappedOperator)
    # the catalog is the queue: a time schedule as well as the landing asset
    assert "*/5 * * * *" in str(dag.timetable) and "midex://landing" in str(dag.timetable)
    assert dag.get_task("resolve").trigger_rule == "all_done"


def test_release_is_daily_with_params_and_emits_the_releases_asset(dagbag) -> None:
    dag = dagbag.dags["midex_release"]
    assert "0 2 * * *" in str(dag.timetable)
    assert set(dag.params) == {"as_of", "embargo_until"}
    outlets = dag.get_task("publish").outlets
    assert [a.uri for a in outlets] == ["midex://releases/"]


def test_reprocess_is_manual_with_selection_params(dagbag) -> None:
    dag = dagbag.dags["midex_reprocess"]
    assert dag.timetable.can_be_scheduled is False
    assert set(dag.params) == {"provider", "indicator", "all"}
    assert dag.params["all"] is False


# ---------------------------------------------------------------- decisions in midex.orchestration


def test_reprocess_selection_becomes_job_arguments_or_a_clear_error() -> None:
    from midex.contract.errors import MidexError
    from midex.orchestration import reprocess_args

    assert reprocess_args("MX_INEGI", None, False) == ["--provider", "MX_INEGI"]
    assert reprocess_args(None, "REMIT_IN", True) == ["--indicator", "REMIT_IN", "--all"]
    with pytest.raises(MidexError, match="provider, indicator, or all=true"):
        reprocess_args(None, "", False)


def test_release_request_from_params() -> None:
    from midex.contract.errors import MidexError
    from midex.orchestration import ReleaseRequest

    scheduled = datetime(2026, 3, 1, 2, tzinfo=UTC)
    assert ReleaseRequest.from_params(None, None, scheduled).job_args() == [
        "--as-of",
        "2026-03-01T02:00:00+00:00",
    ]
    manual = ReleaseRequest.from_params("2026-01-31T00:00:00+00:00", "2026-02-15T09:00:00+00:00")
    assert manual.job_args() == [
        "--as-of",
        "2026-01-31T00:00:00+00:00",
        "--embargo-until",
        "2026-02-15T09:00:00+00:00",
    ]
    assert ReleaseRequest.from_params("", None).job_args() == []
    with pytest.raises(MidexError, match=r"as_of='31/01/2026' is not an ISO timestamp"):
        ReleaseRequest.from_params("31/01/2026", None)


def test_scheduled_runs_are_told_from_manual_ones_whatever_the_enum() -> None:
    from airflow.sdk.api.datamodels._generated import DagRunType

    from midex.orchestration import is_scheduled

    assert is_scheduled(DagRunType.SCHEDULED) and is_scheduled(DagRunType.BACKFILL)
    assert not is_scheduled(DagRunType.MANUAL) and not is_scheduled(DagRunType.ASSET_TRIGGERED)
    assert is_scheduled("scheduled") and not is_scheduled("manual")


def test_needs_spark_only_until_a_submission_is_decided() -> None:
    from midex.orchestration import needs_spark

    assert [needs_spark(s) for s in ("received", "parsed", "harmonised", "failed")] == [True] * 4
    assert not needs_spark("accepted") and not needs_spark("rejected")


def test_release_is_due_only_when_something_changed_since_the_last_one(ctx) -> None:
    from midex.contract.clock import utcnow
    from midex.orchestration import release_due
    from midex.stages import submit
    from midex.storage.catalog import Release, SubmissionStatus

    assert release_due(ctx) is False  # nothing accepted: nothing to publish
    ctx.catalog.add_provider("WB", "World Bank", "agency", [])
    sub = submit(ctx, DEMO / "wb_kmd_remittances_gdp_2018_2022.csv", "WB")
    ctx.catalog.update_submission(sub.id, status=SubmissionStatus.accepted, resolved_at=utcnow())
    assert release_due(ctx) is True  # accepted data, no release yet
    # a scheduled run from before the acceptance (the first unpause) has nothing to publish
    assert release_due(ctx, as_of=utcnow() - timedelta(days=1)) is False
    # released after the acceptance (and every stage run of the submission so far)
    ctx.catalog.add_release(Release(number=1, created_at=utcnow(), path="x", manifest_sha256="0"))
    assert release_due(ctx) is False  # released since
    run = ctx.catalog.start_stage(sub.id, "harmonise")  # a reprocess after the release
    ctx.catalog.finish_stage(run, True)
    [latest] = [r for r in ctx.catalog.stage_runs(sub.id) if r.id == run]
    assert latest.finished_at > ctx.catalog.release(1).created_at
    assert release_due(ctx) is True


# ---------------------------------------------------------------- end to end


def _airflow_env(tmp_path: Path) -> dict[str, str]:
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
    return env


@pytest.mark.airflow
@pytest.mark.slow
def test_intake_then_release_dags_run_end_to_end(tmp_path: Path) -> None:
    """`airflow dags test` on a temporary Airflow home: pending submissions go through the
    spark-submit jobs into observations; then a manual release with params is published and
    the `midex://releases` asset event carries its number."""
    bin_dir = Path(sys.executable).parent
    env = _airflow_env(tmp_path)

    def midex(*args: str) -> str:
        proc = subprocess.run(
            [str(bin_dir / "midex"), *args], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def airflow(*args: str) -> float:
        # own process group, killed whole on timeout: no spark-submit outlives the test
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(bin_dir / "airflow"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=1800)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 0, out[-5000:]
        return time.perf_counter() - started

    midex("provider", "add", "WB", "--name", "World Bank", "--kind", "agency")
    midex("provider", "add", "PH", "--name", "PSA", "--kind", "national", "--areas", "PHL")
    midex("submit", str(DEMO / "wb_kmd_remittances_gdp_2018_2022.csv"), "--provider", "WB")
    midex("submit", str(DEMO / "ph_psa_2023_draft_with_errors.csv"), "--provider", "PH")

    airflow("db", "migrate")
    intake = airflow("dags", "test", "midex_intake")

    statuses = {s["id"]: s for s in json.loads(midex("status", "--json").strip().splitlines()[-1])}
    assert statuses[1]["status"] == "accepted" and statuses[1]["rows_harmonised"] == 60
    assert statuses[1]["resolved_at"] is not None
    # the draft is rejected (misspelt country, bad period, negative population, …) and does
    # not block the good file
    assert statuses[2]["status"] == "rejected" and statuses[2]["errors"] >= 3
    assert (tmp_path / "midex" / "lake" / "resolved" / "observations").is_dir()

    # as of a moment after the intake: everything accepted so far, recorded in the manifest
    as_of = datetime.now(UTC).replace(microsecond=0).isoformat()
    conf = json.dumps({"as_of": as_of})
    release = airflow("dags", "test", "midex_release", "--conf", conf)
    print(f"\nairflow dags test: midex_intake {intake:.1f} s, midex_release {release:.1f} s")

    manifest = json.loads(
        (tmp_path / "midex" / "lake" / "published" / "1" / "manifest.json").read_text()
    )
    assert manifest["release"] == 1
    assert manifest["as_of"].startswith(as_of[:19])
    # the accepted WB file only (the PSA draft was rejected), described as publish writes it
    [source] = manifest["source_submissions"]
    assert set(source) == {"id", "provider", "file", "sha256", "accepted_at", "mapping_version"}
    landed = DEMO / "wb_kmd_remittances_gdp_2018_2022.csv"
    assert (source["id"], source["provider"], source["file"]) == (1, "WB", landed.name)
    assert source["sha256"] == hashlib.sha256(landed.read_bytes()).hexdigest()
    assert source["sha256"] == statuses[1]["sha256"]
    assert source["accepted_at"] is not None and source["mapping_version"]

    db = sqlite3.connect(tmp_path / "airflow" / "airflow.db")
    runs = dict(db.execute("select dag_id, state from dag_run").fetchall())
    assert runs == {"midex_intake": "success", "midex_release": "success"}
    events = db.execute(
        "select e.extra from asset_event e join asset a on a.id = e.asset_id "
        "where a.uri = 'midex://releases/'"
    ).fetchall()
    assert [json.loads(extra)["release"] for (extra,) in events] == [1]
