"""The stages, wired: submit -> parse -> harmonise -> validate -> resolve -> publish.

The CLI's `midex run`, the jobs in jobs/ and the Airflow DAG all call these functions. Each stage
reads its input, rewrites only its own output folder for its own submission, then commits by
changing the submission's status in the catalog.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from midex.catalog import (
    Catalog,
    Provider,
    ProviderKind,
    Release,
    Submission,
    SubmissionStatus,
    open_catalog,
    utcnow,
)
from midex.errors import MidexError
from midex.findings import Finding, summarise, write_findings
from midex.formats import detect_format, format_names, read_submission
from midex.lake import Lake
from midex.landing import land_file
from midex.schema import Schema, load_schema
from midex.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("midex")

NATURE_BY_KIND = {ProviderKind.national: "C", ProviderKind.agency: "G"}


@dataclass
class Context:
    """What every stage needs: settings, catalog, lake and schema."""

    settings: Settings
    catalog: Catalog
    lake: Lake
    schema: Schema

    @classmethod
    def open(cls, settings: Settings | None = None) -> Context:
        settings = settings or get_settings()
        catalog = open_catalog(settings.catalog_url)
        assert settings.lake is not None
        return cls(settings, catalog, Lake(settings.lake), load_schema(settings.schemas))


def init(ctx: Context) -> None:
    """Create the catalog tables, the lake zones and the landing folder; idempotent."""
    ctx.settings.home.mkdir(parents=True, exist_ok=True)
    ctx.catalog.init()
    ctx.lake.init()
    assert ctx.settings.landing is not None
    ctx.settings.landing.mkdir(parents=True, exist_ok=True)


def submit(ctx: Context, path: Path, provider_code: str, fmt: str = "auto") -> Submission:
    """Land `path` unchanged, record it as a pending submission of `provider_code`."""
    if fmt not in format_names() and not fmt.startswith("layout:"):
        raise MidexError(f"unknown format {fmt!r}; use one of {', '.join(format_names())}")
    provider = ctx.catalog.provider(provider_code)
    assert ctx.settings.landing is not None
    landed = land_file(Path(path), ctx.settings.landing, provider.code)
    chosen = detect_format(landed.path) if fmt == "auto" else fmt
    return ctx.catalog.add_submission(
        Submission(
            provider_code=provider.code,
            file_name=landed.file_name,
            format=chosen,
            sha256=landed.sha256,
            size_bytes=landed.size_bytes,
            landing_uri=str(landed.path),
        )
    )


def _run_stage(ctx: Context, sub: Submission, stage: str, fn) -> Submission:  # type: ignore[no-untyped-def]
    """Run one stage with an audit record. A MidexError (bad input) rejects the submission with
    its message as an error finding; anything else marks it failed (rerunnable) and re-raises."""
    assert sub.id is not None
    run_id = ctx.catalog.start_stage(sub.id, stage)
    try:
        result = fn(sub)
    except MidexError as exc:
        ctx.catalog.finish_stage(run_id, False, str(exc))
        finding = Finding("error", "file_unreadable", None, None, None, None, None, str(exc))
        write_findings(ctx.lake.findings_file(sub.id), [finding])
        return ctx.catalog.update_submission(
            sub.id,
            status=SubmissionStatus.rejected,
            error=str(exc),
            errors=1,
            warnings=0,
            validated_at=utcnow(),
            validation=summarise([finding]),
        )
    except Exception as exc:
        ctx.catalog.finish_stage(run_id, False, "".join(traceback.format_exception(exc))[-4000:])
        ctx.catalog.update_submission(
            sub.id, status=SubmissionStatus.failed, error=f"{stage} failed: {exc}"
        )
        raise
    ctx.catalog.finish_stage(run_id, True)
    return result


def parse(ctx: Context, sub: Submission) -> Submission:
    """landing -> raw/submission=<id>: the file's rows as submitted strings, with lineage."""
    assert sub.id is not None
    parsed = read_submission(Path(sub.landing_uri), sub.format, sub.file_name)
    table = parsed.table
    if table.num_rows == 0:
        raise MidexError(f"{sub.file_name}: the file has a header but no data rows")
    ctx.lake.write_arrow(table, ctx.lake.submission_dir("raw", sub.id))
    return ctx.catalog.update_submission(
        sub.id,
        status=SubmissionStatus.parsed,
        parsed_at=utcnow(),
        rows_raw=table.num_rows,
        notes=parsed.notes,
        error=None,
    )


