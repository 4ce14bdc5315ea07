"""Publish: resolve first, then write a release (midex.release.bundle) under the release lock."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from midex.storage.catalog import (
    Release,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
from midex.stages.context import Context
from midex.stages.resolve import needs_resolve, resolve_unlocked

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
    from midex.release.bundle import publish as publish_release

    with ctx.catalog.lock("release"), ctx.catalog.lock("resolve"):
        if as_of is None and needs_resolve(ctx):
            log.info("resolving accepted submissions not yet in observations before publishing")
            resolve_unlocked(ctx, spark)
        return publish_release(
            spark,
            ctx.lake,
            ctx.catalog,
            ctx.schema,
            as_of=as_of,
            embargo_until=embargo_until,
            expectations=ctx.settings.expectations,
        )
