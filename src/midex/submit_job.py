"""Run a job of jobs/ through spark-submit against MIDEX_SPARK_MASTER (what the DAGs do)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from midex.errors import MidexError
from midex.settings import Settings, get_settings


def spark_submit_binary() -> str:
    """spark-submit next to this interpreter (pip's pyspark installs it there), else on PATH."""
    candidate = Path(sys.executable).parent / "spark-submit"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("spark-submit")
    if found is None:
        raise MidexError("spark-submit not found; install pyspark in this environment")
    return found


def spark_submit(job: str, args: list[str], settings: Settings | None = None) -> None:
    """Run jobs/<job>.py with `args`; raise MidexError with the job's last output on failure."""
    settings = settings or get_settings()
    script = settings.jobs / f"{job}.py"
    if not script.exists():
        raise MidexError(f"job {script} does not exist")
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    command = [
        spark_submit_binary(),
        "--master",
        settings.spark_master,
        "--name",
        f"midex-{job}",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.sql.shuffle.partitions={settings.spark_shuffle_partitions}",
        str(script),
        *args,
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr[-20000:])
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise MidexError(f"job {job} failed (exit {proc.returncode}): {' | '.join(tail)}")
