"""The one function that builds Spark sessions. Everything else is handed a session."""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from midex.contract.errors import BudgetExceeded
from midex.contract.settings import Settings, get_settings
from midex.runtime.class_archive import java_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# HotSpot never compiles a method of more than 8,000 bytes of bytecode: it interprets it for as
# long as the JVM runs. Whole-stage code generation writes one method per stage, and
# harmonisation's (eight lookups, sixteen problem checks, the output columns) is 11,750 bytes:
# harmonising 1M rows took 8.3 s warm interpreted, 2.3 s compiled (noop writes, 2 cores). Spark
# itself only splits or falls back above 64 KB (spark.sql.codegen.hugeMethodLimit). C2 then
# often gave up on that method ("out of nodes", Java Flight Recorder's CompilationFailure
# events), leaving it to slower code; with four times the node budget it compiles: a batch of
# the 1M bench's 35 submissions, third harmonisation in one session, 15.6-18.5 -> 9.0-10.2 s.
JIT_OPTIONS = (
    "-XX:-DontCompileHugeMethods",
    "-XX:MaxNodeLimit=240000",
    "-XX:NodeLimitFudgeFactor=8000",
)


def driver_java_options(settings: Settings) -> list[str]:
    """The driver JVM's options: the JIT's, and the class archive when it exists."""
    return [*JIT_OPTIONS, *java_options(settings)]


def build_session(settings: Settings | None = None, app_name: str = "midex") -> SparkSession:
    """Build (or reuse, within one process) the Spark session for `MIDEX_SPARK_MASTER`.

    Loopback unless MIDEX_SPARK_LOCAL_IP (or SPARK_LOCAL_IP) says otherwise, no UI, few shuffle partitions: the defaults
    fit one small machine; a cluster deployment overrides them through spark-submit's --conf.
    """
    settings = settings or get_settings()
    # The driver listens on and advertises this address (settings.spark_local_ip): every socket
    # of the JVM binds it (measured: with these two settings and no SPARK_LOCAL_IP in the
    # environment, all of Spark's listeners are on 127.0.0.1).
    host = settings.spark_local_ip
    from pyspark.sql import SparkSession

    ivy = os.path.join(tempfile.gettempdir(), "midex-ivy")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", host)
        .config("spark.driver.bindAddress", host)
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        # read when this process starts the JVM (local mode, `midex run`, the service); a job
        # under spark-submit gets it on the command line (submit_job)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        # Stages rewrite folders in place (tmp + swap) and read them again in the same session
        # (reprocess, validation flags, resolve then publish, the service's long-lived session):
        # a cached file listing would point at swapped-out files (FAILED_READ_FILE.FILE_NOT_EXIST).
        .config("spark.sql.hive.filesourcePartitionFileCacheSize", "0")
        .config("spark.jars.ivy", ivy)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # read when this process starts the JVM (local mode: the executors run in it too)
        .config("spark.driver.extraJavaOptions", " ".join(driver_java_options(settings)))
        .config("spark.executor.extraJavaOptions", " ".join(JIT_OPTIONS))
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def local_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: str) -> DataFrame:
    """A small table (mapping tables, codelists, the batch's submissions) kept in the plan as a
    local relation: broadcasting it costs no Spark job, where a createDataFrame table is an RDD
    that costs a job at every broadcast (8 lookups: 9 jobs -> 2). Values are bound as SQL
    parameters, never spliced into the text. `schema` is a DDL string ("KEY string, ...")."""
    from pyspark.sql import functions as F

    fields = spark.createDataFrame([], schema).schema.fields  # parses the DDL; no job
    if not rows:
        return spark.createDataFrame([], schema)
    args: dict[str, Any] = {}
    marks = []
    for i, row in enumerate(rows):
        if len(row) != len(fields):
            raise ValueError(f"row {i} has {len(row)} values for {len(fields)} columns")
        for j, value in enumerate(row):
            args[f"v{i}_{j}"] = list(value) if isinstance(value, tuple) else value
        marks.append("(" + ", ".join(f":v{i}_{j}" for j in range(len(fields))) + ")")
    columns = ", ".join(f"c{j}" for j in range(len(fields)))
    table = spark.sql(f"SELECT * FROM VALUES {', '.join(marks)} AS t({columns})", args=args)
    return table.select(
        *[F.col(f"c{j}").cast(f.dataType).alias(f.name) for j, f in enumerate(fields)]
    )


@contextmanager
def time_budget(spark: SparkSession, seconds: float, what: str) -> Iterator[None]:
    """Run the block's Spark jobs in a job group of their own; past `seconds`, cancel the group
    (again every 0.2 s, so that a job started after a cancellation goes too) and raise
    BudgetExceeded saying what ran too long. Python work between jobs is not interrupted."""
    sc = spark.sparkContext
    group = f"midex-budget-{uuid.uuid4().hex[:12]}"
    sc.setJobGroup(group, what, interruptOnCancel=True)
    done, expired = threading.Event(), threading.Event()

    def watch() -> None:
        if done.wait(seconds):
            return
        expired.set()
        while not done.is_set():
            sc.cancelJobGroup(group)
            done.wait(0.2)

    watcher = threading.Thread(target=watch, name="midex-budget", daemon=True)
    watcher.start()
    try:
        yield
        if expired.is_set():
            raise BudgetExceeded(f"{what} ran past its time budget of {seconds:g} s")
    except BudgetExceeded:
        raise
    except Exception as exc:
        if expired.is_set():
            raise BudgetExceeded(
                f"{what} ran past its time budget of {seconds:g} s (MIDEX_STAGE_BUDGET_S) and "
                "was stopped; the file is too big or too unusual for one stage: split it, or "
                "ask the operator to raise the budget"
            ) from exc
        raise
    finally:
        done.set()
        watcher.join()
        # None removes a local property (SparkContext.setLocalProperty); pyspark annotates str
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]  # None removes it
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]  # as above
        sc.setLocalProperty("spark.job.interruptOnCancel", None)  # type: ignore[arg-type]  # as above
