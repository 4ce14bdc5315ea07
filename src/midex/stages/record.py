"""One stage of one submission, with its audit record in the catalog: what a stage's failure means for the submission."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from midex.contract.clock import utcnow
from midex.contract.errors import BudgetExceeded, MidexError
from midex.contract.findings import Finding, summarise, write_findings
from midex.formats.isolation import Interrupted
from midex.storage.catalog import INTERRUPTED, Submission, SubmissionStatus

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
