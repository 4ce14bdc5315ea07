"""Resolution: accepted submissions' harmonised rows -> one value per series key, at any instant.

Two questions decide which value of a series key becomes THE observation:

1. Revisions (same provider): the provider's latest accepted submission holding the key wins;
   its earlier values are `superseded`. A submission made with `--mode replace` also withdraws
   the provider's earlier values inside the scope the file covers (its indicators x areas x
   periods) that the file no longer contains (`withdrawn`).
2. Competing sources (different providers): priority by provider kind per indicator, from
   schemas/resolution.yaml (national before agency by default); a real number beats a missing
   one; within one kind the latest acceptance wins. The winner is `won`, every other provider's
   current value `lost` — kept, and published side by side in `source_disagreements` when it
   differs from the winner by more than the indicator's tolerance.

`annotate_versions` is a pure transform: it labels every version of every key. Nothing is
overwritten: the harmonised partitions are only read, so `as_of` (a filter on acceptance time)
gives exactly what was current at that instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from midex.catalog import Catalog, ProviderKind, SubmissionStatus
from midex.errors import MidexError
from midex.schema import Schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from midex.lake import Lake

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
        """INDICATOR, PROVIDER_KIND, KIND_RANK, TOLERANCE for every indicator and kind."""
        rows = []
        for code in indicators:
            rule = self.rule(code)
            for kind in ProviderKind:
                rank = rule.priority.index(kind.value) if kind.value in rule.priority else 99
                rows.append((code, kind.value, rank, float(rule.tolerance)))
        from midex.spark import local_frame

        return local_frame(
            spark, rows, "INDICATOR string, PROVIDER_KIND string, KIND_RANK int, TOLERANCE double"
        )


def _rule(doc: dict[str, Any], where: str, base: IndicatorRule | None) -> IndicatorRule:
    kinds = {k.value for k in ProviderKind}
    unknown = set(doc) - {"priority", "tolerance"}
    if unknown:
        raise MidexError(f"{where}: unknown key(s) {sorted(unknown)}; use priority, tolerance")
    priority = tuple(str(k) for k in doc.get("priority", base.priority if base else ()))
    if not priority or set(priority) - kinds or len(set(priority)) != len(priority):
        raise MidexError(
            f"{where}: priority must list provider kinds ({', '.join(sorted(kinds))}) once each"
        )
    tolerance = doc.get("tolerance", base.tolerance if base else 0.05)
    if not isinstance(tolerance, int | float) or tolerance < 0:
        raise MidexError(f"{where}: tolerance must be a non-negative number such as 0.05")
    return IndicatorRule(priority, float(tolerance))


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
    `scope_rows`: when `harmonised` holds only some areas, ALL the rows of the replace-mode
    submissions, so that their scope (indicators x areas x periods of the whole file) is the
    same as in a resolution of every area.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = list(series_key)
    versions = harmonised.join(F.broadcast(submissions), "SUBMISSION_ID")
    newest_first = [F.col("ACCEPTED_AT").desc(), F.col("SUBMISSION_ID").desc()]
    by_provider = Window.partitionBy("PROVIDER", *key).orderBy(*newest_first)
    versions = versions.withColumn("_version", F.row_number().over(by_provider))
    latest = versions.where(F.col("_version") == 1)

    # the scope of each replace-mode submission: its indicators x areas x periods
    in_scope = (
        versions
        if scope_rows is None
        else scope_rows.select(
            "SUBMISSION_ID", "PROVIDER", "INDICATOR", "REF_AREA", "TIME_PERIOD"
        ).join(F.broadcast(submissions), "SUBMISSION_ID")
    )
    scopes = (
        in_scope.where(F.col("SUBMISSION_MODE") == "replace")
        .groupBy("PROVIDER", "SUBMISSION_ID", "ACCEPTED_AT")
        .agg(
            F.collect_set("INDICATOR").alias("S_INDICATORS"),
            F.collect_set("REF_AREA").alias("S_AREAS"),
            F.collect_set("TIME_PERIOD").alias("S_PERIODS"),
        )
        .select(
            F.col("PROVIDER").alias("S_PROVIDER"),
            F.col("SUBMISSION_ID").alias("S_ID"),
            F.col("ACCEPTED_AT").alias("S_ACCEPTED_AT"),
            "S_INDICATORS",
            "S_AREAS",
            "S_PERIODS",
        )
    )
    later = (F.col("S_ACCEPTED_AT") > F.col("ACCEPTED_AT")) | (
        (F.col("S_ACCEPTED_AT") == F.col("ACCEPTED_AT")) & (F.col("S_ID") > F.col("SUBMISSION_ID"))
    )
    covered = (
        (F.col("S_PROVIDER") == F.col("PROVIDER"))
        & later
        & F.array_contains("S_INDICATORS", F.col("INDICATOR"))
        & F.array_contains("S_AREAS", F.col("REF_AREA"))
        & F.array_contains("S_PERIODS", F.col("TIME_PERIOD"))
    )
    withdrawn = latest.join(F.broadcast(scopes), covered, "left_semi")
    current = latest.join(F.broadcast(scopes), covered, "left_anti")

    ranked = current.join(F.broadcast(rules), ["INDICATOR", "PROVIDER_KIND"], "left")
    by_key = Window.partitionBy(*key).orderBy(
        F.col("OBS_VALUE").isNull(),  # a number beats a missing value
        F.coalesce(F.col("KIND_RANK"), F.lit(99)),
        *newest_first,
        F.col("PROVIDER"),
    )
    ranked = ranked.withColumn(
        "RESOLUTION",
        F.when(F.row_number().over(by_key) == 1, F.lit(WON)).otherwise(F.lit(LOST)),
    )
    columns = ranked.columns
    older = (
        versions.where(F.col("_version") > 1)
        .join(F.broadcast(rules), ["INDICATOR", "PROVIDER_KIND"], "left")
        .withColumn("RESOLUTION", F.lit(SUPERSEDED))
    )
    gone = withdrawn.join(F.broadcast(rules), ["INDICATOR", "PROVIDER_KIND"], "left").withColumn(
        "RESOLUTION", F.lit(WITHDRAWN)
    )
    return (
        ranked.select(*columns)
        .unionByName(older.select(*columns))
        .unionByName(gone.select(*columns))
        .drop("_version")
    )


@dataclass
class Resolution:
    versions: DataFrame  # every version of every key, with RESOLUTION
    observations: DataFrame  # exactly one row per series key: the winners
    observations_all: DataFrame  # every provider's current value, WON says which one won
    source_disagreements: DataFrame  # winner and loser side by side, beyond the tolerance
    order: dict[str, list[Any]]  # each table's row order (the series key first)

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
    relative = F.when(w != 0, F.abs(o - w) / F.abs(w))
    disagreements = (
        winner.join(other, key)
        .where(w.isNotNull() & o.isNotNull())
        .withColumn("RELATIVE_DIFFERENCE", relative)
        .where(F.when(w == 0, o != 0).otherwise(F.col("RELATIVE_DIFFERENCE") > F.col("TOLERANCE")))
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


def as_utc(moment: datetime) -> datetime:
    """The catalog stores UTC; a naive datetime (SQLite, a CLI argument) is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
        accepted = [s for s in accepted if only.areas & only.index.get(s.id, set())]  # type: ignore[arg-type]
    if not accepted:
        return None
    kinds = {p.code: str(p.kind) for p in catalog.providers()}
    submissions = spark.createDataFrame(
        [
            (s.id, as_utc(s.accepted_at), str(s.mode), kinds[s.provider_code])  # type: ignore[arg-type]
            for s in accepted
        ],
        SUBMISSIONS_SCHEMA,
    )
    # mergeSchema: partitions written before a column was added to the schema still take part
    paths = [str(lake.submission_dir("harmonised", s.id)) for s in accepted]  # type: ignore[arg-type]
    harmonised = spark.read.option("mergeSchema", "true").parquet(*paths)
    scope_rows = None
    if only is not None:
        harmonised = harmonised.where(F.col("REF_AREA").isin(sorted(only.areas)))
        replacing = [
            str(lake.submission_dir("harmonised", s.id))  # type: ignore[arg-type]
            for s in accepted
            if str(s.mode) == "replace"
        ]
        if replacing:
            scope_rows = spark.read.option("mergeSchema", "true").parquet(*replacing)
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
