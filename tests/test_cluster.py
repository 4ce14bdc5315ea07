"""The Spark jobs on a real standalone cluster, and how spark-submit is called.

The slow test starts a Spark standalone master and two workers on 127.0.0.1 from the pyspark
installation, runs the harmonise, resolve and publish jobs through spark-submit against it on the
demo submissions, and checks the published tables equal an in-process local-mode run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from midex.contract.settings import Settings
from tests.conftest import DEMO


def _settings(home: Path, master: str = "local[1]") -> Settings:
    return Settings(home=home, spark_master=master, spark_shuffle_partitions=2)


# ---------------------------------------------------------------- the spark-submit command line


def test_local_master_runs_without_shipping_the_package(tmp_path: Path) -> None:
    from midex.runtime.submit_job import spark_submit_command

    command = spark_submit_command("resolve", [], _settings(tmp_path))
    assert command[command.index("--master") + 1] == "local[1]"
    assert command[command.index("--driver-memory") + 1] == "4g"
    assert "--py-files" not in command
    assert command[-1].endswith("jobs/resolve.py")


def test_cluster_master_ships_the_package_as_a_content_addressed_zip(tmp_path: Path) -> None:
    from midex.runtime.submit_job import spark_submit_command

    settings = _settings(tmp_path, "spark://127.0.0.1:7077")
    command = spark_submit_command("process_submission", ["--submission", "3"], settings)
    assert command[command.index("--master") + 1] == "spark://127.0.0.1:7077"
    shipped = Path(command[command.index("--py-files") + 1])
    assert shipped.parent == tmp_path / "dist"
    names = zipfile.ZipFile(shipped).namelist()
    assert "midex/stages/runner.py" in names and "midex/transforms/harmonise.py" in names
    assert not [n for n in names if "__pycache__" in n]
    assert command[-3:] == [str(settings.jobs / "process_submission.py"), "--submission", "3"]
    # the same package content gives the same file: built once, reused by every task
    again = spark_submit_command("resolve", [], settings)
    assert again[again.index("--py-files") + 1] == str(shipped)
    assert len(list((tmp_path / "dist").iterdir())) == 1


def test_unknown_job_is_a_clear_error(tmp_path: Path) -> None:
    from midex.contract.errors import MidexError
    from midex.runtime.submit_job import spark_submit_command

    with pytest.raises(MidexError, match=r"job .*jobs/nope\.py does not exist"):
        spark_submit_command("nope", [], _settings(tmp_path))


def test_job_gets_the_deployment_settings_spelled_out(tmp_path: Path) -> None:
    """The driver may import midex from the shipped zip, where the repository-relative defaults
    of schemas/ and expectations/ do not exist: the job is told every path explicitly."""
    from midex.runtime.submit_job import job_env

    settings = _settings(tmp_path, "spark://127.0.0.1:7077")
    env = job_env(settings)
    assert env["MIDEX_HOME"] == str(tmp_path)
    assert env["MIDEX_CATALOG_URL"] == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert env["MIDEX_SPARK_MASTER"] == "spark://127.0.0.1:7077"
    assert env["MIDEX_SPARK_DRIVER_MEMORY"] == "4g"
    assert Path(env["MIDEX_SCHEMAS"], "observation.yaml").is_file()
    assert Path(env["MIDEX_EXPECTATIONS"], "harmonised.yaml").is_file()
    assert Path(env["MIDEX_JOBS"], "publish.py").is_file()


def test_failed_job_raises_with_its_last_lines(tmp_path: Path) -> None:
    """A real spark-submit whose job exits non-zero (bad usage; no Spark session is started)."""
    from midex.contract.errors import MidexError
    from midex.runtime.submit_job import spark_submit

    with pytest.raises(MidexError, match=r"job reprocess failed \(exit 2\).*--provider"):
        spark_submit("reprocess", [], _settings(tmp_path))


# ---------------------------------------------------------------- a real standalone cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    master_url: str
    ui_url: str
    env: dict[str, str]
    logs: Path

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=5) as response:
            return json.load(response)


def _daemon(env: dict[str, str], action: str, cls: str, instance: int, *args: str) -> None:
    sbin = Path(env["SPARK_HOME"]) / "sbin" / "spark-daemon.sh"
    proc = subprocess.run(
        ["bash", str(sbin), action, cls, str(instance), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Spark standalone master and two 1-core/1 GB workers on loopback; always stopped."""
    import pyspark

    root = tmp_path_factory.mktemp("spark-cluster")
    (root / "conf").mkdir()
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(Path(pyspark.__file__).parent),
        SPARK_CONF_DIR=str(root / "conf"),  # empty: nothing from the machine leaks in
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(root / "logs"),
        SPARK_PID_DIR=str(root / "pids"),
        SPARK_WORKER_DIR=str(root / "work"),
        SPARK_IDENT_STRING=f"midex-test-{os.getpid()}",
        # the REST submission server has a fixed port (6066) and is not needed
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
    )
    port, ui = _free_port(), _free_port()
    started = time.perf_counter()
    daemons: list[tuple[str, int]] = []
    try:
        daemons.append((MASTER, 1))
        _daemon(
            env, "start", MASTER, 1, "--host", "127.0.0.1", "--port", str(port),
            "--webui-port", str(ui),
        )  # fmt: skip
        master = f"spark://127.0.0.1:{port}"
        for n in (1, 2):
            daemons.append((WORKER, n))
            _daemon(
                env, "start", WORKER, n, master, "--host", "127.0.0.1", "--cores", "1",
                "--memory", "1g", "--webui-port", str(_free_port()),
            )  # fmt: skip
        c = Cluster(master, f"http://127.0.0.1:{ui}", env, root / "logs")
        deadline = time.monotonic() + 90
        while True:
            try:
                if c.state().get("aliveworkers") == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in c.logs.glob("*.out"))
                pytest.fail(f"the cluster did not come up in 90 s:\n{logs}")
            time.sleep(0.5)
        print(f"\ncluster up in {time.perf_counter() - started:.1f} s")
        yield c
    finally:
        for cls, n in reversed(daemons):
            subprocess.run(
                ["bash", str(Path(env["SPARK_HOME"]) / "sbin" / "spark-daemon.sh"), "stop", cls,
                 str(n)],
                env=env, capture_output=True, timeout=60,
            )  # fmt: skip
        # whatever spark-daemon.sh could not stop is killed: no daemon outlives the test (only
        # a process that still is one of this cluster's daemons, never a reused pid)
        for pid_file in (root / "pids").glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                if b"org.apache.spark.deploy" in cmdline and str(port).encode() in cmdline:
                    os.kill(pid, signal.SIGKILL)


