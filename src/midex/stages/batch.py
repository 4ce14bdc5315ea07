"""Read and write the lake partitions of a batch of submissions in one Spark job."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from midex.storage.catalog import (
    Submission,
    stored_id,
)
from midex.storage.lake import owned_suffix, remove_leftovers

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession
from midex.stages.context import Context


def read_batch(spark: SparkSession, ctx: Context, zone: str, subs: list[Submission]) -> DataFrame:
    """The `zone` partitions of `subs` as one frame; raw rows get SUBMISSION_ID from their path."""
    from pyspark.sql import functions as F

    paths = [str(ctx.lake.submission_dir(zone, stored_id(s))) for s in subs]
    df = spark.read.parquet(*paths)
    if "SUBMISSION_ID" not in df.columns:
        df = df.withColumn(
            "SUBMISSION_ID",
            F.regexp_extract(F.col("_metadata.file_path"), r"submission=(\d+)/", 1).cast("long"),
        )
    return df


def write_batch(
    ctx: Context, df: DataFrame, zone: str, ids: list[int], empty: bool = False
) -> None:
    """Write `df` (rows of several submissions) in ONE Spark job, then swap each submission's
    part into `<zone>/submission=<id>/`, so each folder still changes all at once. `empty`:
    the caller knows `df` has no rows; no Spark job runs."""
    from pyspark.sql import functions as F

    # named by this process, so a killed writer's staging folder is removed by the next one
    remove_leftovers(ctx.lake.root / zone, ".batch-")
    staging = ctx.lake.root / zone / f".batch-{owned_suffix()}"
    try:
        if not empty:
            df.withColumn("_PART", F.col("SUBMISSION_ID")).write.partitionBy("_PART").parquet(
                str(staging)
            )
        for i in ids:
            part = staging / f"_PART={i}"
            target = ctx.lake.submission_dir(zone, i)
            if part.exists():

                def move(tmp: Path, part: Path = part) -> None:
                    os.replace(part, tmp)

                ctx.lake.replace_dir(target, move)
                df.sparkSession.catalog.refreshByPath(str(target))
            else:  # no rows: an empty folder with the schema, as a one-submission write leaves
                ctx.lake.write_empty(df, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
