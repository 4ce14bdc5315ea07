"""Publish: resolve first, then write a release (midex.release.bundle) under the release lock."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from midex.contract.clock import as_utc
from midex.contract.errors import MidexError
from midex.storage.catalog import (
    Release,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
from midex.stages.context import Context
from midex.stages.resolve import needs_resolve, resolution, resolve_unlocked

log = logging.getLogger("midex")


def publish(
    ctx: Context,
    spark: SparkSession,
    as_of: datetime | None = None,
    embargo_until: datetime | None = None,
) -> Release:
    """A release. One at a time (the catalog's release lock: a concurrent publish waits), and
    never missing accepted data: accepted submissions not yet resolved (a run that crashed
    during resolve, or one still to come) are resolved first, as the release DAG does. The
    resolve lock is held throughout, so no run swaps resolved/ while the release reads it."""
    from midex.quality.validate import import_in_background
    from midex.release.bundle import publish as publish_release

    with ctx.catalog.lock("release"), ctx.catalog.lock("resolve"):
        if as_of is None and needs_resolve(ctx):
            log.info("resolving accepted submissions not yet in observations before publishing")
            resolve_unlocked(ctx, spark)
        import_in_background()  # the release's table checks need it after the Spark work
        return publish_release(
            ctx.lake,
            ctx.catalog,
            ctx.schema,
            resolved_tables(ctx, spark, as_of),
            as_of=as_of,
            embargo_until=embargo_until,
            expectations=ctx.settings.expectations,
        )


def resolved_tables(
    ctx: Context, spark: SparkSession, as_of: datetime | None = None
) -> dict[str, DataFrame]:
    """observations, observations_all, source_disagreements: from resolved/ (what `midex run`
    wrote), or resolved as of an instant."""
    from midex.transforms.resolve import RESOLVED_TABLES

    as_of = as_utc(as_of) if as_of is not None else None
    if as_of is None and all(ctx.lake.resolved_dir(n).exists() for n in RESOLVED_TABLES):
        return {n: spark.read.parquet(str(ctx.lake.resolved_dir(n))) for n in RESOLVED_TABLES}
    result = resolution(ctx, spark, as_of)
    if result is None:
        when = f" by {as_of.isoformat()}" if as_of else ""
        raise MidexError(f"no submission was accepted{when}; submit files and `midex run` first")
    return result.tables()
