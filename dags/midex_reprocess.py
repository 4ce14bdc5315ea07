"""
### midex_reprocess

Backfill after a codelist or mapping change: re-harmonises and re-validates the selected
submissions with the current `schemas/`, then resolves `observations` again. The next
`midex_release` run sees the change and publishes.

* **schedule**: none — trigger it by hand with params (UI "Trigger DAG w/ config", or
  `airflow dags trigger midex_reprocess --conf '{"provider": "MX_INEGI"}'`).
* **params**: `provider` (a provider code), `indicator` (an indicator code), `all` (every
  submission). At least one; provider and indicator together select their intersection.
* `selection` checks the params and turns them into job arguments (fails at once when empty).
* `reprocess` runs `jobs/reprocess.py` through `spark-submit` against `MIDEX_SPARK_MASTER`.
* `resolve` runs `jobs/resolve.py` if anything is left unresolved (reprocess resolves itself).

Idempotent: running it twice with the same mappings changes nothing the second time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from midex.orchestration import default_args


@dag(
    dag_id="midex_reprocess",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args(execution_timeout=timedelta(hours=6)),
    params={
        "provider": Param(None, type=["null", "string"], description="provider code"),
        "indicator": Param(None, type=["null", "string"], description="indicator code"),
        "all": Param(False, type="boolean", description="reprocess every submission"),
    },
    tags=["midex", "reprocess", "backfill"],
    doc_md=__doc__,
)
def midex_reprocess() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def selection(params=None) -> list[str]:
        from midex.orchestration import reprocess_args

        return reprocess_args(params.get("provider"), params.get("indicator"), params.get("all"))

    @task
    def reprocess(args: list[str]) -> None:
        from midex.runtime.submit_job import spark_submit

        spark_submit("reprocess", args)

    @task
    def resolve() -> None:
        # reprocess resolves when it changed something; this catches a run that crashed between
        from midex.orchestration import resolve_if_needed

        resolve_if_needed()

    reprocess(selection()) >> resolve()


midex_reprocess()
