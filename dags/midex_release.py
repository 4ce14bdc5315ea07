"""
### midex_release

Builds and publishes a release: every impact table computed from `observations`, written as an
immutable numbered folder `published/<n>/` with `manifest.json`, recorded in the catalog.

* **schedule**: daily at 02:00 UTC, and manual (Trigger with params).
* **params**: `as_of` (ISO timestamp; publish what was current then — default: a scheduled run
  publishes as of its own scheduled instant, a manual run everything accepted so far) and
  `embargo_until` (ISO timestamp; the release is not the default for consumers before it).
* `resolve` brings `observations` up to date (`jobs/resolve.py`; a no-op when it is).
* `release_due` skips the rest of a *scheduled* run when nothing was accepted or reprocessed
  since the latest release; a manual run always publishes.
* `publish` runs `jobs/publish.py` through `spark-submit` and emits the Airflow asset
  `midex://releases` with the release number, tables and row counts in its extra, for
  downstream consumers to schedule on.

Rerunning `publish` after it succeeded makes a new release number (releases are immutable);
rerunning after a failure leaves no half release (the catalog entry is the commit).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

from midex.orchestration import RELEASES_ASSET_URI, default_args

RELEASES = Asset(name="midex_releases", uri=RELEASES_ASSET_URI)


@dag(
    dag_id="midex_release",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(execution_timeout=timedelta(hours=2)),
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            description="publish what was current at this ISO timestamp (empty: see doc)",
        ),
        "embargo_until": Param(
            None,
            type=["null", "string"],
            description="ISO timestamp before which the release is embargoed (empty: none)",
        ),
    },
    tags=["midex", "release"],
    doc_md=__doc__,
)
def midex_release() -> None:
    @task
    def resolve() -> None:
        from midex.orchestration import resolve_if_needed

        resolve_if_needed()

    @task.short_circuit(execution_timeout=timedelta(minutes=5))
    def release_due(dag_run=None) -> bool:
        from midex.orchestration import is_scheduled
        from midex.orchestration import release_due as due
        from midex.stages import Context

        if dag_run is not None and is_scheduled(dag_run.run_type):
            changed = due(Context.open(), as_of=dag_run.logical_date)
            print("changes since the latest release" if changed else "nothing new to publish")
            return changed
        return True

    @task(outlets=[RELEASES])
    def publish(params=None, dag_run=None, outlet_events=None) -> int:
        from midex.orchestration import ReleaseRequest, is_scheduled
        from midex.runtime.submit_job import spark_submit
        from midex.stages import Context

        scheduled = dag_run is not None and is_scheduled(dag_run.run_type)
        request = ReleaseRequest.from_params(
            params.get("as_of"),
            params.get("embargo_until"),
            scheduled_at=dag_run.logical_date if scheduled else None,
        )
        spark_submit("publish", request.job_args())
        release = Context.open().catalog.release()
        outlet_events[RELEASES].extra = {
            "release": release.number,
            "path": release.path,
            "as_of": release.as_of.isoformat() if release.as_of else None,
            "tables": release.tables,
        }
        return release.number

    resolve() >> release_due() >> publish()


midex_release()
