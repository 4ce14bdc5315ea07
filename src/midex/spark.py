"""The one function that builds Spark sessions. Everything else is handed a session."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from midex.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def build_session(settings: Settings | None = None, app_name: str = "midex") -> SparkSession:
    """Build (or reuse, within one process) the Spark session for `MIDEX_SPARK_MASTER`.

    Loopback only, no UI, few shuffle partitions: the defaults fit one small machine; a cluster
    deployment overrides them through spark-submit's --conf.
    """
    settings = settings or get_settings()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    from pyspark.sql import SparkSession

    ivy = os.path.join(tempfile.gettempdir(), "midex-ivy")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.jars.ivy", ivy)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
