"""The stages, wired: submit -> parse -> harmonise -> validate -> resolve -> publish.

The CLI's `midex run`, the jobs in jobs/ and the Airflow DAG all call these functions. Each stage
reads its input, rewrites only its own output folder for its own submission, then commits by
changing the submission's status in the catalog.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from midex.catalog import (
    BATCH_RETRIED,
    INTERRUPTED,
    Catalog,
    Provider,
    ProviderKind,
    Release,
    Submission,
    SubmissionMode,
    SubmissionStatus,
    open_catalog,
    utcnow,
)
from midex.errors import BudgetExceeded, MidexError
from midex.findings import Finding, summarise, write_findings
from midex.formats import check_format, detect_format
from midex.isolation import Interrupted, read_isolated
from midex.lake import Lake
from midex.landing import LandedFile, land, local_copy
from midex.owners import owner_name
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
    # set when the process is stopping (the service on SIGTERM): a running stage is cut short
    # and recorded as interrupted, and no other stage starts
    stopping: threading.Event = field(default_factory=threading.Event)

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


@dataclass(frozen=True)
class Received:
    """What submitting a file gave: a new pending submission, or (`repeated`) the provider's
    latest submission when the file is the same bytes in the same mode (an upload retried)."""

    submission: Submission
    repeated: bool = False


def submit(
    ctx: Context,
    path: Path,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
) -> Submission:
    """Land `path` unchanged, record it as a pending submission of `provider_code` (always a new
    one: `receive` is the idempotent form the CLI and the service use).

    `mode` merge adds and revises; replace also withdraws the provider's earlier values within
    the scope the file covers (its indicators x areas x periods) that the file no longer has."""
    return receive(ctx, path, provider_code, fmt, mode, new=True).submission


def receive(
    ctx: Context,
    path: Path,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
    *,
    new: bool = False,
    detect: bool = True,
) -> Received:
    """Land `path` and register it (`register`). The format is checked against the closed list
    before anything is read; with detect=False an `auto` format is left for the parse stage to
    find (the service: nothing is parsed inside an HTTP request)."""
    if mode not in {m.value for m in SubmissionMode}:
        raise MidexError(f"unknown mode {mode!r}; use merge or replace")
    check_format(fmt)
    provider = ctx.catalog.provider(provider_code)
    landed = land(ctx.settings, Path(path), provider.code)
    return register(ctx, landed, provider.code, fmt, mode, new=new, detect=detect)


def register_landed(
    ctx: Context,
    landed: LandedFile,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
) -> Submission:
    """Record an already landed file as a new pending submission."""
    return register(ctx, landed, provider_code, fmt, mode, new=True).submission


def register(
    ctx: Context,
    landed: LandedFile,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
    *,
    new: bool = False,
    detect: bool = True,
) -> Received:
    """Record a landed file as a pending submission (submit, or a confirmed presigned upload).
    Unless `new`, the same bytes in the same mode as the provider's latest submission give that
    submission back (`repeated`): a retried upload queues nothing twice. Only the latest: the
    same bytes after another file are a deliberate revision and a new submission."""
    check_format(fmt)
    with ctx.catalog.lock("submit"):  # two identical uploads at once: one submission
        if not new:
            latest = ctx.catalog.latest_submission(provider_code)
            if (
                latest is not None
                and latest.sha256 == landed.sha256
                and str(latest.mode) == str(SubmissionMode(mode))
            ):
                return Received(latest, repeated=True)
        chosen = detect_format(landed.path) if fmt == "auto" and detect else fmt
        sub = ctx.catalog.add_submission(
            Submission(
                provider_code=provider_code,
                file_name=landed.file_name,
                format=chosen,
                sha256=landed.sha256,
                size_bytes=landed.size_bytes,
                landing_uri=landed.landing_uri,
                mode=SubmissionMode(mode),
            )
        )
    return Received(sub)


def _run_stage(ctx: Context, sub: Submission, stage: str, fn) -> Submission:  # type: ignore[no-untyped-def]
    """Run one stage with an audit record. A MidexError (bad input) rejects the submission with
    its message as an error finding; anything else marks it failed (rerunnable) and re-raises."""
    assert sub.id is not None
    if ctx.stopping.is_set():
        raise Interrupted(f"{stage} of submission {sub.id} not started: the process is stopping")
    run_id = ctx.catalog.start_stage(sub.id, stage)
    try:
        result = fn(sub)
    except Interrupted as exc:
        ctx.catalog.finish_stage(run_id, False, f"{INTERRUPTED}: {exc}")
        raise  # the submission keeps its status: the next run takes it up again
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
        if ctx.stopping.is_set():  # its Spark jobs were cancelled because the process stops
            ctx.catalog.finish_stage(run_id, False, f"{INTERRUPTED}: the process was stopping")
            raise Interrupted(
                f"{stage} of submission {sub.id} stopped: the process is stopping"
            ) from exc
        ctx.catalog.finish_stage(run_id, False, "".join(traceback.format_exception(exc))[-4000:])
        if isinstance(exc, BudgetExceeded):  # the provider's report says why too
            finding = Finding("error", "budget_exceeded", None, None, None, None, None, str(exc))
            write_findings(ctx.lake.findings_file(sub.id), [finding])
        ctx.catalog.update_submission(
            sub.id, status=SubmissionStatus.failed, error=f"{stage} failed: {exc}"
        )
        raise
    ctx.catalog.finish_stage(run_id, True)
    return result


def parse(ctx: Context, sub: Submission) -> Submission:
    """landing -> raw/submission=<id>: the file's rows as submitted strings, with lineage."""
    assert sub.id is not None
    settings = ctx.settings
    with (
        local_copy(settings, sub.landing_uri) as landed_path,
        read_isolated(
            landed_path,
            sub.format,
            sub.file_name,
            seconds=settings.parse_budget_s,
            memory_mb=settings.parse_memory_mb,
            workdir=settings.home / "work",
            stop=ctx.stopping,
        ) as parsed,
    ):
        table = parsed.table
        if table.num_rows == 0:
            raise MidexError(
                f"{sub.file_name}: the file has a header but no data rows; put the figures below "
                "the header, one row per value, and resubmit"
            )
        ctx.lake.write_arrow(table, ctx.lake.submission_dir("raw", sub.id))
    return ctx.catalog.update_submission(
        sub.id,
        status=SubmissionStatus.parsed,
        parsed_at=utcnow(),
        rows_raw=table.num_rows,
        notes=parsed.notes,
        error=None,
        format=parsed.format,  # what `auto` found, when the service left detection to parsing
    )


