"""Resolution: accepted submissions' harmonised rows -> one value per series key, at any instant.

Two questions decide which value of a series key becomes THE observation:

1. Revisions (same provider): the provider's latest accepted submission holding the key wins;
   its earlier values are `superseded`. A submission made with `--mode replace` also withdraws
   the provider's earlier values inside the scope the file covers (its indicators x areas x
   periods) that the file no longer contains (`withdrawn`).
2. Competing sources (different providers): priority by provider kind per indicator, from
   schemas/resolution.yaml (national before agency by default); a real number beats a missing
   one, and where the indicator's rule says `prefer_non_zero`, a non-zero value beats an exact
   0 (a source's way of writing "not reported"); within one kind the latest acceptance wins. The winner is `won`, every other provider's
   current value `lost` — kept, and published side by side in `source_disagreements` when it
   differs from the winner by more than the indicator's tolerance.

`annotate_versions` is a pure transform: it labels every version of every key. Nothing is
overwritten: the harmonised partitions are only read, so `as_of` (a filter on acceptance time)
gives exactly what was current at that instant. The resolve stage (`midex.stages.resolve`)
chooses the submissions and reads their partitions; the functions here are given them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import Window
from pyspark.sql import functions as F

from midex.contract.providers import ProviderKind
from midex.contract.resolution import ResolutionRules
from midex.runtime.spark import local_frame

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# RESOLUTION labels, one per version of a series key
WON, LOST, SUPERSEDED, WITHDRAWN = "won", "lost", "superseded", "withdrawn"
SUBMISSIONS_SCHEMA = (
    "SUBMISSION_ID long, ACCEPTED_AT timestamp, SUBMISSION_MODE string, PROVIDER_KIND string"
)
RESOLVED_TABLES = ("observations", "observations_all", "source_disagreements")
RULES_SCHEMA = (
    "INDICATOR string, PROVIDER_KIND string, KIND_RANK int, TOLERANCE double, "
    "PREFER_NON_ZERO boolean"
)


def rules_frame(spark: SparkSession, rules: ResolutionRules, indicators: list[str]) -> DataFrame:
    """RULES_SCHEMA: the resolution rules (midex.contract.resolution) of every indicator and
    provider kind, as a small table for the joins below."""
    rows = []
    for code in indicators:
        rule = rules.rule(code)
        for kind in ProviderKind:
            rank = rule.priority.index(kind.value) if kind.value in rule.priority else 99
            rows.append((code, kind.value, rank, float(rule.tolerance), rule.prefer_non_zero))
    return local_frame(spark, rows, RULES_SCHEMA)


def _newest_first() -> list[Column]:
    return [F.col("ACCEPTED_AT").desc(), F.col("SUBMISSION_ID").desc()]


def _numbered_by_provider(
    harmonised: DataFrame, submissions: DataFrame, rules: DataFrame, key: list[str]
) -> DataFrame:
    """The rows of the given submissions with their submission and rule columns, shuffled by
    REF_AREA; _version 1 is a provider's latest accepted submission holding the key."""
    versions = (
        harmonised.join(F.broadcast(submissions), "SUBMISSION_ID")
        .join(F.broadcast(rules), ["INDICATOR", "PROVIDER_KIND"], "left")
        .repartition("REF_AREA")
    )
    by_provider = Window.partitionBy(*key, "PROVIDER").orderBy(*_newest_first())
    return versions.withColumn("_version", F.row_number().over(by_provider))


def _replace_scopes(scope_rows: DataFrame, submissions: DataFrame) -> DataFrame:
    """S_PROVIDER, S_SCOPES: every replace-mode submission's scope (indicators x areas x
    periods), one entry per scope, gathered per provider, so that the join with every row is a
    broadcast lookup by provider that never duplicates a row."""
    return (
        scope_rows.select("SUBMISSION_ID", "PROVIDER", "INDICATOR", "REF_AREA", "TIME_PERIOD")
        .join(
            F.broadcast(submissions.where(F.col("SUBMISSION_MODE") == "replace")), "SUBMISSION_ID"
        )
        .groupBy("PROVIDER", "SUBMISSION_ID", "ACCEPTED_AT")
        .agg(
            F.collect_set("INDICATOR").alias("i"),
            F.collect_set("REF_AREA").alias("a"),
            F.collect_set("TIME_PERIOD").alias("p"),
        )
        .groupBy(F.col("PROVIDER").alias("S_PROVIDER"))
        .agg(
            F.collect_list(
                F.struct(
                    F.col("SUBMISSION_ID").alias("id"),
                    F.col("ACCEPTED_AT").alias("at"),
                    "i",
                    "a",
                    "p",
                )
            ).alias("S_SCOPES")
        )
    )


