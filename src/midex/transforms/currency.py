"""Exchange rates for converting local-currency (LCU) values to US dollars at harmonisation.

The rates are the EXCHANGE_RATE series (local currency units per US dollar, period average) that
agencies submitted and midex accepted: per REF_AREA and TIME_PERIOD, the latest accepted agency
value. They form a small table broadcast into the harmonisation join. Its fingerprint is stored
on every submission that has LCU rows (Submission.rates_version), so `midex reprocess` knows
which submissions a new or revised rate affects.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from midex.contract.schema import LCU, Schema
from midex.storage.catalog import Catalog, ProviderKind, SubmissionStatus, stored_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from midex.storage.lake import Lake

RATE_INDICATOR = "EXCHANGE_RATE"
RATES_SCHEMA = "REF_AREA string, TIME_PERIOD string, RATE double"


def lcu_spellings(schema: Schema) -> list[str]:
    """Every accepted UNIT_MEASURE spelling of LCU, upper-cased."""
    return sorted(k for k, code in schema.units.lookup().items() if code == LCU)


def exchange_rates(spark: SparkSession, lake: Lake, catalog: Catalog) -> DataFrame:
    """REF_AREA, TIME_PERIOD, RATE from accepted agency submissions (latest acceptance wins)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    agencies = {p.code for p in catalog.providers() if p.kind == ProviderKind.agency}
    accepted = [
        s
        for s in catalog.submissions((SubmissionStatus.accepted,))
        if s.provider_code in agencies and s.accepted_at is not None
    ]
    if not accepted:
        return spark.createDataFrame([], RATES_SCHEMA)
    order = spark.createDataFrame(
        [(s.id, s.accepted_at) for s in accepted], "SUBMISSION_ID long, ACCEPTED_AT timestamp"
    )
    rows = (
        spark.read.parquet(
            *[str(lake.submission_dir("harmonised", stored_id(s))) for s in accepted]
        )
        .where(
            (F.col("INDICATOR") == RATE_INDICATOR)
            & (F.col("COUNTERPART_AREA") == "_Z")
            & (F.col("SEX") == "_T")
            & (F.col("AGE") == "_T")
            & (F.col("OBS_VALUE") > 0)
        )
        .join(F.broadcast(order), "SUBMISSION_ID")
    )
    latest = Window.partitionBy("REF_AREA", "TIME_PERIOD").orderBy(
        F.col("ACCEPTED_AT").desc(), F.col("SUBMISSION_ID").desc()
    )
    return (
        rows.withColumn("_n", F.row_number().over(latest))
        .where(F.col("_n") == 1)
        .select("REF_AREA", "TIME_PERIOD", F.col("OBS_VALUE").alias("RATE"))
    )


def fingerprint(rates: DataFrame) -> str:
    """Content hash of a rates table (a few thousand rows at most: collected on the driver)."""
    digest = hashlib.sha256()
    for r in sorted(rates.collect()):
        digest.update(f"{r.REF_AREA}|{r.TIME_PERIOD}|{r.RATE!r}\n".encode())
    return digest.hexdigest()[:12]