def _raw_has_lcu(ctx: Context, submission_id: int) -> bool:
    """currency.has_lcu_rows on the raw partition, read with pyarrow (the parse stage wrote it
    with pyarrow): a Spark job less per submission."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from midex.currency import lcu_spellings

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


def _read_batch(spark: SparkSession, ctx: Context, zone: str, subs: list[Submission]):  # type: ignore[no-untyped-def]
    """The `zone` partitions of `subs` as one frame; raw rows get SUBMISSION_ID from their path."""
    from pyspark.sql import functions as F

    paths = [str(ctx.lake.submission_dir(zone, s.id)) for s in subs]  # type: ignore[arg-type]
    df = spark.read.parquet(*paths)
    if "SUBMISSION_ID" not in df.columns:
        df = df.withColumn(
            "SUBMISSION_ID",
            F.regexp_extract(F.col("_metadata.file_path"), r"submission=(\d+)/", 1).cast("long"),
        )
    return df


def _write_batch(ctx: Context, df, zone: str, ids: list[int], empty: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Write `df` (rows of several submissions) in ONE Spark job, then swap each submission's
    part into `<zone>/submission=<id>/`, so each folder still changes all at once. `empty`:
    the caller knows `df` has no rows; no Spark job runs."""
    import uuid

    from pyspark.sql import functions as F

    staging = ctx.lake.root / zone / f".batch-{uuid.uuid4().hex[:8]}"
    try:
        if not empty:
            df.withColumn("_PART", F.col("SUBMISSION_ID")).write.partitionBy("_PART").parquet(
                str(staging)
            )
        for i in ids:
            part = staging / f"_PART={i}"
            target = ctx.lake.submission_dir(zone, i)
            if part.exists():
                ctx.lake.replace_dir(target, lambda tmp, part=part: os.replace(part, tmp))
                df.sparkSession.catalog.refreshByPath(str(target))
            else:  # no rows: an empty folder with the schema, as a one-submission write leaves
                ctx.lake.write_empty(df, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def harmonise_batch(ctx: Context, spark: SparkSession, subs: list[Submission]) -> list[Submission]:
    """raw -> harmonised/submission=<id> (common schema) + quarantine/submission=<id>, for
    every submission of `subs` in one Spark plan: per-submission cost is a few catalog rows,
    not a Spark job each."""
    from midex.currency import exchange_rates, fingerprint
    from midex.harmonise import SubmissionContext, build_mappings
    from midex.harmonise import harmonise as transform
    from midex.resolve import load_rules

    ids = [s.id for s in subs]
    assert all(i is not None for i in ids)
    raw = _read_batch(spark, ctx, "raw", subs)
    with_lcu = {s.id for s in subs if _raw_has_lcu(ctx, s.id)}  # type: ignore[arg-type]
    rates, rates_version = None, None
    if with_lcu:  # the latest accepted rates, once for the whole batch
        rates = exchange_rates(spark, ctx.lake, ctx.catalog).cache()
        rates_version = fingerprint(rates)
    maps = build_mappings(spark, ctx.schema, raw, rates, _raw_areas(ctx, ids))  # type: ignore[arg-type]
    rules = load_rules(ctx.schema)
    contexts = []
    for sub in subs:
        provider: Provider = ctx.catalog.provider(sub.provider_code)
        contexts.append(
            SubmissionContext(
                provider=provider.code,
                nature=NATURE_BY_KIND[ProviderKind(provider.kind)],
                submission_id=sub.id,  # type: ignore[arg-type]
                sha256=sub.sha256,
                mapping_version=ctx.schema.mapping_version,
                allowed_areas=rules.allowed_areas(str(provider.kind), provider.areas),
            )
        )
    good, bad = transform(raw, maps, contexts, ctx.schema)
    _write_batch(ctx, good, "harmonised", ids)  # type: ignore[arg-type]
    # Every raw row is harmonised or quarantined: a submission with fewer harmonised rows (the
    # Parquet footers) than parse counted has quarantined rows. The quarantine needs no Spark
    # pass when there are none (the usual case); otherwise the transform runs again over the
    # raw rows of those submissions only.
    harmonised = {
        s.id: ctx.lake.parquet_rows(ctx.lake.submission_dir("harmonised", s.id))  # type: ignore[arg-type]
        for s in subs
    }
    again = [s for s in subs if _quarantines(ctx, s, harmonised[s.id])]
    if again:
        short = {s.id for s in again}
        _, bad = transform(  # the quarantine, with the same columns, of those only
            _read_batch(spark, ctx, "raw", again),
            maps,
            [c for c in contexts if c.submission_id in short],
            ctx.schema,
        )
    _write_batch(ctx, bad, "quarantine", ids, empty=not again)  # type: ignore[arg-type]
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
        raw = ctx.lake.parquet_rows(ctx.lake.submission_dir("raw", sub.id))  # type: ignore[arg-type]
    if harmonised_rows > raw:  # a lookup with a duplicate key would multiply rows: a bug
        raise RuntimeError(f"submission {sub.id}: {harmonised_rows} harmonised rows from {raw} raw")
    return harmonised_rows < raw


def harmonise(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """raw -> harmonised/submission=<id> (common schema) + quarantine/submission=<id>."""
    return harmonise_batch(ctx, spark, [sub])[0]


def validate_batch(ctx: Context, spark: SparkSession, subs: list[Submission]) -> list[Submission]:
    """Great Expectations suites + quarantine problems -> findings; accept or reject each of
    `subs`. The suite runs once over all of them (its windows never mix submissions)."""
    from midex.validate import load_suite, quarantine_findings, run_suite_by_submission

    ids = [s.id for s in subs]
    suite = load_suite(ctx.settings.expectations / "harmonised.yaml", ctx.schema)
    harmonised = _read_batch(spark, ctx, "harmonised", subs)
    quarantine = _read_batch(spark, ctx, "quarantine", subs)
    found = run_suite_by_submission(
        harmonised, suite, ctx.schema, _previous_periods(ctx, spark, ids), ids
    )
    for sid, findings in quarantine_findings(quarantine, by_submission=True).items():
        found[sid] = findings + found.get(sid, [])
    return [_conclude(ctx, spark, sub, found.get(sub.id, [])) for sub in subs]  # type: ignore[arg-type]


def _previous_periods(ctx: Context, spark: SparkSession, ids: list[int]):  # type: ignore[no-untyped-def]
    """The lake's resolved observations that may supply the previous period to `ids`: the
    files of their areas only, when resolved/ is laid out by area (it is once resolved)."""
    from midex.resolve import read_state, submission_areas

    folder = ctx.lake.observations_dir()
    if not folder.exists():
        return None
    if read_state(ctx.lake) is None:
        return spark.read.parquet(str(folder))
    areas = set().union(*(submission_areas(ctx.lake, i) for i in ids))
    files = ctx.lake.area_files(folder, areas)
    return spark.read.parquet(*[str(f) for f in files]) if files else None


def _conclude(ctx: Context, spark: SparkSession, sub: Submission, findings: list[Finding]):  # type: ignore[no-untyped-def]
    """Write a submission's findings, flag its warned values, accept or reject it."""
    from midex.findings import sort_findings
    from midex.validate import flag_warnings

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


def _budgeted(spark: SparkSession, ctx: Context, what: str, fn, arg):  # type: ignore[no-untyped-def]
    """fn(ctx, spark, arg) within MIDEX_STAGE_BUDGET_S: a batch past it is retried one
    submission at a time, and the one that is still too slow alone ends `failed`, saying so."""
    from midex.spark import time_budget

    with time_budget(spark, ctx.settings.stage_budget_s, what):
        return fn(ctx, spark, arg)


def _run_batch_stage(ctx: Context, subs: list[Submission], stage: str, batch, single):  # type: ignore[no-untyped-def]
    """Run `stage` for every submission of `subs` at once, with an audit record each. If the
    batch fails, each submission is retried on its own, so one bad file never blocks the
    others and the catalog says which one failed. Returns (results, failure messages)."""
    if not subs:
        return [], []
    if len(subs) > 1:
        runs = [ctx.catalog.start_stage(s.id, stage) for s in subs]  # type: ignore[arg-type]
        try:
            results = batch(subs)
        except Exception as exc:
            if ctx.stopping.is_set():
                for run_id in runs:
                    ctx.catalog.finish_stage(
                        run_id, False, f"{INTERRUPTED}: the process was stopping"
                    )
                raise Interrupted(f"{stage} stopped: the process is stopping") from exc
            log.warning(
                "%s of %d submissions at once failed (%s); one at a time", stage, len(subs), exc
            )
            for run_id in runs:
                ctx.catalog.finish_stage(run_id, False, f"{BATCH_RETRIED}: {exc}")
        else:
            for run_id in runs:
                ctx.catalog.finish_stage(run_id, True)
            return results, []
    results, failures = [], []
    for sub in subs:
        try:
            results.append(_run_stage(ctx, sub, stage, single))
        except Interrupted:
            raise
        except Exception as exc:  # recorded as failed in the catalog by _run_stage
            failures.append(f"submission {sub.id}: {exc}")
            log.exception("submission %s failed", sub.id)
            results.append(ctx.catalog.submission(sub.id))  # type: ignore[arg-type]
    return results, failures


def _chunks(subs: list[Submission], max_rows: int) -> list[list[Submission]]:
    """Batches of submissions of at most `max_rows` raw rows together (a bigger file alone)."""
    out: list[list[Submission]] = []
    rows = 0
    for sub in subs:
        size = sub.rows_raw or 0
        if not out or rows + size > max_rows:
            out.append([])
            rows = 0
        out[-1].append(sub)
        rows += size
    return out


def process_batch(
    ctx: Context, spark: SparkSession, subs: list[Submission]
) -> tuple[list[Submission], list[str]]:
    """Take submissions from wherever they are to accepted or rejected: parse each file
    (pyarrow), then harmonise and validate them together — the agencies' first, then the
    others — in batches of at most MIDEX_BATCH_ROWS raw rows, one Spark plan per stage and
    batch. Only the submissions this process can claim are processed (`claimed`): two runs,
    workers or Airflow tasks never process one twice. Returns (the results of those, in the
    order given; failure messages)."""
    with claimed(ctx, subs) as mine:
        return _process_claimed(ctx, spark, mine)


@contextmanager
def claimed(ctx: Context, subs: list[Submission]) -> Iterator[list[Submission]]:
    """The submissions of `subs` this process could claim (the others are being processed by
    another `midex run`, worker or Airflow task, and are skipped, with a log line), their claims
    renewed in the background while the block runs and released when it ends."""
    owner = owner_name()
    lease = ctx.settings.claim_lease_s
    ids = ctx.catalog.claim([s.id for s in subs if s.id is not None], owner, lease)
    skipped = [s.id for s in subs if s.id not in ids]
    if skipped:
        log.info("submissions %s are being processed by another process: skipped", skipped)
    # what is claimed now has no other live worker: a stage run still open was interrupted
    ctx.catalog.close_interrupted_stages(ids)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            ctx.catalog.renew_claims(owner, lease)

    keeper = threading.Thread(target=renew, name="midex-claims", daemon=True)
    keeper.start()
    try:
        # re-read: what was pending when listed may have moved on in another process
        yield [ctx.catalog.submission(i) for i in ids]
    finally:
        stop.set()
        keeper.join()
        ctx.catalog.release_claims(owner)


def _process_claimed(
    ctx: Context, spark: SparkSession, subs: list[Submission]
) -> tuple[list[Submission], list[str]]:
    from midex.validate import import_in_background

    subs = [s for s in subs if s.status in SubmissionStatus.pending()]
    if subs:
        import_in_background()  # overlaps parsing and harmonisation
    by_id: dict[int, Submission] = {}
    failures: list[str] = []
    for sub in subs:
        assert sub.id is not None
        if sub.status == SubmissionStatus.failed:
            sub = ctx.catalog.update_submission(sub.id, status=SubmissionStatus.received)
        if sub.status == SubmissionStatus.received:
            try:
                sub = _run_stage(ctx, sub, "parse", lambda s: parse(ctx, s))
            except Interrupted:
                raise
            except Exception as exc:
                failures.append(f"submission {sub.id}: {exc}")
                log.exception("submission %s failed", sub.id)
                sub = ctx.catalog.submission(sub.id)
        by_id[sub.id] = sub  # type: ignore[index]
    # Agencies first: their exchange rates, once accepted, convert the local-currency values of
    # the national submissions of the same run (as if they had been processed one by one).
    agencies = {p.code for p in ctx.catalog.providers() if p.kind == ProviderKind.agency}
    waves = [
        {i for i, s in by_id.items() if s.provider_code in agencies},
        {i for i, s in by_id.items() if s.provider_code not in agencies},
    ]
    for wave in waves:
        for status, stage, batch_fn, single_fn in (
            (SubmissionStatus.parsed, "harmonise", harmonise_batch, harmonise),
            (SubmissionStatus.harmonised, "validate", validate_batch, validate),
        ):
            todo = [s for i, s in by_id.items() if i in wave and s.status == status]
            for chunk in _chunks(todo, ctx.settings.batch_rows):
                done, failed = _run_batch_stage(
                    ctx,
                    chunk,
                    stage,
                    lambda c, fn=batch_fn, st=stage: _budgeted(
                        spark, ctx, f"{st} of submissions {[s.id for s in c]}", fn, c
                    ),
                    lambda s, fn=single_fn, st=stage: _budgeted(
                        spark, ctx, f"{st} of submission {s.id} ({s.file_name})", fn, s
                    ),
                )
                failures += failed
                by_id.update({s.id: s for s in done})  # type: ignore[misc]
    return [by_id[s.id] for s in subs], failures  # type: ignore[index]


def process(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """Take one submission from wherever it is to accepted or rejected; raises if a stage
    failed (the catalog then says `failed`, and a rerun resumes it)."""
    results, failures = process_batch(ctx, spark, [sub])
    if failures:
        raise RuntimeError(failures[0])
    if not results:
        return ctx.catalog.submission(sub.id)  # type: ignore[arg-type]  # another process has it
    return results[0]


def resolution(ctx: Context, spark: SparkSession, as_of: datetime | None = None, only=None):  # type: ignore[no-untyped-def]
    """The resolved tables (observations, observations_all, source_disagreements) as they were
    at `as_of` by acceptance time (default: now), computed from the harmonised partitions of the
    submissions accepted by then (`only`: of some areas); None if there are none. Reads only;
    writes nothing."""
    from midex.resolve import resolve_lake

    return resolve_lake(spark, ctx.lake, ctx.catalog, ctx.schema, as_of, only)


def resolve(ctx: Context, spark: SparkSession) -> int:
    """`_resolve` under the catalog's resolve lock: one resolution at a time, never while a
    release reads resolved/."""
    with ctx.catalog.lock("resolve"):
        return _resolve(ctx, spark)


def _resolve(ctx: Context, spark: SparkSession) -> int:
    """Bring resolved/{observations,observations_all,source_disagreements} up to date with every
    accepted submission (harmonised partitions are only read); mark them resolved.

    Incremental: only the areas that changed are resolved again — those the newly accepted (or
    reprocessed) submissions hold rows of, now or before, and those of submissions no longer
    accepted — one file per area, the other areas' files kept. So a national provider's
    submission costs what its area costs, not what the lake holds. A full resolution runs when
    resolved/ does not say what it was built from (`_state.json`, or another mapping version),
    or when the change touches most areas."""
    from midex.resolve import (
        RESOLVED_TABLES,
        AreaScope,
        read_state,
        resolved_dir,
        submission_areas,
        write_state,
    )

    accepted = ctx.catalog.submissions((SubmissionStatus.accepted,))
    state = read_state(ctx.lake, ctx.schema.mapping_version)
    before = state or {}
    new = [s for s in accepted if s.resolved_at is None or s.id not in before]
    gone = set(before) - {s.id for s in accepted}
    index = {s.id: before[s.id] for s in accepted if s.id in before}
    index.update({s.id: submission_areas(ctx.lake, s.id) for s in new})  # type: ignore[misc, arg-type]
    touched: set[str] = set()
    for sid in [s.id for s in new] + sorted(gone):
        touched |= index.get(sid, set()) | before.get(sid, set())  # type: ignore[arg-type]
    known = set().union(*before.values(), *index.values())
    incremental = (
        state is not None
        and all(resolved_dir(ctx.lake, n).exists() for n in RESOLVED_TABLES)
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
                shutil.rmtree(resolved_dir(ctx.lake, name), ignore_errors=True)
    if result is not None:
        result.versions.cache()  # the three tables derive from it: annotate once
        try:
            for name, df in result.tables(sort=False).items():
                ctx.lake.write_spark_by_area(
                    df,
                    resolved_dir(ctx.lake, name),
                    "REF_AREA",
                    result.order[name],
                    areas=touched if incremental else None,
                    clustered=name in result.clustered,
                )
        finally:
            result.versions.unpersist()
    write_state(ctx.lake, index, ctx.schema.mapping_version)  # type: ignore[arg-type]
    rows = ctx.lake.parquet_rows(ctx.lake.observations_dir())  # footers: no Spark job
    now = utcnow()
    for s in accepted:
        if s.resolved_at is None:
            ctx.catalog.update_submission(s.id, resolved_at=now)  # type: ignore[arg-type]
    return rows


def pending(ctx: Context, submission_id: int | None = None) -> list[Submission]:
    """The submissions a run takes: the one named, or every pending one except those whose
    processing crashed MIDEX_MAX_ATTEMPTS times (a poisoned file is not retried on every
    restart; naming it, `midex run --submission ID` or the retry endpoint, tries it again)."""
    if submission_id is not None:
        return [ctx.catalog.submission(submission_id)]
    subs = ctx.catalog.submissions(SubmissionStatus.pending())
    failed = [s.id for s in subs if s.status == SubmissionStatus.failed and s.id is not None]
    attempts = ctx.catalog.failed_attempts(failed)
    limit = ctx.settings.max_attempts
    given_up = [i for i in failed if attempts.get(i, 0) >= limit]
    if given_up:
        log.warning(
            "submissions %s failed %d times and are not retried automatically; "
            "`midex run --submission ID` retries one",
            given_up,
            limit,
        )
    return [s for s in subs if s.id not in given_up]


def needs_resolve(ctx: Context) -> bool:
    return any(s.resolved_at is None for s in ctx.catalog.submissions((SubmissionStatus.accepted,)))


def run(
    ctx: Context, spark: SparkSession, submission_id: int | None = None
) -> tuple[list[Submission], list[str]]:
    """Process pending submissions (or one), then resolve. Returns (results, failure messages);
    one submission's failure never stops the others."""
    results, failures = process_batch(ctx, spark, pending(ctx, submission_id))
    agencies = {p.code for p in ctx.catalog.providers() if p.kind == ProviderKind.agency}
    if any(s.status == SubmissionStatus.accepted and s.provider_code in agencies for s in results):
        # new exchange rates may have arrived: convert the LCU rows that were waiting for them
        _reprocess(ctx, spark, lambda s: s.rates_version is not None)
    if needs_resolve(ctx):
        resolve(ctx, spark)
    return results, failures


def _indicators_of(ctx: Context, sub: Submission) -> set[str]:
    """Canonical indicator codes a submission's raw rows name (aliases mapped)."""
    import pyarrow.parquet as pq

    lookup = ctx.schema.indicators.lookup()
    names = pq.read_table(ctx.lake.submission_dir("raw", sub.id), columns=["INDICATOR"])  # type: ignore[arg-type]
    return {
        lookup[v.strip().upper()]
        for v in names.column("INDICATOR").unique().to_pylist()
        if v and v.strip().upper() in lookup
    }


def _stale(ctx: Context, spark: SparkSession, subs: list[Submission]) -> list[Submission]:
    """Those harmonised with another mapping version, or whose LCU rows were converted (or
    left waiting) with other exchange rates than the current ones."""
    out = [s for s in subs if s.mapping_version != ctx.schema.mapping_version]
    seen = {s.id for s in out}
    with_lcu = [s for s in subs if s.id not in seen and s.rates_version is not None]
    if with_lcu:
        from midex.currency import exchange_rates, fingerprint

        current = fingerprint(exchange_rates(spark, ctx.lake, ctx.catalog))
        out += [s for s in with_lcu if s.rates_version != current]
    return sorted(out, key=lambda s: s.id or 0)


def _reprocess(ctx: Context, spark: SparkSession, selected) -> list[int]:  # type: ignore[no-untyped-def]
    """Re-harmonise and re-validate the stale submissions `selected` keeps, until none is left
    (a reprocessed rates file can make others stale). The acceptance time of a submission that
    stays accepted is kept: a mapping change is not a revision by its provider. The previous
    harmonised partition is archived, not lost."""

    done: list[int] = []
    for _ in range(3):
        candidates = [
            s
            for s in ctx.catalog.submissions((SubmissionStatus.accepted, SubmissionStatus.rejected))
            if s.id not in done and ctx.lake.submission_dir("raw", s.id).exists() and selected(s)  # type: ignore[arg-type]
        ]
        stale = _stale(ctx, spark, candidates)
        if not stale:
            break
        before = {}
        parsed: list[Submission] = []
        for sub in stale:
            assert sub.id is not None
            old = ctx.lake.submission_dir("harmonised", sub.id)
            if old.exists():
                version = f"mapping={sub.mapping_version}-rates={sub.rates_version}"
                archive = ctx.lake.root / "archive" / "harmonised" / old.name / version
                if not archive.exists():
                    shutil.copytree(old, archive)
            before[sub.id] = sub.accepted_at
            # resolved_at None: resolution takes its areas (old and new) in again
            parsed.append(
                ctx.catalog.update_submission(
                    sub.id, status=SubmissionStatus.parsed, resolved_at=None
                )
            )
        results, failures = process_batch(ctx, spark, parsed)
        for sub in results:
            accepted_at = before[sub.id]
            if accepted_at is not None and sub.status == SubmissionStatus.accepted:
                ctx.catalog.update_submission(sub.id, accepted_at=accepted_at)  # type: ignore[arg-type]
            done.append(sub.id)  # type: ignore[arg-type]
        if failures:
            raise RuntimeError("; ".join(failures))
    return done


def reprocess(
    ctx: Context,
    spark: SparkSession,
    provider: str | None = None,
    indicator: str | None = None,
    all_: bool = False,
) -> list[int]:
    """Re-harmonise the submissions a mapping change (or a new exchange rate) affects, within
    the scope given (a provider, an indicator, or all), then resolve again. Idempotent: a second
    run finds nothing stale and returns []. Returns the reprocessed submission ids."""
    from midex.errors import UsageError

    if not (provider or indicator or all_):
        raise UsageError("say what to reprocess: --provider P, --indicator I, or --all")
    if provider:
        provider = ctx.catalog.provider(provider).code
    code = None
    if indicator:
        code = ctx.schema.indicators.lookup().get(indicator.strip().upper())
        if code is None:
            raise MidexError(f"unknown indicator {indicator!r}; use a code from indicators.yaml")

    def selected(sub: Submission) -> bool:
        if provider and sub.provider_code != provider:
            return False
        return code is None or code in _indicators_of(ctx, sub)

    done = _reprocess(ctx, spark, selected)
    if done:
        resolve(ctx, spark)
    return done


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
    from midex.release import publish as publish_release

    with ctx.catalog.lock("release"), ctx.catalog.lock("resolve"):
        if as_of is None and needs_resolve(ctx):
            log.info("resolving accepted submissions not yet in observations before publishing")
            _resolve(ctx, spark)
        return publish_release(
            spark,
            ctx.lake,
            ctx.catalog,
            ctx.schema,
            as_of=as_of,
            embargo_until=embargo_until,
            expectations=ctx.settings.expectations,
        )


def parse_stage(ctx: Context, submission_id: int) -> Submission:
    """The parse stage alone (no Spark), for the DAG: received/failed -> parsed or rejected."""
    with claimed(ctx, [ctx.catalog.submission(submission_id)]) as mine:
        if not mine:  # another process is processing it
            return ctx.catalog.submission(submission_id)
        sub = mine[0]
        if sub.status == SubmissionStatus.failed:
            sub = ctx.catalog.update_submission(submission_id, status=SubmissionStatus.received)
        if sub.status == SubmissionStatus.received:
            sub = _run_stage(ctx, sub, "parse", lambda s: parse(ctx, s))
        return sub
