"""Parse: landing -> raw/submission=<id>, the file read in a process of its own (no Spark)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from midex.contract.clock import utcnow
from midex.contract.errors import MidexError
from midex.formats.isolation import read_isolated
from midex.storage.catalog import Submission, SubmissionStatus
from midex.storage.landing import local_copy

if TYPE_CHECKING:
    pass
from midex.stages.claims import claimed
from midex.stages.context import Context
from midex.stages.record import run_stage


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
            settings=settings,  # the readers' limits are this deployment's
            schemas=ctx.schema.root,  # the child loads this schema folder once, for its readers
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


def parse_stage(ctx: Context, submission_id: int) -> Submission:
    """The parse stage alone (no Spark), for the DAG: received/failed -> parsed or rejected."""
    with claimed(ctx, [ctx.catalog.submission(submission_id)]) as mine:
        if not mine.subs:  # another process is processing it, or it was given up (failed)
            return ctx.catalog.submission(submission_id)
        sub = mine.subs[0]
        if sub.status == SubmissionStatus.failed:
            sub = ctx.catalog.update_submission(submission_id, status=SubmissionStatus.received)
        if sub.status == SubmissionStatus.received:
            sub = run_stage(ctx, sub, "parse", lambda s: parse(ctx, s))
        return sub
