"""The runner: take pending submissions through parse, harmonise and validate in batches (agencies first), then resolve; reprocess after a mapping change."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from midex.contract.errors import MidexError, UsageError
from midex.formats.isolation import Interrupted
from midex.storage.catalog import (
    BATCH_RETRIED,
    DIED_IN_BATCH,
    INTERRUPTED,
    PROCESS_DIED,
    RUNNING_ALONE,
    ProviderKind,
    StageRun,
    Submission,
    SubmissionStatus,
    stored_id,
)

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import SparkSession
from midex.stages.claims import claimed
from midex.stages.context import Context
from midex.stages.harmonise import exchange_rates, harmonise, harmonise_batch
from midex.stages.parse import parse
from midex.stages.record import run_stage
from midex.stages.resolve import needs_resolve, resolve
from midex.stages.validate import validate, validate_batch

log = logging.getLogger("midex")

T = TypeVar("T")
R = TypeVar("R")


def _budgeted(
    spark: SparkSession,
    ctx: Context,
    what: str,
    fn: Callable[[Context, SparkSession, T], R],
    arg: T,
) -> R:
    """fn(ctx, spark, arg) within MIDEX_STAGE_BUDGET_S: a batch past it is retried one
    submission at a time, and the one that is still too slow alone ends `failed`, saying so."""
    from midex.runtime.spark import time_budget

    with time_budget(spark, ctx.settings.stage_budget_s, what):
        return fn(ctx, spark, arg)


def _run_batch_stage(
    ctx: Context,
    subs: list[Submission],
    stage: str,
    batch: Callable[[list[Submission]], list[Submission]],
    single: Callable[[Submission], Submission],
) -> tuple[list[Submission], list[str]]:
    """Run `stage` for every submission of `subs` at once, with an audit record each. If the
    batch fails, each submission is retried on its own, so one bad file never blocks the
    others and the catalog says which one failed. Returns (results, failure messages)."""
    if not subs:
        return [], []
    if len(subs) > 1:
        runs = [ctx.catalog.start_stage(stored_id(s), stage) for s in subs]
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
            results.append(run_stage(ctx, sub, stage, single))
        except Interrupted:
            raise
        except Exception as exc:  # recorded as failed in the catalog by run_stage
            failures.append(f"submission {sub.id}: {exc}")
            log.exception("submission %s failed", sub.id)
            results.append(ctx.catalog.submission(stored_id(sub)))
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
        results, failures = _process_claimed(ctx, spark, mine.subs)
    # those given up (a process died with them once too often) are failed results too
    failures += [f"submission {stored_id(s)}: {s.error}" for s in mine.given_up]
    out = {stored_id(s): s for s in [*results, *mine.given_up]}
    return [out[i] for i in map(stored_id, subs) if i in out], failures


def alone_rank(run: StageRun | None) -> int:
    """0: process with others; 1: the submission's latest stage run ended with the death of a
    process that ran it in a batch (or a batch's run still open); 2: with the death of a
    process that ran it alone (or such a run still open): the likeliest cause of the death.
    Those ranked 1 or 2 are processed alone, after the others, 2 last."""
    if run is None:
        return 0
    message = run.message or ""
    if run.finished_at is None:
        return 2 if message == RUNNING_ALONE else 1
    if message.startswith(PROCESS_DIED):
        return 2
    return 1 if message.startswith(DIED_IN_BATCH) else 0


def suspects_last(ctx: Context, subs: list[Submission]) -> list[Submission]:
    """`subs` in their order, except that those whose latest stage run a process left by
    dying come after the others (alone_rank): one file that kills the process does not hold
    back the files behind it until it has failed MIDEX_MAX_ATTEMPTS times."""
    latest = ctx.catalog.latest_stage_runs([stored_id(s) for s in subs])
    return sorted(subs, key=lambda s: alone_rank(latest.get(stored_id(s))))


def _process_claimed(
    ctx: Context, spark: SparkSession, subs: list[Submission]
) -> tuple[list[Submission], list[str]]:
    from midex.quality.validate import import_in_background

    subs = [s for s in subs if s.status in SubmissionStatus.pending()]
    if subs:
        import_in_background()  # overlaps parsing and harmonisation
    # Those a process died with (kill -9, the OOM killer) go after the others, each through
    # every stage alone: a batch's death is no one's in particular, a death while one
    # submission ran alone is that one's (record.give_up_after_deaths).
    latest = ctx.catalog.latest_stage_runs([stored_id(s) for s in subs])
    rank = {i: r for i in map(stored_id, subs) if (r := alone_rank(latest.get(i)))}
    if rank:
        log.warning(
            "submissions %s: a process died while it processed them; each is processed alone, "
            "after the others",
            sorted(rank),
        )
    suspects = sorted((s for s in subs if stored_id(s) in rank), key=lambda s: rank[stored_id(s)])
    groups = [[s for s in subs if stored_id(s) not in rank], *([s] for s in suspects)]
    by_id: dict[int, Submission] = {}
    failures: list[str] = []
    for group in groups:
        done, failed = _through_stages(ctx, spark, group)
        by_id.update({stored_id(s): s for s in done})
        failures += failed
    return [by_id[stored_id(s)] for s in subs], failures


def _through_stages(
    ctx: Context, spark: SparkSession, subs: list[Submission]
) -> tuple[list[Submission], list[str]]:
    """Parse, then harmonise and validate `subs` together (in batches), agencies first."""
    by_id: dict[int, Submission] = {}
    failures: list[str] = []
    for sub in subs:
        assert sub.id is not None
        if sub.status == SubmissionStatus.failed:
            sub = ctx.catalog.update_submission(sub.id, status=SubmissionStatus.received)
        if sub.status == SubmissionStatus.received:
            try:
                sub = run_stage(ctx, sub, "parse", lambda s: parse(ctx, s))
            except Interrupted:
                raise
            except Exception as exc:
                failures.append(f"submission {sub.id}: {exc}")
                log.exception("submission %s failed", sub.id)
                sub = ctx.catalog.submission(stored_id(sub))
        by_id[stored_id(sub)] = sub
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

                def run_batch(
                    c: list[Submission],
                    fn: Callable[[Context, SparkSession, list[Submission]], list[Submission]] = (
                        batch_fn
                    ),
                    st: str = stage,
                ) -> list[Submission]:
                    return _budgeted(spark, ctx, f"{st} of submissions {[s.id for s in c]}", fn, c)

                def run_single(
                    s: Submission,
                    fn: Callable[[Context, SparkSession, Submission], Submission] = single_fn,
                    st: str = stage,
                ) -> Submission:
                    return _budgeted(
                        spark, ctx, f"{st} of submission {s.id} ({s.file_name})", fn, s
                    )

                done, failed = _run_batch_stage(ctx, chunk, stage, run_batch, run_single)
                failures += failed
                by_id.update({stored_id(s): s for s in done})
    return [by_id[stored_id(s)] for s in subs], failures


def process(ctx: Context, spark: SparkSession, sub: Submission) -> Submission:
    """Take one submission from wherever it is to accepted or rejected; raises if a stage
    failed (the catalog then says `failed`, and a rerun resumes it)."""
    results, failures = process_batch(ctx, spark, [sub])
    if failures:
        raise RuntimeError(failures[0])
    if not results:
        return ctx.catalog.submission(stored_id(sub))  # another process has it
    return results[0]


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
    names = pq.read_table(ctx.lake.submission_dir("raw", stored_id(sub)), columns=["INDICATOR"])
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
        from midex.transforms.currency import fingerprint

        current = fingerprint(exchange_rates(ctx, spark))
        out += [s for s in with_lcu if s.rates_version != current]
    return sorted(out, key=lambda s: s.id or 0)


def _reprocess(
    ctx: Context, spark: SparkSession, selected: Callable[[Submission], bool]
) -> list[int]:
    """Re-harmonise and re-validate the stale submissions `selected` keeps, until none is left
    (a reprocessed rates file can make others stale). The acceptance time of a submission that
    stays accepted is kept: a mapping change is not a revision by its provider. The previous
    harmonised partition is archived, not lost."""

    done: list[int] = []
    for _ in range(3):
        candidates = [
            s
            for s in ctx.catalog.submissions((SubmissionStatus.accepted, SubmissionStatus.rejected))
            if s.id not in done
            and ctx.lake.submission_dir("raw", stored_id(s)).exists()
            and selected(s)
        ]
        stale = _stale(ctx, spark, candidates)
        if not stale:
            break
        before: dict[int, datetime | None] = {}
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
            accepted_at = before[stored_id(sub)]
            if accepted_at is not None and sub.status == SubmissionStatus.accepted:
                ctx.catalog.update_submission(stored_id(sub), accepted_at=accepted_at)
            done.append(stored_id(sub))
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
