"""Harmonise: raw -> harmonised/ + quarantine/, a batch of submissions in one Spark plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from midex.contract.clock import utcnow
from midex.contract.resolution import load_rules
from midex.storage.catalog import Provider, ProviderKind, Submission, SubmissionStatus, stored_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
from midex.stages.batch import read_batch, write_batch
from midex.stages.context import Context

NATURE_BY_KIND = {ProviderKind.national: "C", ProviderKind.agency: "G"}


def _raw_has_lcu(ctx: Context, submission_id: int) -> bool:
    """Whether the raw partition has LCU rows, read with pyarrow (the parse stage wrote it
    with pyarrow): a Spark job less per submission."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from midex.transforms.currency import lcu_spellings

    units = pq.read_table(ctx.lake.submission_dir("raw", submission_id), columns=["UNIT_MEASURE"])
    spelled = pc.utf8_upper(pc.utf8_trim_whitespace(units.column("UNIT_MEASURE")))
    found = pc.is_in(spelled, value_set=pa.array(lcu_spellings(ctx.schema), pa.string()))
    return bool(pc.any(found).as_py())


def _raw_areas(ctx: Context, ids: list[int]) -> list[str]:
    """The distinct area spellings (REF_AREA, COUNTERPART_AREA, trimmed) of raw partitions,
    read with pyarrow: no Spark job."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    values: set[str] = set()
    for i in ids:
        table = pq.read_table(
            ctx.lake.submission_dir("raw", i), columns=["REF_AREA", "COUNTERPART_AREA"]
        )
        for name in ("REF_AREA", "COUNTERPART_AREA"):
            trimmed = pc.utf8_trim(table.column(name).unique(), characters=" ")  # as F.trim
            values.update(v for v in pc.unique(trimmed).to_pylist() if v)
    return sorted(values)


def exchange_rates(ctx: Context, spark: SparkSession) -> DataFrame:
    """REF_AREA, TIME_PERIOD, RATE (midex.transforms.currency) from the harmonised partitions
    of the accepted agency submissions, the latest acceptance winning."""
    from midex.transforms.currency import ACCEPTANCE_SCHEMA, RATES_SCHEMA, latest_rates

    agencies = {p.code for p in ctx.catalog.providers() if p.kind == ProviderKind.agency}
    accepted = [
        s
        for s in ctx.catalog.submissions((SubmissionStatus.accepted,))
        if s.provider_code in agencies and s.accepted_at is not None
    ]
    if not accepted:
        return spark.createDataFrame([], RATES_SCHEMA)
    order = spark.createDataFrame([(s.id, s.accepted_at) for s in accepted], ACCEPTANCE_SCHEMA)
    harmonised = spark.read.parquet(
        *[str(ctx.lake.submission_dir("harmonised", stored_id(s))) for s in accepted]
    )
    return latest_rates(harmonised, order)


def harmonise_batch(ctx: Context, spark: SparkSession, subs: list[Submission]) -> list[Submission]:
    """raw -> harmonised/submission=<id> (common schema) + quarantine/submission=<id>, for
    every submission of `subs` in one Spark plan: per-submission cost is a few catalog rows,
    not a Spark job each."""
    from midex.transforms.currency import fingerprint
    from midex.transforms.harmonise import SubmissionContext, build_mappings
    from midex.transforms.harmonise import harmonise as transform

    ids = [stored_id(s) for s in subs]
    raw = read_batch(spark, ctx, "raw", subs)
    with_lcu = {i for i in ids if _raw_has_lcu(ctx, i)}
    rates, rates_version = None, None
    if with_lcu:  # the latest accepted rates, once for the whole batch
        rates = exchange_rates(ctx, spark).cache()
        rates_version = fingerprint(rates)
    maps = build_mappings(spark, ctx.schema, raw, rates, _raw_areas(ctx, ids))
    rules = load_rules(ctx.schema)
    contexts = []
    for sub in subs:
        provider: Provider = ctx.catalog.provider(sub.provider_code)
        contexts.append(
            SubmissionContext(
                provider=provider.code,
                nature=NATURE_BY_KIND[ProviderKind(provider.kind)],
                submission_id=stored_id(sub),
                sha256=sub.sha256,
                mapping_version=ctx.schema.mapping_version,
                allowed_areas=rules.allowed_areas(str(provider.kind), provider.areas),
            )
        )
    good, bad = transform(raw, maps, contexts, ctx.schema)
    write_batch(ctx, good, "harmonised", ids)
    # Every raw row is harmonised or quarantined: a submission with fewer harmonised rows (the
    # Parquet footers) than parse counted has quarantined rows. The quarantine needs no Spark
    # pass when there are none (the usual case); otherwise the transform runs again over the
    # raw rows of those submissions only.
    harmonised = {i: ctx.lake.parquet_rows(ctx.lake.submission_dir("harmonised", i)) for i in ids}
    again = [s for s in subs if _quarantines(ctx, s, harmonised[stored_id(s)])]
    if again:
        short = {s.id for s in again}
        _, bad = transform(  # the quarantine, with the same columns, of those only
            read_batch(spark, ctx, "raw", again),
            maps,
            [c for c in contexts if c.submission_id in short],
            ctx.schema,
        )
    write_batch(ctx, bad, "quarantine", ids, empty=not again)
    if rates is not None:
        rates.unpersist()
    done = []
    for sub in subs:
        assert sub.id is not None
        done.append(
            ctx.catalog.update_submission(
                sub.id,
                status=SubmissionStatus.harmonised,
                harmonised_at=utcnow(),
                # counted from the Parquet footers: no Spark job
                rows_harmonised=harmonised[sub.id],
                rows_quarantined=ctx.lake.parquet_rows(
                    ctx.lake.submission_dir("quarantine", sub.id)
                ),
                mapping_version=ctx.schema.mapping_version,
                rates_version=rates_version if sub.id in with_lcu else None,
            )
        )
    return done


def _quarantines(ctx: Context, sub: Submission, harmonised_rows: int) -> bool:
    """Whether the submission's harmonisation left rows in quarantine: fewer harmonised rows
    than the raw rows parse counted (the raw Parquet footers for a catalog row without it)."""
    raw = sub.rows_raw
    if raw is None:
        raw = ctx.lake.parquet_rows(ctx.lake.submission_dir("raw", stored_id(sub)))
    if harmonised_rows > raw:  # a lookup with a duplicate key would multiply rows: a bug
        raise RuntimeError(f"submission {sub.id}: {harmonised_rows} harmonised rows from {raw} raw")
    return harmonised_rows < raw


def harmonise(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """raw -> harmonised/submission=<id> (common schema) + quarantine/submission=<id>."""
    return harmonise_batch(ctx, spark, [sub])[0]
