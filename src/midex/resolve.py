"""Resolution: accepted submissions' harmonised rows -> `observations`, one row per series key."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def resolve_observations(
    harmonised: DataFrame, accepted: DataFrame, series_key: tuple[str, ...]
) -> DataFrame:
    """Pick, per series key, the value of the latest accepted submission.

    `accepted` has SUBMISSION_ID and ACCEPTED_AT; only rows of those submissions take part, so a
    rejected submission contributes nothing. Ties on acceptance time go to the higher id.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ranked = harmonised.join(F.broadcast(accepted), "SUBMISSION_ID")
    window = Window.partitionBy(*series_key).orderBy(
        F.col("ACCEPTED_AT").desc(), F.col("SUBMISSION_ID").desc()
    )
    return (
        ranked.withColumn("_rank", F.row_number().over(window))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )
