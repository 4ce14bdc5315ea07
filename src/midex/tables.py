"""Impact tables, computed in Spark from `observations`; each is defined in schemas/tables/."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from midex.errors import MidexError
from midex.formulas import pct_of
from midex.schema import Schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _wide(observations: DataFrame, definition: dict, grain: list[str]) -> DataFrame:
    """Filter per the definition, then one column per `from_indicator` column, by grain."""
    from pyspark.sql import functions as F

    df = (
        observations.where(F.expr(definition["filter"]))
        if definition.get("filter")
        else (observations)
    )
    df = df.where(F.col("TIME_PERIOD").rlike(r"^\d{4}$"))
    sources = [c for c in definition["columns"] if c.get("from_indicator")]
    df = df.where(F.col("INDICATOR").isin([c["from_indicator"] for c in sources]))
    return df.groupBy(*grain).agg(
        *[
            F.max(F.when(F.col("INDICATOR") == c["from_indicator"], F.col("OBS_VALUE"))).alias(
                c["name"]
            )
            for c in sources
        ]
    )


def remittances_gdp(observations: DataFrame, definition: dict) -> DataFrame:
    from pyspark.sql import functions as F

    df = _wide(observations, definition, definition["grain"])
    return df.withColumn("REMIT_IN_PCT_GDP", pct_of(F.col("REMIT_IN_USD"), F.col("GDP_USD")))


BUILDERS: dict[str, Callable[[DataFrame, dict], DataFrame]] = {
    "remittances_gdp": remittances_gdp,
}


def build_table(name: str, observations: DataFrame, schema: Schema) -> DataFrame:
    """Compute impact table `name`, with exactly the columns its definition lists, in order."""
    from pyspark.sql import functions as F

    definition = schema.table(name)
    if name not in BUILDERS:
        raise MidexError(f"table {name} is defined in schemas/tables/ but has no builder")
    df = BUILDERS[name](observations, definition)
    columns = definition["columns"]
    return df.select(*[F.col(c["name"]).cast(c["type"]) for c in columns]).orderBy(
        *definition["grain"]
    )
