"""Validate: the suites over harmonised/ -> findings; accept or reject each submission."""

from __future__ import annotations

from typing import TYPE_CHECKING

from midex.contract.clock import utcnow
from midex.contract.findings import Finding, sort_findings, summarise, write_findings
from midex.storage.catalog import Submission, SubmissionStatus, stored_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
from midex.stages.batch import read_batch
from midex.stages.context import Context


def validate_batch(ctx: Context, spark: SparkSession, subs: list[Submission]) -> list[Submission]:
    """Great Expectations suites + quarantine problems -> findings; accept or reject each of
    `subs`. The suite runs once over all of them (its windows never mix submissions)."""
    from midex.quality.validate import load_suite, quarantine_findings, run_suite_by_submission

    ids = [stored_id(s) for s in subs]
    suite = load_suite(ctx.settings.expectations / "harmonised.yaml", ctx.schema)
    harmonised = read_batch(spark, ctx, "harmonised", subs)
    quarantine = read_batch(spark, ctx, "quarantine", subs)
    found = run_suite_by_submission(
        harmonised, suite, ctx.schema, _previous_periods(ctx, spark, ids), ids
    )
    for sid, findings in quarantine_findings(quarantine, by_submission=True).items():
        found[sid] = findings + found.get(sid, [])
    return [_conclude(ctx, spark, sub, found.get(stored_id(sub), [])) for sub in subs]


def _previous_periods(ctx: Context, spark: SparkSession, ids: list[int]) -> DataFrame | None:
    """The lake's resolved observations that may supply the previous period to `ids`: the
    files of their areas only, when resolved/ is laid out by area (it is once resolved)."""
    folder = ctx.lake.observations_dir()
    if not folder.exists():
        return None
    if ctx.lake.resolved_state() is None:
        return spark.read.parquet(str(folder))
    areas = set().union(*(ctx.lake.submission_areas(i) for i in ids))
    files = ctx.lake.area_files(folder, areas)
    return spark.read.parquet(*[str(f) for f in files]) if files else None


def _conclude(
    ctx: Context, spark: SparkSession, sub: Submission, findings: list[Finding]
) -> Submission:
    """Write a submission's findings, flag its warned values, accept or reject it."""
    from midex.quality.validate import flag_warnings

    assert sub.id is not None
    findings = sort_findings(findings)
    write_findings(ctx.lake.findings_file(sub.id), findings)
    summary = summarise(findings)
    accepted = summary["errors"] == 0
    if accepted and summary["warnings"]:
        # the warning-flagged values carry their flags into the lake
        harmonised_dir = ctx.lake.submission_dir("harmonised", sub.id)
        flagged = flag_warnings(spark.read.parquet(str(harmonised_dir)), findings, ctx.schema)
        ctx.lake.write_spark(flagged, harmonised_dir, partitions=1)
    now = utcnow()
    return ctx.catalog.update_submission(
        sub.id,
        status=SubmissionStatus.accepted if accepted else SubmissionStatus.rejected,
        validated_at=now,
        accepted_at=now if accepted else None,
        errors=summary["errors"],
        warnings=summary["warnings"],
        validation=summary,
        error=None if accepted else f"{summary['errors']} error finding(s); see `midex status`",
    )


def validate(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """Great Expectations suites + quarantine problems -> findings; accept or reject."""
    return validate_batch(ctx, spark, [sub])[0]
