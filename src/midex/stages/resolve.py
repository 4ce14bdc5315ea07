"""Resolve: accepted harmonised partitions -> resolved/ (observations, disagreements), incrementally by area."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from midex.contract.clock import as_utc, utcnow
from midex.contract.resolution import load_rules
from midex.storage.catalog import Submission, SubmissionStatus, stored_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from midex.transforms.resolve import Resolution
from midex.stages.context import Context

log = logging.getLogger("midex")


@dataclass(frozen=True)
class AreaScope:
    """Which areas to resolve again, and which areas each accepted submission holds rows of."""

    areas: set[str]
    index: dict[int, set[str]]


def _accepted_utc(sub: Submission) -> datetime:
    """When an accepted submission was accepted, in UTC."""
    assert sub.accepted_at is not None
    return as_utc(sub.accepted_at)


def resolution(
    ctx: Context,
    spark: SparkSession,
    as_of: datetime | None = None,
    only: AreaScope | None = None,
) -> Resolution | None:
    """The resolved tables (observations, observations_all, source_disagreements) as they were
    at `as_of` by acceptance time (default: now), computed from the harmonised partitions of the
    submissions accepted by then (`only`: the keys of its areas alone, from the submissions
    that hold rows of them); None if there are none. Reads only; writes nothing."""
    from midex.transforms.resolve import SUBMISSIONS_SCHEMA, resolve_harmonised, rules_frame

    accepted = [
        s
        for s in ctx.catalog.submissions((SubmissionStatus.accepted,))
        if s.accepted_at is not None and (as_of is None or as_utc(s.accepted_at) <= as_utc(as_of))
    ]
    if only is not None:
        accepted = [s for s in accepted if only.areas & only.index.get(stored_id(s), set())]
    if not accepted:
        return None
    kinds = {p.code: str(p.kind) for p in ctx.catalog.providers()}
    submissions = spark.createDataFrame(
        [(s.id, _accepted_utc(s), str(s.mode), kinds[s.provider_code]) for s in accepted],
        SUBMISSIONS_SCHEMA,
    )
    # mergeSchema: partitions written before a column was added to the schema still take part
    paths = [str(ctx.lake.submission_dir("harmonised", stored_id(s))) for s in accepted]
    harmonised = spark.read.option("mergeSchema", "true").parquet(*paths)
    # the replace-mode submissions' whole files give their scopes
    replacing = [
        str(ctx.lake.submission_dir("harmonised", stored_id(s)))
        for s in accepted
        if str(s.mode) == "replace"
    ]
    scope_rows = spark.read.option("mergeSchema", "true").parquet(*replacing) if replacing else None
    rules = rules_frame(spark, load_rules(ctx.schema), sorted(ctx.schema.indicators.code_set()))
    return resolve_harmonised(
        harmonised,
        submissions,
        rules,
        ctx.schema.series_key,
        scope_rows,
        None if only is None else only.areas,
    )


def resolve(ctx: Context, spark: SparkSession) -> int:
    """`resolve_unlocked` under the catalog's resolve lock: one resolution at a time, never while a
    release reads resolved/."""
    with ctx.catalog.lock("resolve"):
        return resolve_unlocked(ctx, spark)


def resolve_unlocked(ctx: Context, spark: SparkSession) -> int:
    """Bring resolved/{observations,observations_all,source_disagreements} up to date with every
    accepted submission (harmonised partitions are only read); mark them resolved.

    Incremental: only the areas that changed are resolved again — those the newly accepted (or
    reprocessed) submissions hold rows of, now or before, and those of submissions no longer
    accepted — one file per area, the other areas' files kept. So a national provider's
    submission costs what its area costs, not what the lake holds. A full resolution runs when
    resolved/ does not say what it was built from (`_state.json`, or another mapping version),
    or when the change touches most areas."""
    from midex.transforms.resolve import RESOLVED_TABLES

    accepted = ctx.catalog.submissions((SubmissionStatus.accepted,))
    state = ctx.lake.resolved_state(ctx.schema.mapping_version)
    before = state or {}
    new = [s for s in accepted if s.resolved_at is None or s.id not in before]
    gone = set(before) - {s.id for s in accepted}
    index = {stored_id(s): before[stored_id(s)] for s in accepted if s.id in before}
    index.update({stored_id(s): ctx.lake.submission_areas(stored_id(s)) for s in new})
    touched: set[str] = set()
    for sid in [stored_id(s) for s in new] + sorted(gone):
        touched |= index.get(sid, set()) | before.get(sid, set())
    known = set().union(*before.values(), *index.values())
    incremental = (
        state is not None
        and all(ctx.lake.resolved_dir(n).exists() for n in RESOLVED_TABLES)
        and 2 * len(touched) <= len(known)
    )
    result = None
    if incremental and touched:
        log.info("resolving %d of %d areas again", len(touched), len(known))
        result = resolution(ctx, spark, only=AreaScope(touched, index))
        incremental = result is not None  # else no accepted rows are left in those areas
    if not incremental:
        result = resolution(ctx, spark)
        if result is None:  # nothing is accepted (any more): nothing is resolved
            for name in RESOLVED_TABLES:
                shutil.rmtree(ctx.lake.resolved_dir(name), ignore_errors=True)
    if result is not None:
        result.versions.cache()  # the three tables derive from it: annotate once
        try:
            for name, df in result.tables(sort=False).items():
                ctx.lake.write_spark_by_area(
                    df,
                    ctx.lake.resolved_dir(name),
                    "REF_AREA",
                    result.order[name],
                    areas=touched if incremental else None,
                    clustered=name in result.clustered,
                )
        finally:
            result.versions.unpersist()
    ctx.lake.write_resolved_state(index, ctx.schema.mapping_version)
    rows = ctx.lake.parquet_rows(ctx.lake.observations_dir())  # footers: no Spark job
    now = utcnow()
    for s in accepted:
        if s.resolved_at is None:
            ctx.catalog.update_submission(stored_id(s), resolved_at=now)
    return rows


def needs_resolve(ctx: Context) -> bool:
    return any(s.resolved_at is None for s in ctx.catalog.submissions((SubmissionStatus.accepted,)))
