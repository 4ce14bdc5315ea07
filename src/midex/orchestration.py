"""What the Airflow DAGs in dags/ decide, as plain functions and data (no Airflow, no Spark here).

The DAG files stay thin: schedule, tasks, retries. Everything a task decides — which submissions
still need Spark, whether a release is due, which arguments a job gets — lives here, so it is
tested without Airflow and the CLI could make the same decisions.

An edge, beside the DAGs (docs/architecture.md): the dag-processor imports this module with
every DAG file, so at the top it imports only contract/ and storage.catalog, never midex.stages
(every stage, 0.6 s) nor Spark; a task that runs a stage imports it when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from midex.contract.clock import as_utc
from midex.contract.errors import MidexError
from midex.storage.catalog import SubmissionStatus

# Asset URIs: consumers schedule on RELEASES; the HTTP service may emit LANDING when a file lands
# so intake starts at once. Intake never relies on LANDING events alone (apache/airflow#35870,
# #47398): its schedule also polls, and the catalog is the queue.
LANDING_ASSET_URI = "midex://landing"
RELEASES_ASSET_URI = "midex://releases"

OWNER = "midex"


def default_args(
    execution_timeout: timedelta = timedelta(hours=1), retries: int = 2
) -> dict[str, Any]:
    """Task defaults every midex DAG shares: owner, retries with exponential backoff, timeout."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": execution_timeout,
    }


# Statuses after which a submission needs no Spark work: the harmonise task is then a no-op.
FINISHED = (SubmissionStatus.accepted, SubmissionStatus.rejected)


def needs_spark(status: str) -> bool:
    """Whether the harmonise/validate job has anything to do for a submission in `status`."""
    return SubmissionStatus(status) not in FINISHED


def is_scheduled(run_type: Any) -> bool:
    """Whether a DAG run came from the schedule (or a backfill of it), not a person or an event.
    Airflow hands over a str-based enum whose str() differs between versions: compare values."""
    return str(getattr(run_type, "value", run_type)) in ("scheduled", "backfill")


@dataclass(frozen=True)
class ReleaseRequest:
    """What `midex_release` publishes: as-of (None = everything accepted so far) and embargo."""

    as_of: datetime | None = None
    embargo_until: datetime | None = None

    @classmethod
    def from_params(
        cls, as_of: str | None, embargo_until: str | None, scheduled_at: datetime | None = None
    ) -> ReleaseRequest:
        """From the DAG's params; a scheduled run without as-of publishes as of its own
        scheduled instant, so rerunning that run publishes the same content."""
        return cls(
            as_of=_timestamp("as_of", as_of) or scheduled_at,
            embargo_until=_timestamp("embargo_until", embargo_until),
        )

    def job_args(self) -> list[str]:
        args: list[str] = []
        if self.as_of is not None:
            args += ["--as-of", self.as_of.isoformat()]
        if self.embargo_until is not None:
            args += ["--embargo-until", self.embargo_until.isoformat()]
        return args


def _timestamp(name: str, value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise MidexError(
            f"param {name}={value!r} is not an ISO timestamp; use e.g. 2026-01-31T00:00:00+00:00"
        ) from exc


def resolve_if_needed() -> None:
    """The DAGs' resolve task: run jobs/resolve.py when accepted submissions are not yet in
    `observations` (no JVM is started when there is nothing to do)."""
    from midex.runtime.submit_job import spark_submit
    from midex.stages import Context, needs_resolve

    if needs_resolve(Context.open()):
        spark_submit("resolve", [])
    else:
        print("observations are up to date")


def reprocess_args(provider: str | None, indicator: str | None, all_: bool) -> list[str]:
    """Arguments of jobs/reprocess.py; at least one selector, as `midex reprocess` requires."""
    args: list[str] = []
    if provider:
        args += ["--provider", provider]
    if indicator:
        args += ["--indicator", indicator]
    if all_:
        args.append("--all")
    if not args:
        raise MidexError(
            "midex_reprocess needs a selection: set the param provider, indicator, or all=true"
        )
    return args


def release_due(ctx: Any, as_of: datetime | None = None) -> bool:
    """Whether observations as of `as_of` (default: now) may have changed since the latest
    release: there is no release yet but data accepted by then, or such a submission was
    resolved, or a stage ran for it (new data, a reprocess) after that release. Scheduled
    releases publish only then, so a quiet day makes no identical release, and a scheduled run
    from before anything was accepted (the first unpause) publishes nothing instead of failing."""
    cutoff = None if as_of is None else as_utc(as_of)
    accepted = [
        s
        for s in ctx.catalog.submissions((SubmissionStatus.accepted,))
        if cutoff is None or (s.accepted_at and as_utc(s.accepted_at) <= cutoff)
    ]
    releases = ctx.catalog.releases()
    if not releases:
        return bool(accepted)
    since = as_utc(releases[-1].created_at)
    if any(s.resolved_at and as_utc(s.resolved_at) > since for s in accepted):
        return True
    for sub in accepted:
        for run in ctx.catalog.stage_runs(sub.id):
            if run.ok and run.finished_at and as_utc(run.finished_at) > since:
                return True
    return False
