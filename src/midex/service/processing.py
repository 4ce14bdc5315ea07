"""What happens after an upload: the catalog is the queue; something must take the work.

* embedded (default): one worker thread in the service process owns the one Spark session and
  runs `midex.stages.run` for each pending submission, one after another; it also publishes.
* Airflow (MIDEX_AIRFLOW_URL set): the service triggers the `midex_intake` DAG through Airflow's
  REST API (POST /api/v2/dags/midex_intake/dagRuns). If Airflow cannot be reached the submission
  still waits in the catalog, and the DAG's own schedule picks it up.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from midex.formats.isolation import Interrupted
from midex.storage.catalog import SubmissionStatus, stored_id
from midex.storage.owners import this_process

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from midex.stages import Context

log = logging.getLogger("midex.service")

# failed submissions are not retried by the worker on its own (they would loop); `retry` does it
WORKER_STATUSES = (SubmissionStatus.received, SubmissionStatus.parsed, SubmissionStatus.harmonised)

# How long `EmbeddedWorker.stop` waits for the worker's work to end once told to stop. A read
# stops at once (its reader is killed) and a Spark stage within a second or two of its jobs'
# cancellation, but pyarrow work (publish writing a release, resolve's files) cannot be
# cancelled; past this the worker is left behind and the process exits without it, as after
# kill -9, which every stage survives (tests/test_kill9.py). 4 s: with uvicorn's 5 s for open
# requests, `midex serve` ends within the 10 s a container runtime waits before SIGKILL
# (`docker stop`'s default).
STOP_WAIT_S = 4.0


class Processor:
    mode = "none"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def notify(self, submission_id: int) -> str:
        """Tell processing that a submission waits; returns a line for the uploader."""
        return "queued"

    def alive(self) -> bool:
        return True

    def publish(self, as_of: Any = None, embargo_until: Any = None) -> Any:
        from midex.contract.errors import MidexError

        raise MidexError("publishing is not available in this service mode")


class EmbeddedWorker(Processor):
    """One thread, one Spark session, the catalog as the queue."""

    mode = "embedded"

    def __init__(self, ctx: Context, spark: SparkSession | None = None) -> None:
        self.ctx = ctx
        self._spark = spark
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._drain_queued = False
        # set by `stop` when the work did not end within STOP_WAIT_S: the process must exit
        # without waiting for the worker thread (`midex serve` does)
        self.abandoned = False

    def spark(self) -> SparkSession:
        if self._spark is None:
            from midex.runtime.spark import build_session

            self._spark = build_session(self.ctx.settings, app_name="midex-service")
        return self._spark

    def start(self) -> None:
        self.ctx.stopping.clear()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="midex-worker")
        self._schedule_drain()  # whatever was pending before a restart

    def stop(self) -> None:
        """Stop within STOP_WAIT_S (SIGTERM): no new stage starts, a file being read is dropped
        (its reader process killed), the running Spark jobs are cancelled; the stage cut short
        is recorded as interrupted, its submission keeps its status and is taken up again at
        the next start. Work that does not end in time (pyarrow: publish, resolve) is left
        behind (`abandoned`): what it had open is recorded as interrupted here, and the
        process exits without it. Lake writes go through temporary folders named by their
        process and are swapped in whole, so nothing is half-written either way."""
        if self._executor is None:
            return
        self.ctx.stopping.set()
        executor, self._executor = self._executor, None
        executor.shutdown(wait=False, cancel_futures=True)
        done = threading.Event()

        def finish() -> None:
            executor.shutdown(wait=True)
            done.set()

        threading.Thread(target=finish, daemon=True).start()
        deadline = time.monotonic() + STOP_WAIT_S
        while not done.wait(0.2):
            if self._spark is not None:
                self._spark.sparkContext.cancelAllJobs()
            if time.monotonic() >= deadline:
                self._abandon()
                return

    def _abandon(self) -> None:
        """The worker's work did not end in time: its open stage runs are recorded as
        interrupted by a stop (not a failed attempt of their submissions). Its claims stay
        until the process is gone (then the next claimer on this host takes them at once):
        released now, another process could start on a submission still being written."""
        self.abandoned = True
        catalog = self.ctx.catalog
        mine = [c.submission_id for c in catalog.claims() if this_process(c.owner)]
        reason = f"the process was stopping; its work was cut after {STOP_WAIT_S:g} s"
        closed = catalog.close_interrupted_stages(mine, reason=reason)
        log.warning(
            "the worker did not stop within %g s; left behind, its stage runs %s recorded as "
            "interrupted",
            STOP_WAIT_S,
            [r.id for r in closed],
        )

    def alive(self) -> bool:
        return self._executor is not None

    def _schedule_drain(self) -> Future | None:
        with self._lock:
            if self._drain_queued or self._executor is None:
                return None
            self._drain_queued = True
            return self._executor.submit(self._drain)

    def _drain(self) -> None:
        """Parse every file that waits (no Spark needed: a provider hears about an unreadable
        file before the JVM has started), then take the rest to accepted or rejected. Those
        a process died with come last (`suspects_last`): the others do not wait behind them."""
        from midex.stages import parse_stage, suspects_last

        with self._lock:
            self._drain_queued = False
        catalog = self.ctx.catalog
        try:
            for sub in suspects_last(self.ctx, catalog.submissions((SubmissionStatus.received,))):
                self._guarded(sub.id, functools.partial(parse_stage, self.ctx, stored_id(sub)))
            for sub in suspects_last(self.ctx, catalog.submissions(WORKER_STATUSES)):
                self._guarded(sub.id, functools.partial(self._run, stored_id(sub)))
        except Interrupted as exc:
            log.info("%s", exc)

    def _run(self, submission_id: int) -> None:
        from midex.stages import run

        _, failures = run(self.ctx, self.spark(), submission_id)
        for failure in failures:
            log.error("processing failed: %s", failure)

    def _guarded(self, submission_id: int | None, work: Callable[[], Any]) -> None:
        """`work` for one submission: a crash is logged (the catalog says failed) and the
        worker goes on; stopping ends the drain (Interrupted)."""
        if self.ctx.stopping.is_set():
            raise Interrupted("the worker is stopping")
        try:
            work()
        except Interrupted:
            raise
        except Exception:  # recorded as failed in the catalog; the worker goes on
            log.exception("submission %s: processing crashed", submission_id)

    def notify(self, submission_id: int) -> str:
        self._schedule_drain()
        return "queued for processing in this service"

    def retry(self, submission_id: int) -> None:
        self._schedule_drain()  # the route has put it back to received

    def publish(self, as_of: Any = None, embargo_until: Any = None) -> Any:
        """Publish a release in the worker thread (the one Spark user); waits for it."""
        import inspect

        from midex.stages import publish

        kwargs: dict[str, Any] = {"as_of": as_of}
        if embargo_until is not None:
            if "embargo_until" not in inspect.signature(publish).parameters:
                from midex.contract.errors import MidexError

                raise MidexError("this midex cannot embargo releases yet")
            kwargs["embargo_until"] = embargo_until
        assert self._executor is not None
        return self._executor.submit(lambda: publish(self.ctx, self.spark(), **kwargs)).result()


class AirflowTrigger(Processor):
    """Trigger `midex_intake` through Airflow 3's REST API (v2)."""

    mode = "airflow"
    DAG_ID = "midex_intake"

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout

    def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"{}")

    def _token(self) -> str | None:
        if not self.username:
            return None
        answer = self._post("/auth/token", {"username": self.username, "password": self.password})
        return answer.get("access_token")

    def trigger(self, conf: dict[str, Any], dag_id: str = DAG_ID) -> dict[str, Any]:
        return self._post(
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"logical_date": None, "conf": conf},
            self._token(),
        )

    def notify(self, submission_id: int) -> str:
        try:
            run = self.trigger({"submission_id": submission_id})
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("Airflow trigger failed for submission %s: %s", submission_id, exc)
            return "queued; Airflow did not answer, its schedule will pick the file up"
        return f"queued; Airflow run {run.get('dag_run_id', '?')} of {self.DAG_ID} started"

    def retry(self, submission_id: int) -> None:
        self.notify(submission_id)

    def publish(self, as_of: Any = None, embargo_until: Any = None) -> Any:
        """Trigger a manual run of `midex_release` (its params: as_of, embargo_until)."""
        conf = {
            "as_of": as_of.isoformat() if as_of else None,
            "embargo_until": embargo_until.isoformat() if embargo_until else None,
        }
        return self.trigger(conf, dag_id="midex_release")


def processor_for(ctx: Context, spark: SparkSession | None = None) -> Processor:
    settings = ctx.settings
    if settings.airflow_url:
        return AirflowTrigger(
            settings.airflow_url, settings.airflow_username, settings.airflow_password
        )
    return EmbeddedWorker(ctx, spark)
