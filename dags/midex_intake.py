"""
### midex_intake

Takes every pending submission (the catalog is the queue) through parse → harmonise → validate,
one mapped task instance per submission so one bad file never blocks the others, then resolves
accepted submissions into `observations`.

* **schedule**: every 5 minutes, and at once when the asset `midex://landing` gets an event (the
  HTTP service or `airflow dags trigger midex_intake` after a file lands). Asset events alone are
  never trusted to carry the queue: each run asks the catalog what is pending.
* `pending_submissions` lists received/parsed/harmonised/failed submissions in the catalog.
* `parse` reads the landed file with pyarrow (no Spark) → `raw/submission=<id>/`.
* `harmonise_validate` runs `jobs/process_submission.py` through `spark-submit` against
  `MIDEX_SPARK_MASTER` → `harmonised/`, `quarantine/`, `reports/`; accepted or rejected.
* `resolve` runs `jobs/resolve.py` once every submission is done (whatever their outcome).
* `report` lists what this run did; it fails the run if a submission ended `failed` (a crash, not
  bad data: bad data is `rejected` and reported to the provider).

Every task is idempotent: each stage rewrites only its own submission's folder and commits by
changing the submission's status in the catalog, so clearing any task and rerunning it gives the
same lake and catalog. Operations: docs/operations.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from midex.orchestration import LANDING_ASSET_URI, default_args


@dag(
    dag_id="midex_intake",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
        assets=[Asset(name="midex_landing", uri=LANDING_ASSET_URI)],
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=default_args(execution_timeout=timedelta(hours=1)),
    tags=["midex", "intake"],
    doc_md=__doc__,
)
def midex_intake() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def pending_submissions() -> list[int]:
        from midex.stages import Context, init, pending

        ctx = Context.open()
        init(ctx)
        return [s.id for s in pending(ctx)]

    @task(map_index_template="submission {{ submission_id }}")
    def parse(submission_id: int) -> int:
        from midex.stages import Context, parse_stage

        sub = parse_stage(Context.open(), submission_id)
        print(f"submission {submission_id}: {sub.status}")
        return submission_id

    @task(map_index_template="submission {{ submission_id }}")
    def harmonise_validate(submission_id: int) -> int:
        from midex.orchestration import needs_spark
        from midex.runtime.submit_job import spark_submit
        from midex.stages import Context

        sub = Context.open().catalog.submission(submission_id)
        if not needs_spark(sub.status):
            print(f"submission {submission_id} is {sub.status}: nothing for Spark to do")
            return submission_id
        spark_submit("process_submission", ["--submission", str(submission_id)])
        return submission_id

    @task(trigger_rule="all_done")
    def resolve() -> None:
        from midex.orchestration import resolve_if_needed

        resolve_if_needed()

    @task(trigger_rule="all_done", execution_timeout=timedelta(minutes=5))
    def report(submission_ids: list[int]) -> dict[str, str]:
        from midex.contract.errors import MidexError
        from midex.stages import Context

        catalog = Context.open().catalog
        statuses = {str(i): str(catalog.submission(i).status) for i in submission_ids}
        for i, status in statuses.items():
            print(f"submission {i}: {status}")
        crashed = [str(i) for i, status in statuses.items() if status == "failed"]
        if crashed:
            raise MidexError(
                f"submission(s) {', '.join(crashed)} failed; `midex status ID` shows the stage "
                "and error; clear the failed task to rerun it (docs/operations.md)"
            )
        return statuses

    ids = pending_submissions()
    harmonised = harmonise_validate.expand(submission_id=parse.expand(submission_id=ids))
    harmonised >> resolve() >> report(ids)


midex_intake()
