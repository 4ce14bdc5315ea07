"""A class-data-sharing archive of the classes a midex Spark driver loads (JDK AppCDS).

A new driver JVM (`midex run`, a DAG task's spark-submit, the service starting) spends seconds
loading and verifying the same few thousand Spark classes. Java 17 can dump them once into an
archive (`-XX:ArchiveClassesAtExit`) and map it at the next start (`-XX:SharedArchiveFile`).
Measured here: session start 5.2-5.8 s -> 3.0 s, a first query 4.0-4.6 s -> 2.1 s.

`make install` builds it (`midex spark-archive`) under the virtual environment, next to the Spark
jars it describes. It is only an optimisation: when it is missing, or does not match the JVM
and classpath any more (the JVM then ignores it and says so), Spark starts as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from midex.contract.errors import MidexError
from midex.contract.settings import Settings

OFF = ""  # MIDEX_SPARK_CLASS_ARCHIVE="" turns the archive off


def archive_path(settings: Settings) -> Path | None:
    """Where the archive is (or would be built): MIDEX_SPARK_CLASS_ARCHIVE, by default in the
    virtual environment; None when it is turned off."""
    if settings.spark_class_archive is None:
        return Path(sys.prefix) / "share" / "midex" / "spark-classes.jsa"
    if settings.spark_class_archive == OFF:
        return None
    return Path(settings.spark_class_archive)


def java_options(settings: Settings) -> list[str]:
    """The driver JVM's options for the archive: none unless it exists."""
    path = archive_path(settings)
    if path is None or not path.is_file():
        return []
    return [f"-XX:SharedArchiveFile={path}"]


# The work the archive is recorded from: what every midex driver does (Parquet in and out, a
# broadcast join with a VALUES table, windows, an aggregate, a cache), on a few rows.
_WORKLOAD = """
import sys, tempfile
from midex.contract.settings import Settings
from midex.runtime.spark import build_session
spark = build_session(Settings(spark_master="local[1]", spark_class_archive=""), "midex-archive")
with tempfile.TemporaryDirectory() as tmp:
    spark.range(1000).selectExpr(
        "CAST(id % 7 AS string) AS K", "CAST(id AS double) AS V", "CAST(id % 3 AS string) AS P"
    ).write.parquet(tmp + "/a")
    codes = spark.sql("SELECT * FROM VALUES ('1', array('x')), ('2', array('y')) AS c(K, L)")
    df = spark.read.parquet(tmp + "/a").join(codes.hint("broadcast"), "K", "left")
    df = df.repartition("K").selectExpr(
        "*",
        "lag(V) OVER (PARTITION BY K, P ORDER BY V) AS LAGGED",
        "collect_list(named_struct('p', P, 'v', V)) OVER (PARTITION BY K) AS ENTRIES",
        "count(1) OVER (PARTITION BY K, P ORDER BY V RANGE BETWEEN CURRENT ROW AND CURRENT ROW) AS N",
    ).cache()
    df.groupBy("K").agg({"V": "sum", "N": "max"}).collect()
    df.drop("ENTRIES").write.partitionBy("P").parquet(tmp + "/b")
    spark.read.parquet(tmp + "/b").toArrow()
spark.stop()
"""


def build(settings: Settings) -> Path:
    """Record the archive from a short Spark run in a new process and put it in place
    (atomically: a process starting meanwhile sees the old archive or the new one)."""
    target = archive_path(settings)
    if target is None:
        raise MidexError("MIDEX_SPARK_CLASS_ARCHIVE is empty: the class archive is turned off")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")  # the JVM writes it when it exits
    env = dict(os.environ)
    env["PYSPARK_SUBMIT_ARGS"] = (
        f"--driver-java-options -XX:ArchiveClassesAtExit={tmp} pyspark-shell"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _WORKLOAD], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise MidexError(f"the class archive could not be built (exit {proc.returncode}): {tail}")
    os.replace(tmp, target)
    return target
