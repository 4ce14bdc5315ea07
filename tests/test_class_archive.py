"""The JVM class archive (midex.runtime.class_archive): built from a real Spark run, used by the next
driver JVM (the session builder and spark-submit), harmless when missing or turned off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from midex.contract.settings import Settings
from midex.runtime.class_archive import archive_path, build, java_options
from midex.runtime.spark import JIT_OPTIONS
from midex.runtime.submit_job import job_env, spark_submit_command

_CHILD = """
import json
from midex.runtime.spark import build_session
spark = build_session()
rows = spark.range(10).selectExpr("id % 2 AS k").groupBy("k").count().orderBy("k").collect()
args = list(spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
print(json.dumps({"counts": [r["count"] for r in rows], "args": args}))
"""


def _settings(tmp_path: Path, archive: str | None) -> Settings:
    return Settings(home=tmp_path, spark_master="local[1]", spark_class_archive=archive)


def test_only_an_existing_archive_is_passed_to_the_driver(tmp_path: Path) -> None:
    target = tmp_path / "classes.jsa"
    settings = _settings(tmp_path, str(target))
    assert java_options(settings) == []  # not built yet: Spark starts as before
    command = spark_submit_command("resolve", [], settings)
    jit = " ".join(JIT_OPTIONS)  # always: HotSpot compiles whole-stage methods however big
    assert "-XX:-DontCompileHugeMethods" in JIT_OPTIONS
    assert command[command.index("--driver-java-options") + 1] == jit
    target.write_bytes(b"x")
    command = spark_submit_command("resolve", [], settings)
    assert command[command.index("--driver-java-options") + 1] == (
        f"{jit} -XX:SharedArchiveFile={target}"
    )
    assert f"spark.executor.extraJavaOptions={jit}" in command
    assert job_env(settings)["MIDEX_SPARK_CLASS_ARCHIVE"] == str(target)
    off = _settings(tmp_path, "")
    assert archive_path(off) is None and java_options(off) == []
    assert job_env(off)["MIDEX_SPARK_CLASS_ARCHIVE"] == ""
    default = archive_path(_settings(tmp_path, None))
    assert default == Path(sys.prefix) / "share" / "midex" / "spark-classes.jsa"


def test_built_archive_is_mapped_by_the_next_driver_jvm(tmp_path: Path) -> None:
    """`midex spark-archive` records a real Spark run; a new process's session starts its JVM
    with the archive and works (the JVM would ignore an archive that does not match)."""
    target = tmp_path / "share" / "spark-classes.jsa"
    built = build(_settings(tmp_path, str(target)))
    assert built == target and target.stat().st_size > 10 * 2**20
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left
    env = {**os.environ, "MIDEX_SPARK_CLASS_ARCHIVE": str(target), "MIDEX_HOME": str(tmp_path)}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["counts"] == [5, 5]
    assert f"-XX:SharedArchiveFile={target}" in out["args"]
    # and HotSpot compiles whole-stage generated methods however big (midex.runtime.spark.JIT_OPTIONS)
    assert set(JIT_OPTIONS) <= set(out["args"])
