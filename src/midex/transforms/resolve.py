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
gives exactly what was current at that instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

from midex.contract.clock import as_utc
from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.storage.catalog import Catalog, ProviderKind, Submission, SubmissionStatus, stored_id

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from midex.storage.lake import Lake

RULES_FILE = "resolution.yaml"
SCOPES = ("own_areas", "any")
# RESOLUTION labels, one per version of a series key
WON, LOST, SUPERSEDED, WITHDRAWN = "won", "lost", "superseded", "withdrawn"
SUBMISSIONS_SCHEMA = (
    "SUBMISSION_ID long, ACCEPTED_AT timestamp, SUBMISSION_MODE string, PROVIDER_KIND string"
)
RESOLVED_TABLES = ("observations", "observations_all", "source_disagreements")


@dataclass(frozen=True)
class IndicatorRule:
    priority: tuple[str, ...]  # provider kinds, most trusted first
    tolerance: float
    # when sources disagree and one says exactly 0, the non-zero value wins (0 = "not reported")
    prefer_non_zero: bool = False


@dataclass(frozen=True)
class ResolutionRules:
    """schemas/resolution.yaml, checked: provider scope, and priority + tolerance per indicator."""

    scope: dict[str, str]
    default: IndicatorRule
    indicators: dict[str, IndicatorRule]

    def rule(self, indicator: str) -> IndicatorRule:
        return self.indicators.get(indicator, self.default)

    def allowed_areas(self, kind: str, areas: list[str]) -> tuple[str, ...]:
        """Areas a provider may report; empty = any."""
        return tuple(areas) if self.scope.get(kind, "any") == "own_areas" else ()

    def frame(self, spark: SparkSession, indicators: list[str]) -> DataFrame:
        """INDICATOR, PROVIDER_KIND, KIND_RANK, TOLERANCE, PREFER_NON_ZERO for every indicator
        and kind."""
        rows = []
        for code in indicators:
            rule = self.rule(code)
            for kind in ProviderKind:
                rank = rule.priority.index(kind.value) if kind.value in rule.priority else 99
                rows.append((code, kind.value, rank, float(rule.tolerance), rule.prefer_non_zero))
        from midex.runtime.spark import local_frame

        return local_frame(
            spark,
            rows,
            "INDICATOR string, PROVIDER_KIND string, KIND_RANK int, TOLERANCE double, "
            "PREFER_NON_ZERO boolean",
        )


def _rule(doc: dict[str, Any], where: str, base: IndicatorRule | None) -> IndicatorRule:
    kinds = {k.value for k in ProviderKind}
    unknown = set(doc) - {"priority", "tolerance", "prefer_non_zero"}
    if unknown:
        raise MidexError(
            f"{where}: unknown key(s) {sorted(unknown)}; use priority, tolerance, prefer_non_zero"
        )
    priority = tuple(str(k) for k in doc.get("priority", base.priority if base else ()))
    if not priority or set(priority) - kinds or len(set(priority)) != len(priority):
        raise MidexError(
            f"{where}: priority must list provider kinds ({', '.join(sorted(kinds))}) once each"
        )
    tolerance = doc.get("tolerance", base.tolerance if base else 0.05)
    if not isinstance(tolerance, int | float) or tolerance < 0:
        raise MidexError(f"{where}: tolerance must be a non-negative number such as 0.05")
    prefer = doc.get("prefer_non_zero", base.prefer_non_zero if base else False)
    if not isinstance(prefer, bool):
        raise MidexError(f"{where}: prefer_non_zero must be true or false")
    return IndicatorRule(priority, float(tolerance), prefer)


def load_rules(schema: Schema) -> ResolutionRules:
    path = schema.root / RULES_FILE
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MidexError(f"cannot read resolution rules {path}: {exc}") from exc
    scope = {str(k): str(v) for k, v in (doc.get("scope") or {}).items()}
    kinds = {k.value for k in ProviderKind}
    for kind, value in scope.items():
        if kind not in kinds or value not in SCOPES:
            raise MidexError(
                f"{path}: scope.{kind}: {value!r}; use a provider kind "
                f"({', '.join(sorted(kinds))}) mapped to one of {', '.join(SCOPES)}"
            )
    default = _rule(doc.get("default") or {}, f"{path}: default", None)
    known = schema.indicators.code_set()
    indicators = {}
    for code, entry in (doc.get("indicators") or {}).items():
        if code not in known:
            raise MidexError(f"{path}: indicators.{code} is not a code of indicators.yaml")
        indicators[str(code)] = _rule(entry or {}, f"{path}: indicators.{code}", default)
    return ResolutionRules(scope, default, indicators)


def _newest_first() -> list[Column]:
    from pyspark.sql import functions as F

    return [F.col("ACCEPTED_AT").desc(), F.col("SUBMISSION_ID").desc()]