def harmonise(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """raw -> harmonised/submission=<id> (common schema) + quarantine/submission=<id>."""
    from midex.harmonise import SubmissionContext, build_mappings
    from midex.harmonise import harmonise as transform

    assert sub.id is not None
    provider: Provider = ctx.catalog.provider(sub.provider_code)
    raw = spark.read.parquet(str(ctx.lake.submission_dir("raw", sub.id)))
    maps = build_mappings(spark, ctx.schema, raw)
    sctx = SubmissionContext(
        provider=provider.code,
        nature=NATURE_BY_KIND[ProviderKind(provider.kind)],
        submission_id=sub.id,
        sha256=sub.sha256,
        mapping_version=ctx.schema.mapping_version,
        allowed_areas=tuple(provider.areas) if provider.kind == ProviderKind.national else (),
    )
    good, bad = transform(raw, maps, sctx, ctx.schema)
    ctx.lake.write_spark(good, ctx.lake.submission_dir("harmonised", sub.id), partitions=1)
    ctx.lake.write_spark(bad, ctx.lake.submission_dir("quarantine", sub.id), partitions=1)
    rows_good = spark.read.parquet(str(ctx.lake.submission_dir("harmonised", sub.id))).count()
    rows_bad = spark.read.parquet(str(ctx.lake.submission_dir("quarantine", sub.id))).count()
    return ctx.catalog.update_submission(
        sub.id,
        status=SubmissionStatus.harmonised,
        harmonised_at=utcnow(),
        rows_harmonised=rows_good,
        rows_quarantined=rows_bad,
        mapping_version=ctx.schema.mapping_version,
    )


def validate(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """Great Expectations suites + quarantine problems -> findings; accept or reject."""
    from midex.validate import load_suite, quarantine_findings, run_suite

    assert sub.id is not None
    suite = load_suite(ctx.settings.expectations / "harmonised.yaml", ctx.schema)
    harmonised = spark.read.parquet(str(ctx.lake.submission_dir("harmonised", sub.id)))
    quarantine = spark.read.parquet(str(ctx.lake.submission_dir("quarantine", sub.id)))
    findings = quarantine_findings(quarantine) + run_suite(harmonised, suite, ctx.schema)
    findings.sort(key=lambda f: (f.row is None, f.row or 0, f.rule))
    write_findings(ctx.lake.findings_file(sub.id), findings)
    summary = summarise(findings)
    accepted = summary["errors"] == 0
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


def process(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """Take one submission from wherever it is to accepted or rejected."""
    if sub.status == SubmissionStatus.failed:
        sub = ctx.catalog.update_submission(sub.id, status=SubmissionStatus.received)  # type: ignore[arg-type]
    if sub.status == SubmissionStatus.received:
        sub = _run_stage(ctx, sub, "parse", lambda s: parse(ctx, s))
    if sub.status == SubmissionStatus.parsed:
        sub = _run_stage(ctx, sub, "harmonise", lambda s: harmonise(ctx, spark, s))
    if sub.status == SubmissionStatus.harmonised:
        sub = _run_stage(ctx, sub, "validate", lambda s: validate(ctx, spark, s))
    return sub


def resolve(ctx: Context, spark: SparkSession) -> int:
    """Rebuild `observations` from every accepted submission; mark them resolved."""
    from midex.resolve import resolve_observations

    accepted = ctx.catalog.submissions((SubmissionStatus.accepted,))
    if not accepted:
        return 0
    paths = [str(ctx.lake.submission_dir("harmonised", s.id)) for s in accepted]  # type: ignore[arg-type]
    harmonised = spark.read.parquet(*paths)
    acceptance = spark.createDataFrame(
        [(s.id, s.accepted_at) for s in accepted], "SUBMISSION_ID long, ACCEPTED_AT timestamp"
    )
    observations = resolve_observations(harmonised, acceptance, ctx.schema.series_key)
    ctx.lake.write_spark(observations, ctx.lake.observations_dir())
    rows = spark.read.parquet(str(ctx.lake.observations_dir())).count()
    now = utcnow()
    for s in accepted:
        if s.resolved_at is None:
            ctx.catalog.update_submission(s.id, resolved_at=now)  # type: ignore[arg-type]
    return rows


def pending(ctx: Context, submission_id: int | None = None) -> list[Submission]:
    if submission_id is not None:
        return [ctx.catalog.submission(submission_id)]
    return ctx.catalog.submissions(SubmissionStatus.pending())


def needs_resolve(ctx: Context) -> bool:
    return any(s.resolved_at is None for s in ctx.catalog.submissions((SubmissionStatus.accepted,)))


def run(
    ctx: Context, spark: SparkSession, submission_id: int | None = None
) -> tuple[list[Submission], list[str]]:
    """Process pending submissions (or one), then resolve. Returns (results, failure messages);
    one submission's failure never stops the others."""
    results: list[Submission] = []
    failures: list[str] = []
    for sub in pending(ctx, submission_id):
        try:
            results.append(process(ctx, spark, sub))
        except Exception as exc:  # recorded as failed in the catalog by _run_stage
            failures.append(f"submission {sub.id}: {exc}")
            log.exception("submission %s failed", sub.id)
    if needs_resolve(ctx):
        resolve(ctx, spark)
    return results, failures


def publish(ctx: Context, spark: SparkSession, as_of: datetime | None = None) -> Release:
    from midex.release import publish as publish_release

    return publish_release(spark, ctx.lake, ctx.catalog, ctx.schema, as_of=as_of)


def parse_stage(ctx: Context, submission_id: int) -> Submission:
    """The parse stage alone (no Spark), for the DAG: received/failed -> parsed or rejected."""
    sub = ctx.catalog.submission(submission_id)
    if sub.status == SubmissionStatus.failed:
        sub = ctx.catalog.update_submission(submission_id, status=SubmissionStatus.received)
    if sub.status == SubmissionStatus.received:
        sub = _run_stage(ctx, sub, "parse", lambda s: parse(ctx, s))
    return sub