def _with_state(versions: DataFrame, scopes: DataFrame) -> DataFrame:
    """_STATE: superseded (a later version of the provider's holds the key), withdrawn (a later
    replace-mode submission's scope covers the row), else null (a current value)."""
    versions = versions.join(F.broadcast(scopes), F.col("PROVIDER") == F.col("S_PROVIDER"), "left")
    covered = F.exists(
        "S_SCOPES",
        lambda s: (
            (
                (s["at"] > F.col("ACCEPTED_AT"))
                | ((s["at"] == F.col("ACCEPTED_AT")) & (s["id"] > F.col("SUBMISSION_ID")))
            )
            & F.array_contains(s["i"], F.col("INDICATOR"))
            & F.array_contains(s["a"], F.col("REF_AREA"))
            & F.array_contains(s["p"], F.col("TIME_PERIOD"))
        ),
    )
    return versions.withColumn(
        "_STATE",
        F.when(F.col("_version") > 1, F.lit(SUPERSEDED)).when(
            F.coalesce(covered, F.lit(False)), F.lit(WITHDRAWN)
        ),
    )


def _resolution(key: list[str]) -> Column:
    """RESOLUTION: the _STATE, else won by the first current value by priority, else lost."""
    # among every provider's current value (no _STATE), the first by priority wins; the current
    # values sort first, so their row numbers are their ranks
    by_key = Window.partitionBy(*key).orderBy(
        F.col("_STATE").isNotNull(),
        F.col("OBS_VALUE").isNull(),  # a number beats a missing value
        # where the indicator's rule says so, a non-zero value beats an exact 0
        F.coalesce(F.col("PREFER_NON_ZERO") & (F.col("OBS_VALUE") == 0), F.lit(False)),
        F.coalesce(F.col("KIND_RANK"), F.lit(99)),
        *_newest_first(),
        F.col("PROVIDER"),
    )
    return F.coalesce(
        F.col("_STATE"),
        F.when(F.row_number().over(by_key) == 1, F.lit(WON)).otherwise(F.lit(LOST)),
    )


def annotate_versions(
    harmonised: DataFrame,
    submissions: DataFrame,
    rules: DataFrame,
    series_key: tuple[str, ...],
    scope_rows: DataFrame | None = None,
) -> DataFrame:
    """Every harmonised row of the given submissions with ACCEPTED_AT, SUBMISSION_MODE,
    PROVIDER_KIND, KIND_RANK, TOLERANCE and RESOLUTION (won, lost, superseded, withdrawn).

    `submissions` (SUBMISSIONS_SCHEMA) lists the accepted submissions that take part — for an
    as-of resolution, those accepted by then; rows of any other submission are left out.
    `scope_rows`: the rows that give each replace-mode submission its scope (indicators x areas
    x periods of the whole file); by default `harmonised`. When `harmonised` holds only some
    areas, pass ALL the rows of the replace-mode submissions, so that their scopes are the same
    as in a resolution of every area.

    One pass: the rows are shuffled once, by REF_AREA (every series key holds it, so both
    windows below find their partitions there), and every label comes out of two windows over
    those partitions. The output keeps that layout: all the rows of an area are in one
    partition, which lets the writers by area skip a shuffle of their own (`Lake.
    write_spark_by_area`, clustered)."""
    key = list(series_key)
    # 1. revisions: a provider's latest accepted submission holding the key is its version 1
    versions = _numbered_by_provider(harmonised, submissions, rules, key)
    # 2. replace-mode submissions withdraw their provider's earlier values inside their scope
    scopes = _replace_scopes(harmonised if scope_rows is None else scope_rows, submissions)
    versions = _with_state(versions, scopes)
    # 3. competing sources: the first current value by priority wins
    return versions.withColumn("RESOLUTION", _resolution(key)).drop(
        "_version", "_STATE", "S_PROVIDER", "S_SCOPES"
    )