def _numbered_by_provider(
    harmonised: DataFrame, submissions: DataFrame, rules: DataFrame, key: list[str]
) -> DataFrame:
    """The rows of the given submissions with their submission and rule columns, shuffled by
    REF_AREA; _version 1 is a provider's latest accepted submission holding the key."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

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
    from pyspark.sql import functions as F

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
    from pyspark.sql import functions as F

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
    from pyspark.sql import Window
    from pyspark.sql import functions as F

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
    from pyspark.sql import functions as F

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


def _accepted_utc(sub: Submission) -> datetime:
    """When an accepted submission was accepted, in UTC."""
    assert sub.accepted_at is not None
    return as_utc(sub.accepted_at)


def resolve_lake(
    spark: SparkSession,
    lake: Lake,
    catalog: Catalog,
    schema: Schema,
    as_of: datetime | None = None,
    only: AreaScope | None = None,
) -> Resolution | None:
    """Resolve over the harmonised partitions of the submissions accepted by `as_of` (default:
    now). None when there are none. With `only`, the keys of its areas alone, from the
    submissions that hold rows of them: the same rows a resolution of every area gives for
    those areas (every rule compares versions of one series key, and the key holds REF_AREA;
    replace-mode scopes are taken from whole files)."""
    from pyspark.sql import functions as F

    accepted = [
        s
        for s in catalog.submissions((SubmissionStatus.accepted,))
        if s.accepted_at is not None and (as_of is None or as_utc(s.accepted_at) <= as_utc(as_of))
    ]
    if only is not None:
        accepted = [s for s in accepted if only.areas & only.index.get(stored_id(s), set())]
    if not accepted:
        return None
    kinds = {p.code: str(p.kind) for p in catalog.providers()}
    submissions = spark.createDataFrame(
        [(s.id, _accepted_utc(s), str(s.mode), kinds[s.provider_code]) for s in accepted],
        SUBMISSIONS_SCHEMA,
    )
    # mergeSchema: partitions written before a column was added to the schema still take part
    paths = [str(lake.submission_dir("harmonised", stored_id(s))) for s in accepted]
    harmonised = spark.read.option("mergeSchema", "true").parquet(*paths)
    if only is not None:
        harmonised = harmonised.where(F.col("REF_AREA").isin(sorted(only.areas)))
    # the replace-mode submissions' whole files give their scopes; none: an empty frame, which
    # Spark drops from the plan (no pass over the rows to find no scope)
    replacing = [
        str(lake.submission_dir("harmonised", stored_id(s)))
        for s in accepted
        if str(s.mode) == "replace"
    ]
    scope_rows = (
        spark.read.option("mergeSchema", "true").parquet(*replacing)
        if replacing
        else harmonised.limit(0)
    )
    rules = load_rules(schema).frame(spark, sorted(schema.indicators.code_set()))
    versions = annotate_versions(harmonised, submissions, rules, schema.series_key, scope_rows)
    return resolve_versions(versions, harmonised.columns, schema.series_key)


@dataclass(frozen=True)
class AreaScope:
    """Which areas to resolve again, and which areas each accepted submission holds rows of."""

    areas: set[str]
    index: dict[int, set[str]]


STATE_FILE = "_state.json"  # in resolved/: the areas of every submission resolved into it
STATE_LAYOUT = "by-area-1"


def submission_areas(lake: Lake, submission_id: int) -> set[str]:
    """The REF_AREA values of a harmonised partition (pyarrow, one column: no Spark job)."""
    import pyarrow.parquet as pq

    folder = lake.submission_dir("harmonised", submission_id)
    if not any(folder.glob("*.parquet")):
        return set()
    column = pq.read_table(folder, columns=["REF_AREA"]).column("REF_AREA")
    return {a for a in column.unique().to_pylist() if a is not None}


def read_state(lake: Lake, mapping_version: str | None = None) -> dict[int, set[str]] | None:
    """What resolved/ was built from: submission id -> its areas. None when unknown (a lake
    written before the by-area layout, or never resolved) or, given `mapping_version`, built
    under another one (the columns may differ): either calls for a full resolution."""
    import json

    path = lake.root / "resolved" / STATE_FILE
    if not path.exists():
        return None
    doc = json.loads(path.read_text("utf-8"))
    if doc.get("layout") != STATE_LAYOUT:
        return None
    if mapping_version is not None and doc.get("mapping_version") != mapping_version:
        return None
    return {int(k): set(v) for k, v in doc["submissions"].items()}


def write_state(lake: Lake, index: dict[int, set[str]], mapping_version: str) -> None:
    import json
    import os

    path = lake.root / "resolved" / STATE_FILE
    tmp = path.with_suffix(".tmp")
    doc = {
        "layout": STATE_LAYOUT,
        "mapping_version": mapping_version,
        "submissions": {str(k): sorted(v) for k, v in index.items()},
    }
    tmp.write_text(json.dumps(doc, sort_keys=True), "utf-8")
    os.replace(tmp, path)


def resolved_dir(lake: Lake, table: str) -> Any:
    """resolved/<table>: `observations` keeps its place (observations_dir), the others beside it."""
    return lake.observations_dir().parent / table
