"""Run a job of jobs/ through spark-submit against MIDEX_SPARK_MASTER (what the DAGs do).

Why our own call and not the Spark provider's SparkSubmitOperator: the master comes from
`MIDEX_SPARK_MASTER`, the same setting the CLI and `midex run` use, instead of a second source of
truth in an Airflow connection; the command is built in one place that is tested without Airflow;
and the job gets the deployment's MIDEX_* settings explicitly. It runs the real `spark-submit`.

What reaches the cluster:

* the driver runs where spark-submit runs (client mode; Spark standalone runs Python drivers only
  in client mode), next to Airflow, with midex installed: it reads `MIDEX_SCHEMAS` and
  `MIDEX_EXPECTATIONS` there and passes the mapping tables to the executors as DataFrames;
* the executors get the `midex` package as a zip shipped with `--py-files` whenever the master is
  not `local[...]` (built once per package content under `$MIDEX_HOME/dist/`), and their Python is
  `PYSPARK_PYTHON` (default: this interpreter — right when workers share this machine's venv; on
  other hosts set it to the workers' Python with midex's dependencies installed);
* cluster-wide Spark settings (executor memory, hadoop-aws jars for `s3a://`) belong in
  `$SPARK_CONF_DIR/spark-defaults.conf` (see infra/spark/), which spark-submit reads by itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections import deque
from pathlib import Path

import midex
from midex.contract.digest import sha256_tree
from midex.contract.errors import MidexError
from midex.contract.settings import Settings, get_settings
from midex.runtime.class_archive import archive_path
from midex.runtime.spark import JIT_OPTIONS, driver_java_options

# Zip entries get a fixed timestamp so the same package content gives the same file.
_ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)


def spark_submit_binary() -> str:
    """spark-submit next to this interpreter (pip's pyspark installs it there), else on PATH."""
    candidate = Path(sys.executable).parent / "spark-submit"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("spark-submit")
    if found is None:
        raise MidexError("spark-submit not found; install pyspark in this environment")
    return found


def is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def _package_files() -> list[tuple[Path, str]]:
    root = Path(midex.__file__).resolve().parent
    files = [
        (path, str(Path("midex") / path.relative_to(root)))
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return files


def package_zip(settings: Settings) -> Path:
    """The midex package as a zip for `--py-files`, named by its content hash; built once."""
    files = _package_files()
    target = settings.home / "dist" / f"midex-{sha256_tree(files)[:16]}.zip"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, name in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    os.replace(tmp, target)  # concurrent mapped tasks may race: the content is the same
    return target


def job_env(settings: Settings) -> dict[str, str]:
    """The job's environment: this one plus the deployment's settings spelled out, so the driver
    finds the same catalog, lake, schemas and suites whatever copy of midex it imports."""
    env = dict(os.environ)
    env.update(
        MIDEX_HOME=str(settings.home),
        MIDEX_LAKE=str(settings.lake),
        # an object-store landing (s3://…) is passed as such, not as its local staging folder
        MIDEX_LANDING=str(getattr(settings, "landing_s3", None) or settings.landing),
        MIDEX_CATALOG_URL=str(settings.catalog_url),
        MIDEX_SPARK_MASTER=settings.spark_master,
        MIDEX_SPARK_SHUFFLE_PARTITIONS=str(settings.spark_shuffle_partitions),
        MIDEX_SPARK_DRIVER_MEMORY=settings.spark_driver_memory,
        MIDEX_SPARK_CLASS_ARCHIVE=str(archive_path(settings) or ""),
        MIDEX_SCHEMAS=str(settings.schemas.resolve()),
        MIDEX_EXPECTATIONS=str(settings.expectations.resolve()),
        MIDEX_JOBS=str(settings.jobs.resolve()),
    )
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def spark_submit_command(job: str, args: list[str], settings: Settings) -> list[str]:
    """The exact spark-submit command line for jobs/<job>.py."""
    script = settings.jobs / f"{job}.py"
    if not script.exists():
        raise MidexError(f"job {script} does not exist (MIDEX_JOBS={settings.jobs})")
    command = [
        spark_submit_binary(),
        "--master",
        settings.spark_master,
        "--name",
        f"midex-{job}",
        "--driver-memory",
        settings.spark_driver_memory,
        "--driver-java-options",  # the JIT's options, and the class archive when built
        " ".join(driver_java_options(settings)),
        "--conf",
        f"spark.executor.extraJavaOptions={' '.join(JIT_OPTIONS)}",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        f"spark.sql.shuffle.partitions={settings.spark_shuffle_partitions}",
    ]
    if not is_local_master(settings.spark_master):
        command += ["--py-files", str(package_zip(settings))]
    return [*command, str(script), *args]


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the job's process group, SIGKILL it if it is still there after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def spark_submit(job: str, args: list[str], settings: Settings | None = None) -> None:
    """Run jobs/<job>.py with `args`, streaming its output; raise MidexError with the job's last
    lines on failure. If the caller is interrupted (an Airflow timeout), the job is killed."""
    settings = settings or get_settings()
    command = spark_submit_command(job, args, settings)
    print("spark-submit:", " ".join(command), flush=True)
    tail: deque[str] = deque(maxlen=8)
    # its own process group: spark-submit's JVM starts the Python driver as a child, and both
    # must go when the caller is stopped
    proc = subprocess.Popen(
        command,
        env=job_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            if line.strip():
                tail.append(line.rstrip())
        code = proc.wait()
    finally:
        if proc.poll() is None:
            _stop_group(proc)
    sys.stdout.flush()
    if code != 0:
        raise MidexError(f"job {job} failed (exit {code}): {' | '.join(tail)}")
