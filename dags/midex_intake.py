"""
### midex_intake

Takes every pending submission (the catalog is the queue) through parse → harmonise → validate,
one mapped task instance per submission so one bad file never blocks the others, then resolves
accepted submissions into `observations`.

* `parse` reads the landed file with pyarrow (no Spark).
* `harmonise_validate` runs `jobs/process_submission.py` through spark-submit against
  `MIDEX_SPARK_MASTER`.
* `resolve` runs `jobs/resolve.py` once all submissions are done.

Every task is rerunnable: each stage rewrites only its own submission's folder and commits by
changing the submission's status in the catalog.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="midex_intake",
    schedule=timedelta(minutes=5),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "midex",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=1),
    },
    tags=["midex", "intake"],
    doc_md=__doc__,
)
def midex_intake() -> None:
    @task
    def pending_submissions() -> list[int]:
        from midex.pipeline import Context, init, pending

        ctx = Context.open()
        init(ctx)
        return [s.id for s in pending(ctx)]

    @task
    def parse(submission_id: int) -> int:
        from midex.pipeline import Context, parse_stage

        parse_stage(Context.open(), submission_id)
        return submission_id

    @task
    def harmonise_validate(submission_id: int) -> int:
        from midex.submit_job import spark_submit

        spark_submit("process_submission", ["--submission", str(submission_id)])
        return submission_id

    @task(trigger_rule="all_done")
    def resolve() -> None:
        from midex.submit_job import spark_submit

        spark_submit("resolve", [])

    parsed = parse.expand(submission_id=pending_submissions())
    harmonise_validate.expand(submission_id=parsed) >> resolve()


midex_intake()