@dataclass
class Resolution:
    versions: DataFrame  # every version of every key, with RESOLUTION
    observations: DataFrame  # exactly one row per series key: the winners
    observations_all: DataFrame  # every provider's current value, WON says which one won
    source_disagreements: DataFrame  # winner and loser side by side, beyond the tolerance
    order: dict[str, list[Any]]  # each table's row order (the series key first)
    # the tables whose partitions hold whole areas (filters of `versions`, which does)
    clustered: frozenset[str] = frozenset(("observations", "observations_all"))

    def tables(self, sort: bool = True) -> dict[str, DataFrame]:
        """The three tables, sorted by their `order` (or unsorted, for a writer that sorts)."""
        return {
            name: getattr(self, name).orderBy(*self.order[name]) if sort else getattr(self, name)
            for name in RESOLVED_TABLES
        }


def resolve_versions(
    versions: DataFrame, harmonised_columns: list[str], series_key: tuple[str, ...]
) -> Resolution:
    """Derive the published tables from annotated versions."""
    key = list(series_key)
    current = versions.where(F.col("RESOLUTION").isin(WON, LOST))
    observations = current.where(F.col("RESOLUTION") == WON).select(
        *harmonised_columns, "ACCEPTED_AT"
    )
    observations_all = current.select(
        *harmonised_columns,
        "ACCEPTED_AT",
        "PROVIDER_KIND",
        (F.col("RESOLUTION") == WON).alias("WON"),
    )
    side = ["PROVIDER", "PROVIDER_KIND", "NATURE", "OBS_VALUE", "SUBMISSION_ID", "ACCEPTED_AT"]
    winner = current.where(F.col("RESOLUTION") == WON).select(
        *key, *[F.col(c).alias(f"WINNER_{c}") for c in side]
    )
    other = current.where(F.col("RESOLUTION") == LOST).select(
        *key, "TOLERANCE", *[F.col(c).alias(f"OTHER_{c}") for c in side]
    )
    w, o = F.col("WINNER_OBS_VALUE"), F.col("OTHER_OBS_VALUE")
    # relative to the winner; a winning 0 against a non-zero value differs by all of it (1.0)
    relative = F.when(w != 0, F.abs(o - w) / F.abs(w)).when(o != 0, F.lit(1.0))
    disagreements = (
        winner.join(other, key)
        .where(w.isNotNull() & o.isNotNull())
        .withColumn("RELATIVE_DIFFERENCE", relative)
        .where(F.col("RELATIVE_DIFFERENCE") > F.col("TOLERANCE"))
        .select(
            *key,
            *[f"WINNER_{c}" for c in side],
            *[f"OTHER_{c}" for c in side],
            "RELATIVE_DIFFERENCE",
            "TOLERANCE",
        )
    )
    return Resolution(
        versions=versions,
        observations=observations,
        observations_all=observations_all,
        source_disagreements=disagreements,
        order={
            "observations": key,
            "observations_all": [*key, F.col("WON").desc(), "PROVIDER"],
            "source_disagreements": [*key, "OTHER_PROVIDER"],
        },
    )


def resolve_harmonised(
    harmonised: DataFrame,
    submissions: DataFrame,
    rules: DataFrame,
    series_key: tuple[str, ...],
    scope_rows: DataFrame | None = None,
    areas: set[str] | None = None,
) -> Resolution:
    """The resolution of the harmonised rows of the accepted `submissions` (SUBMISSIONS_SCHEMA).
    `scope_rows`: the whole files of the replace-mode submissions among them (None: there are
    none). With `areas`, the keys of those areas alone: the same rows a resolution of every
    area gives for them (every rule compares versions of one series key, and the key holds
    REF_AREA; replace-mode scopes are taken from whole files)."""
    if areas is not None:
        harmonised = harmonised.where(F.col("REF_AREA").isin(sorted(areas)))
    # no replace-mode submission: an empty frame, which Spark drops from the plan (no pass over
    # the rows to find no scope)
    if scope_rows is None:
        scope_rows = harmonised.limit(0)
    versions = annotate_versions(harmonised, submissions, rules, series_key, scope_rows)
    return resolve_versions(versions, harmonised.columns, series_key)