def _seed_demo(settings: Settings) -> None:
    """The demo providers and submissions, landed in the catalog as `midex demo` does."""
    from midex.demo import PROVIDERS, SUBMISSIONS
    from midex.stages import Context, init, submit

    ctx = Context.open(settings)
    init(ctx)
    for code, name, kind, areas in PROVIDERS:
        ctx.catalog.add_provider(code, name, kind, areas)
    # the first four (three good files and the rejected draft) keep the cluster run short
    for file_name, provider in SUBMISSIONS[:4]:
        submit(ctx, DEMO / file_name, provider)


def _listening_sockets(pids: list[int]) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if any(f"pid={p}," in line for p in pids)]


@pytest.mark.spark
@pytest.mark.slow
def test_jobs_on_a_standalone_cluster_publish_what_local_mode_publishes(
    cluster: Cluster, spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyspark.testing import assertDataFrameEqual

    from midex.runtime.submit_job import spark_submit
    from midex.stages import Context, publish, run
    from midex.storage.catalog import SubmissionStatus

    # nothing the cluster started listens beyond loopback
    pids = [int(p.read_text()) for p in Path(cluster.env["SPARK_PID_DIR"]).glob("*.pid")]
    listening = _listening_sockets(pids)
    assert listening and all("127.0.0.1]:" in line or "127.0.0.1:" in line for line in listening), (
        "\n".join(listening)
    )

    on_cluster = _settings(tmp_path / "cluster", cluster.master_url)
    _seed_demo(on_cluster)
    all_four = [a for i in (1, 2, 3, 4) for a in ("--submission", str(i))]
    started = time.perf_counter()
    for job, args in [("process_submission", all_four), ("resolve", []), ("publish", [])]:
        capsys.readouterr()
        spark_submit(job, args, on_cluster)
        out = capsys.readouterr().out
        # the job really ran on the cluster: the master granted it executors on both workers
        granted = re.findall(r"Granted executor ID (app-[\d-]+)/\d+ on hostPort (\S+)", out)
        assert len({app for app, _ in granted}) == 1, (job, granted)
        assert len({worker for _, worker in granted}) == 2, (job, granted)
    print(f"\nthree jobs on the cluster: {time.perf_counter() - started:.1f} s")
    assert cluster.state()["aliveworkers"] == 2

    local = _settings(tmp_path / "local")
    _seed_demo(local)
    local_ctx = Context.open(local)
    run(local_ctx, spark)
    local_release = publish(local_ctx, spark)

    cluster_ctx = Context.open(on_cluster)
    statuses = [s.status for s in cluster_ctx.catalog.submissions()]
    assert statuses == [SubmissionStatus.accepted] * 3 + [SubmissionStatus.rejected]
    cluster_release = cluster_ctx.catalog.release()
    assert cluster_release.tables == local_release.tables
    assert cluster_release.submission_ids == local_release.submission_ids == [1, 2, 3]

    # the acceptance time is the wall clock of each run; everything else must be identical
    wall_clock = {"ACCEPTED_AT", "LAST_ACCEPTED_AT"}
    for table in local_release.tables:
        expected = spark.read.parquet(f"{local_release.path}/{table}.parquet")
        actual = spark.read.parquet(f"{cluster_release.path}/{table}.parquet")
        assert actual.schema == expected.schema, table
        keep = [c for c in expected.columns if c not in wall_clock]
        assertDataFrameEqual(actual.select(keep), expected.select(keep), checkRowOrder=True)
    assert local_release.tables["observations"] > 0
