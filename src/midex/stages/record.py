"""One stage of one submission, with its audit record in the catalog: what a stage's failure means for the submission."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from midex.contract.clock import utcnow
from midex.contract.errors import BudgetExceeded, MidexError
from midex.contract.findings import Finding, summarise, write_findings
from midex.formats.isolation import Interrupted
from midex.storage.catalog import (
    INTERRUPTED,
    PROCESS_DIED,
    StageRun,
    Submission,
    SubmissionStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable
from midex.stages.context import Context


def run_stage(
    ctx: Context, sub: Submission, stage: str, fn: Callable[[Submission], Submission]
) -> Submission:
    """Run one stage with an audit record. A MidexError (bad input) rejects the submission with
    its message as an error finding; anything else marks it failed (rerunnable) and re-raises."""
    assert sub.id is not None
    if ctx.stopping.is_set():
        raise Interrupted(f"{stage} of submission {sub.id} not started: the process is stopping")
    run_id = ctx.catalog.start_stage(sub.id, stage, alone=True)
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
            sub.id, status=SubmissionStatus.failed, error=failure_message(stage, exc, run_id)
        )
        raise
    ctx.catalog.finish_stage(run_id, True)
    return result


def failure_message(stage: str, exc: BaseException, run_id: int) -> str:
    """What the provider reads about a stage that failed. A budget says which and what to do;
    any other failure is midex's own, and its text (a traceback, a library's message naming
    files and folders of the server) is for the operator: it is kept in the stage run's record
    and the log, and the provider is told only that, and where the operator finds it."""
    if isinstance(exc, BudgetExceeded):
        return str(exc)
    return (
        f"{stage} failed: an error inside midex ({type(exc).__name__}), not a problem found in "
        f"your file; the operator has the details (stage run {run_id}) and can retry it, or "
        "you can retry it later"
    )


def give_up_after_deaths(ctx: Context, closed: list[StageRun]) -> list[Submission]:
    """Of the stage runs a dead process left open (just closed by the next claimer, `closed`),
    those it held for one submission alone are that submission's failed attempts. A submission
    whose processing has now failed MIDEX_MAX_ATTEMPTS times ends `failed`, with a finding that
    says why and how to try again; it is not taken again automatically. Returns those."""
    died = {r.submission_id: r.stage for r in closed if (r.message or "").startswith(PROCESS_DIED)}
    attempts = ctx.catalog.failed_attempts(list(died))
    limit = ctx.settings.max_attempts
    given_up = []
    for sid, stage in died.items():
        if attempts.get(sid, 0) < limit:
            continue
        deaths = sum(
            1 for r in ctx.catalog.stage_runs(sid) if (r.message or "").startswith(PROCESS_DIED)
        )
        settings = ctx.settings
        if stage == "parse":  # the rows read are held by this process: bounded by the reader's
            memory = f"the file reader's MIDEX_PARSE_MEMORY_MB ({settings.parse_memory_mb} MB)"
        else:
            memory = f"Spark's MIDEX_SPARK_DRIVER_MEMORY ({settings.spark_driver_memory})"
        times = "once" if deaths == 1 else f"{deaths} times"
        message = (
            f"{stage} of submission {sid}: the process handling it ended unexpectedly {times} "
            f"while it processed this submission alone (it was killed, or ran out of memory: "
            f"{memory}); after {attempts[sid]} failed attempts (MIDEX_MAX_ATTEMPTS is {limit}) "
            f"it is not retried automatically. To try again: `midex run --submission {sid}`, "
            f"or POST /api/submissions/{sid}/retry; a smaller file (split it) may pass"
        )
        finding = Finding("error", "process_died", None, None, None, None, None, message)
        write_findings(ctx.lake.findings_file(sid), [finding])
        given_up.append(
            ctx.catalog.update_submission(sid, status=SubmissionStatus.failed, error=message)
        )
    return given_up
