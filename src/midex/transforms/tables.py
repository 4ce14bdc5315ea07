"""Impact tables, computed in Spark from `observations`; each is defined in schemas/tables/.

A builder takes the resolved observations and the table's definition and returns a DataFrame;
`build_table` then keeps exactly the defined columns, in order, with their types. The formulas
live in midex.transforms.formulas; groups for aggregates in schemas/groups/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from midex.contract import periods
from midex.contract.areas import residual_codes
from midex.contract.errors import MidexError
from midex.contract.groups import group_members_table
from midex.contract.schema import Schema
from midex.transforms import formulas as fx

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TOTALS = "COUNTERPART_AREA = '_Z' AND SEX = '_T' AND AGE = '_T'"
ANNUAL = periods.YEAR


# -- inputs -------------------------------------------------------------------------------------


def _inputs(definition: dict[str, Any]) -> dict[str, str]:
    """Input name -> indicator: columns published as reported plus unpublished helper inputs."""
    named = {
        c["name"]: c["from_indicator"] for c in definition["columns"] if c.get("from_indicator")
    }
    return {**named, **(definition.get("inputs") or {})}


def country_year(observations: DataFrame, inputs: dict[str, str], where: str = TOTALS) -> DataFrame:
    """One row per REF_AREA × annual TIME_PERIOD with any of the indicators, one column per input.

    Only totals (no partner, sex or age breakdown) take part. Observations hold one row per series
    key, so at most one value feeds each cell.
    """
    df = observations.where(F.expr(where)).where(F.col("TIME_PERIOD").rlike(ANNUAL))
    df = df.where(F.col("INDICATOR").isin(sorted(set(inputs.values()))))
    return df.groupBy("REF_AREA", "TIME_PERIOD").agg(
        *[
            F.max(F.when(F.col("INDICATOR") == indicator, F.col("OBS_VALUE"))).alias(name)
            for name, indicator in inputs.items()
        ]
    )


def _any_present(columns: list[str]) -> Column:
    condition = F.lit(False)
    for c in columns:
        condition = condition | F.col(c).isNotNull()
    return condition


def _wide_inputs(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    df = country_year(observations, _inputs(definition), definition.get("filter") or TOTALS)
    row_when = definition.get("row_when")
    return df.where(_any_present(row_when)) if row_when else df


def _param(definition: dict[str, Any], name: str) -> float:
    """A table's parameter (a target, a threshold): from its definition, the one place it is."""
    parameters = definition.get("parameters") or {}
    if name not in parameters:
        raise MidexError(
            f"schemas/tables/{definition.get('name')}.yaml: parameter {name!r} is missing; "
            "add it under `parameters:`"
        )
    return float(parameters[name])


# -- builders -----------------------------------------------------------------------------------


