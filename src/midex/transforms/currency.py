"""Exchange rates for converting local-currency (LCU) values to US dollars at harmonisation.

The rates are the EXCHANGE_RATE series (local currency units per US dollar, period average) that
agencies submitted and midex accepted: per REF_AREA and TIME_PERIOD, the latest accepted agency
value. They form a small table broadcast into the harmonisation join. Its fingerprint is stored
on every submission that has LCU rows (Submission.rates_version), so `midex reprocess` knows
which submissions a new or revised rate affects. The harmonise stage reads the accepted agency
submissions (`midex.stages.harmonise.exchange_rates`); `latest_rates` is given their rows.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from midex.contract.schema import LCU, Schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RATE_INDICATOR = "EXCHANGE_RATE"
RATES_SCHEMA = "REF_AREA string, TIME_PERIOD string, RATE double"
# when each accepted agency submission was accepted: the latest acceptance wins
ACCEPTANCE_SCHEMA = "SUBMISSION_ID long, ACCEPTED_AT timestamp"


def lcu_spellings(schema: Schema) -> list[str]:
    """Every accepted UNIT_MEASURE spelling of LCU, upper-cased."""
    return sorted(k for k, code in schema.units.lookup().items() if code == LCU)


def latest_rates(harmonised: DataFrame, accepted: DataFrame) -> DataFrame:
    """REF_AREA, TIME_PERIOD, RATE from the harmonised rows of accepted agency submissions;
    `accepted` (ACCEPTANCE_SCHEMA) says when each was accepted: the latest acceptance wins."""
    rows = harmonised.where(
        (F.col("INDICATOR") == RATE_INDICATOR)
        & (F.col("COUNTERPART_AREA") == "_Z")
        & (F.col("SEX") == "_T")
        & (F.col("AGE") == "_T")
        & (F.col("OBS_VALUE") > 0)
    ).join(F.broadcast(accepted), "SUBMISSION_ID")
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