def remittances_gdp(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    df = _wide_inputs(observations, definition)
    return df.withColumn("REMIT_IN_PCT_GDP", fx.pct_of(F.col("REMIT_IN_USD"), F.col("GDP_USD")))


def development_finance(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    df = _wide_inputs(observations, definition)
    gdp = F.col("GDP_USD")
    return (
        df.withColumn("REMIT_PCT_GDP", fx.pct_of(F.col("REMIT_IN_USD"), gdp))
        .withColumn("ODA_PCT_GDP", fx.pct_of(F.col("ODA_RECEIVED_USD"), gdp))
        .withColumn("FDI_PCT_GDP", fx.pct_of(F.col("FDI_IN_USD"), gdp))
        .withColumn(
            "REMIT_TO_ODA_RATIO",
            fx.positive_ratio(F.col("REMIT_IN_USD"), F.col("ODA_RECEIVED_USD")),
        )
    )


def _oda(df: DataFrame, target_pct: float) -> DataFrame:
    """ODA_GIVEN_USD, ODA_PCT_GNI, gap and flag from ODA_GIVEN_REPORTED, ODA_PCT_GNI_REPORTED and
    GNI_USD (shared by oda_target and aggregates)."""
    oda, gni = F.col("ODA_GIVEN_USD"), F.col("GNI_USD")
    return (
        df.withColumn(
            "ODA_GIVEN_USD",
            fx.oda_given_usd(F.col("ODA_GIVEN_REPORTED"), F.col("ODA_PCT_GNI_REPORTED"), gni),
        )
        .withColumn("ODA_PCT_GNI", fx.oda_pct_gni(oda, gni, F.col("ODA_PCT_GNI_REPORTED")))
        .withColumn("TARGET_PCT", F.lit(target_pct))
        .withColumn("GAP_TO_TARGET_USD", fx.gap_to_target_usd(oda, gni, target_pct))
        .withColumn("TARGET_MET", fx.at_least(F.col("ODA_PCT_GNI"), target_pct))
    )


def oda_target(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    target = _param(definition, "target_pct")
    return _oda(_wide_inputs(observations, definition), target)


def emigrant_mirror(observations: DataFrame) -> DataFrame:
    """REF_AREA (as origin), TIME_PERIOD, EMIG_STOCK_MIRROR: the bilateral MIG_STOCK that
    destinations report with COUNTERPART_AREA = that origin, summed over destinations."""
    return (
        observations.where(
            (F.col("INDICATOR") == "MIG_STOCK")
            & (F.col("COUNTERPART_AREA") != "_Z")
            & (F.col("COUNTERPART_AREA") != F.col("REF_AREA"))
            & (F.col("SEX") == "_T")
            & (F.col("AGE") == "_T")
            & F.col("TIME_PERIOD").rlike(ANNUAL)
            & F.col("OBS_VALUE").isNotNull()
        )
        .groupBy(F.col("COUNTERPART_AREA").alias("REF_AREA"), "TIME_PERIOD")
        .agg(fx.ordered_sum(F.col("OBS_VALUE")).alias("EMIG_STOCK_MIRROR"))
    )


def migration_profile(
    observations: DataFrame, definition: dict[str, Any], schema: Schema
) -> DataFrame:
    """One row per area and year; a residual partner (XON: migrants from 'Other North') is in
    the mirrors' sums of no country and is no row of its own."""
    inputs = country_year(observations, _inputs(definition), definition.get("filter") or TOTALS)
    df = inputs.join(emigrant_mirror(observations), ["REF_AREA", "TIME_PERIOD"], "full")
    df = df.where(_any_present(definition["row_when"]))
    df = df.where(~F.col("REF_AREA").isin(sorted(residual_codes(schema))))
    pop = F.col("POP")
    emigrants = F.coalesce(F.col("EMIG_STOCK"), F.col("EMIG_STOCK_MIRROR"))
    return (
        df.withColumn("MIG_STOCK_PCT_POP", fx.pct_of(F.col("MIG_STOCK"), pop))
        .withColumn("EMIGRATION_RATE_PCT", fx.share_of_population_and_group(emigrants, pop, 100))
        .withColumn("NET_MIGRATION_PER_1000", fx.per_n(F.col("MIG_NET"), pop, 1000))
        .withColumn(
            "REFUGEES_ORIGIN_PER_100K",
            fx.share_of_population_and_group(F.col("REFUGEES_ORIGIN"), pop, 100_000),
        )
    )


def corridors(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    bilateral = observations.where(F.expr(definition["filter"])).where(
        F.col("TIME_PERIOD").rlike(ANNUAL) & (F.col("REF_AREA") != F.col("COUNTERPART_AREA"))
    )

    def side(reporter: str, indicators: dict[str, str]) -> DataFrame:
        # reporter = the role REF_AREA plays; the counterpart plays the other one
        partner = "ORIGIN" if reporter == "DESTINATION" else "DESTINATION"
        rows = bilateral.where(F.col("INDICATOR").isin(list(indicators.values())))
        return rows.groupBy(
            F.col("REF_AREA").alias(reporter),
            F.col("COUNTERPART_AREA").alias(partner),
            "TIME_PERIOD",
        ).agg(
            *[
                F.max(F.when(F.col("INDICATOR") == ind, F.col("OBS_VALUE"))).alias(name)
                for name, ind in indicators.items()
            ]
        )

    by_destination = side(
        "DESTINATION",
        {"STOCK_REPORTED_BY_DESTINATION": "MIG_STOCK", "REMIT_REPORTED_BY_SENDER": "REMIT_OUT"},
    )
    by_origin = side(
        "ORIGIN",
        {"STOCK_REPORTED_BY_ORIGIN": "EMIG_STOCK", "REMIT_REPORTED_BY_RECEIVER": "REMIT_IN"},
    )
    df = by_destination.join(by_origin, ["ORIGIN", "DESTINATION", "TIME_PERIOD"], "full")
    threshold = _param(definition, "flag_threshold")
    df = df.withColumn(
        "STOCK_ASYMMETRY",
        fx.mirror_asymmetry(
            F.col("STOCK_REPORTED_BY_DESTINATION"), F.col("STOCK_REPORTED_BY_ORIGIN")
        ),
    ).withColumn(
        "REMIT_ASYMMETRY",
        fx.mirror_asymmetry(F.col("REMIT_REPORTED_BY_RECEIVER"), F.col("REMIT_REPORTED_BY_SENDER")),
    )
    return df.withColumn(
        "ASYMMETRY_FLAG",
        fx.asymmetry_flag(F.col("STOCK_ASYMMETRY"), F.col("REMIT_ASYMMETRY"), threshold=threshold),
    )


def remittance_cost(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    target = _param(definition, "target_pct")
    high = _param(definition, "high_pct")
    df = _wide_inputs(observations, definition)
    cost = F.col("REMIT_COST_IN_PCT")
    return (
        df.withColumn("ABOVE_3PCT_TARGET", fx.above(cost, target))
        .withColumn("ABOVE_5PCT", fx.above(cost, high))
        .withColumn(
            "SAVINGS_AT_TARGET_USD", fx.savings_at_target_usd(F.col("REMIT_IN_USD"), cost, target)
        )
    )


def coverage(observations: DataFrame, definition: dict[str, Any]) -> DataFrame:
    accepted = (
        F.max("ACCEPTED_AT")
        if "ACCEPTED_AT" in observations.columns
        else F.lit(None).cast("timestamp")
    )
    return (
        observations.where(F.col("OBS_VALUE").isNotNull())
        .groupBy("PROVIDER", "REF_AREA", "INDICATOR")
        .agg(
            F.min("TIME_PERIOD").alias("FIRST_PERIOD"),
            F.max("TIME_PERIOD").alias("LAST_PERIOD"),
            F.countDistinct("TIME_PERIOD").alias("N_PERIODS"),
            accepted.alias("LAST_ACCEPTED_AT"),
        )
    )


# -- groups and aggregates ----------------------------------------------------------------------


def group_members(spark: SparkSession, schema: Schema) -> DataFrame:
    """group_members_table as a Spark frame (from Arrow: no per-row Python serialisation)."""
    return spark.createDataFrame(group_members_table(schema))


def aggregate_groups(
    panel: DataFrame, members: DataFrame, measures: list[dict[str, Any]], threshold: float
) -> DataFrame:
    """Aggregate a country-year `panel` over group `members`, one row per group, year, measure.

    `panel` has REF_AREA, TIME_PERIOD and the columns the measures name (numerator, denominator,
    weight). See schemas/tables/aggregates.yaml for the rules. One aggregation computes every
    measure's parts; the rows are then unpivoted to one per measure.
    """
    periods = panel.select("TIME_PERIOD").distinct()
    grid = members.crossJoin(F.broadcast(periods)).join(
        F.broadcast(panel), ["REF_AREA", "TIME_PERIOD"], "left"
    )
    parts = [F.count(F.lit(1)).alias("MEMBERS_TOTAL")]
    for i, m in enumerate(measures):
        num = F.col(m["numerator"])
        den = F.col(m["denominator"]) if m.get("denominator") else None
        weight = F.col(m["weight"])
        reporting = num.isNotNull() if den is None else (num.isNotNull() & den.isNotNull())
        parts += [
            fx.ordered_sum(F.when(reporting, num)).alias(f"_NUM{i}"),
            fx.ordered_sum(F.when(reporting, den if den is not None else F.lit(None))).alias(
                f"_DEN{i}"
            ),
            F.sum(reporting.cast("long")).alias(f"_REP{i}"),
            F.sum(weight.isNotNull().cast("long")).alias(f"_WKNOWN{i}"),
            fx.ordered_sum(F.when(reporting, weight)).alias(f"_WREP{i}"),
            fx.ordered_sum(weight).alias(f"_WALL{i}"),
        ]
    keys = ["GROUP_TYPE", "GROUP_CODE", "GROUP_NAME", "TIME_PERIOD"]
    wide = grid.groupBy(*keys).agg(*parts)
    rows = []
    for i, m in enumerate(measures):
        num, den = F.col(f"_NUM{i}"), F.col(f"_DEN{i}")
        value = num if not m.get("denominator") else fx.ratio(num, den) * float(m.get("scale", 1))
        reporting, total = F.col(f"_REP{i}"), F.col("MEMBERS_TOTAL")
        share = F.when(
            (F.col(f"_WKNOWN{i}") == total) & (F.col(f"_WALL{i}") > 0),
            F.coalesce(F.col(f"_WREP{i}"), F.lit(0.0)) / F.col(f"_WALL{i}"),
        ).otherwise(reporting / total)
        rows.append(
            F.struct(
                F.lit(m["measure"]).alias("MEASURE"),
                value.cast("double").alias("VALUE"),
                reporting.alias("MEMBERS_REPORTING"),
                share.cast("double").alias("COVERAGE_SHARE"),
            )
        )
    df = wide.select(*keys, "MEMBERS_TOTAL", F.explode(F.array(*rows)).alias("_m")).select(
        *keys,
        "_m.MEASURE",
        "_m.VALUE",
        "MEMBERS_TOTAL",
        "_m.MEMBERS_REPORTING",
        "_m.COVERAGE_SHARE",
    )
    df = df.where(F.col("MEMBERS_REPORTING") > 0)
    suppressed = F.col("COVERAGE_SHARE") < threshold
    return df.withColumn("SUPPRESSED", suppressed).withColumn(
        "VALUE", F.when(~suppressed, F.col("VALUE"))
    )


def aggregates(
    observations: DataFrame, definition: dict[str, Any], schema: Schema | None = None
) -> DataFrame:
    if schema is None:
        raise MidexError("aggregates need the schema (for schemas/groups/)")
    panel = country_year(
        observations,
        {
            "REMIT_IN": "REMIT_IN",
            "GDP": "GDP",
            "MIG_STOCK": "MIG_STOCK",
            "POP": "POP",
            "GNI": "GNI",
            "ODA_GIVEN_REPORTED": "ODA_GIVEN",
            "ODA_PCT_GNI_REPORTED": "ODA_GIVEN_PCT_GNI",
        },
        definition.get("filter") or TOTALS,
    )
    # the donors' target is the oda_target table's, not a second copy of it
    target = _param(schema.table("oda_target"), "target_pct")
    panel = _oda(panel.withColumn("GNI_USD", panel["GNI"]), target)
    threshold = _param(definition, "coverage_threshold")
    members = group_members(observations.sparkSession, schema)
    return aggregate_groups(panel, members, definition["measures"], threshold)


BUILDERS: dict[str, Callable[..., DataFrame]] = {
    "remittances_gdp": remittances_gdp,
    "development_finance": development_finance,
    "oda_target": oda_target,
    "migration_profile": migration_profile,
    "corridors": corridors,
    "remittance_cost": remittance_cost,
    "aggregates": aggregates,
    "coverage": coverage,
}
NEEDS_SCHEMA = {"aggregates", "migration_profile"}


def build_table(
    name: str,
    observations: DataFrame,
    schema: Schema,
    parameters: dict[str, Any] | None = None,
) -> DataFrame:
    """Compute impact table `name`, with exactly the columns its definition lists, in order.

    `parameters` overrides the definition's parameters (e.g. coverage_threshold).
    """
    definition = schema.table(name)
    if parameters:
        definition["parameters"] = {**(definition.get("parameters") or {}), **parameters}
    if name not in BUILDERS:
        raise MidexError(f"table {name} is defined in schemas/tables/ but has no builder")
    builder = BUILDERS[name]
    if name in NEEDS_SCHEMA:
        df = builder(observations, definition, schema)
    else:
        df = builder(observations, definition)
    columns = definition["columns"]
    return df.select(*[F.col(c["name"]).cast(c["type"]) for c in columns]).orderBy(
        *definition["grain"]
    )
