"""One poisoned submission cannot block the others (issue 20, item 6): a file is read in a
process of its own under a time and a memory budget, and a stopping service stops within
seconds, leaving nothing half-written and the cut stage to be taken up again.

Real child processes, a real `midex serve` process and a real SIGTERM; no Spark needed (the
parse stage runs without it, and the service parses before it starts the JVM)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from midex.contract.errors import BudgetExceeded
from midex.contract.findings import read_findings
from midex.storage.catalog import INTERRUPTED, ProviderKind, SubmissionStatus
from midex.storage.owners import HOST
from tests.service_support import free_port

pytestmark = pytest.mark.fault

HEADER = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n"
BIG_ROWS = 2_000_000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid template CSV of 2,000,000 rows (43 MB): read in ~1 s, needing ~1 GB of address
    space (measured: refused at 800 MB, read at 1,000 MB)."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    block = "".join(f"MEX,GDP,{1900 + i % 120},{i}.5\n" for i in range(200_000))
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for _ in range(BIG_ROWS // 200_000):
            f.write(block)
    return path


def _small(path: Path) -> Path:
    path.write_text(HEADER + "GTM,GDP,2020,1.5\nGTM,GDP,2021,1.6\n", encoding="utf-8")
    return path


def _leftovers(lake: Path) -> list[Path]:
    return [p for p in lake.rglob(".*") if p.name.startswith((".tmp-", ".stage-", ".batch-"))]


def _parse_folders(home: Path) -> set[str]:
    return {p.name for p in (home / "work").glob("parse-*")}


def test_a_file_past_its_memory_budget_fails_and_the_next_is_read(ctx, tmp_path, big_file) -> None:
    from midex.stages import parse_stage, submit

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    poisoned = submit(ctx, big_file, "WB")
    other = submit(ctx, _small(tmp_path / "small.csv"), "WB")
    ctx.settings.parse_memory_mb = 800
    # what a reader killed with its parent (kill -9) left: removed by the next read
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    leftover = ctx.settings.home / "work" / f"parse-{HOST}-{dead}-0badf00d"
    leftover.mkdir(parents=True)
    before = _parse_folders(ctx.settings.home) - {leftover.name}
    with pytest.raises(BudgetExceeded):
        parse_stage(ctx, poisoned.id)
    failed = ctx.catalog.submission(poisoned.id)
    assert failed.status == SubmissionStatus.failed
    assert "needed more than its memory budget of 800 MB (MIDEX_PARSE_MEMORY_MB)" in failed.error
    assert "send the file as CSV, split it" in failed.error
    (finding,) = read_findings(ctx.lake.findings_file(poisoned.id))
    assert finding.rule == "budget_exceeded" and finding.severity == "error"
    assert ctx.catalog.failed_attempts([poisoned.id]) == {poisoned.id: 1}  # counts as an attempt
    parsed = parse_stage(ctx, other.id)  # the next file is read as if nothing happened
    assert parsed.status == SubmissionStatus.parsed and parsed.rows_raw == 2
    assert not ctx.lake.submission_dir("raw", poisoned.id).exists()
    assert _leftovers(ctx.settings.lake) == [] and _parse_folders(ctx.settings.home) == before
    ctx.settings.parse_memory_mb = 4096  # the default reads it in full
    assert parse_stage(ctx, poisoned.id).rows_raw == BIG_ROWS


def test_a_file_past_its_time_budget_is_stopped_and_fails_saying_why(ctx, big_file) -> None:
    from midex.stages import parse_stage, submit

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    sub = submit(ctx, big_file, "WB")
    ctx.settings.parse_budget_s = 0.2  # measured: this file takes 0.8–2.4 s to read
    started = time.monotonic()
    with pytest.raises(BudgetExceeded):
        parse_stage(ctx, sub.id)
    took = time.monotonic() - started
    failed = ctx.catalog.submission(sub.id)
    assert failed.status == SubmissionStatus.failed
    assert f"reading {big_file.name} ran past its time budget of 0.2 s" in failed.error
    assert "MIDEX_PARSE_BUDGET_S" in failed.error
    assert took < 5, f"the reader was not stopped at its budget: {took:.1f} s"
    assert not ctx.lake.submission_dir("raw", sub.id).exists()


def test_stopping_cuts_a_read_short_and_keeps_the_submission_waiting(ctx, big_file) -> None:
    from midex.formats.isolation import Interrupted
    from midex.stages import parse_stage, pending, submit

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    sub = submit(ctx, big_file, "WB")
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            parse_stage(ctx, sub.id)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            outcome.append(exc)

    before = _parse_folders(ctx.settings.home)
    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    while not (
        _parse_folders(ctx.settings.home) - before
    ):  # the reader process has started on the file
        assert time.monotonic() < deadline and worker.is_alive(), "the read never started"
        time.sleep(0.005)
    ctx.stopping.set()
    worker.join(timeout=5)
    assert not worker.is_alive(), "the stage did not stop within 5 s"
    assert isinstance(outcome[0], Interrupted)
    (run,) = ctx.catalog.stage_runs(sub.id)
    assert run.finished_at is not None and run.message.startswith(INTERRUPTED)
    assert ctx.catalog.submission(sub.id).status == SubmissionStatus.received  # waits again
    assert ctx.catalog.failed_attempts([sub.id]) == {}  # a stop is not the file's failure
    assert [s.id for s in pending(ctx)] == [sub.id]
    assert _leftovers(ctx.settings.lake) == [] and _parse_folders(ctx.settings.home) == before
    assert not ctx.lake.submission_dir("raw", sub.id).exists()


def test_the_service_stops_within_seconds_on_sigterm(midex_home, tmp_path, big_file, cli) -> None:
    """A real `midex serve`, a 43 MB upload being read, SIGTERM: the process ends within
    seconds, the stage is closed as interrupted and the file waits for the next start."""
    from midex.storage.catalog import open_catalog

    assert (
        cli(
            "provider", "add", "MX_INEGI", "--name", "INEGI", "--kind", "national", "--areas", "MEX"
        ).code
        == 0
    )
    token = cli("provider", "token", "MX_INEGI", "--json").json()["token"]
    port = free_port()
    env = {**os.environ, "MIDEX_PARSE_BUDGET_S": "600"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "midex"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "service did not start"
            time.sleep(0.1)
        with big_file.open("rb") as f:
            r = httpx.post(
                url + "/api/submissions",
                files={"file": ("big.csv", f)},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
        assert r.status_code == 202, r.text
        sid = r.json()["id"]
        catalog = open_catalog(None)
        deadline = time.monotonic() + 30
        while not catalog.stage_runs(sid):  # the worker is reading it
            assert time.monotonic() < deadline, "the worker never started on the file"
            time.sleep(0.01)
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        took = time.monotonic() - stopped_at
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert took < 10, f"the service took {took:.1f} s to stop"
    (run,) = catalog.stage_runs(sid)
    assert run.stage == "parse" and run.finished_at is not None
    assert run.message.startswith(INTERRUPTED), run.message
    assert catalog.submission(sid).status == SubmissionStatus.received
    assert _leftovers(midex_home / "lake") == [] and _parse_folders(midex_home) == set()


def test_the_worker_stops_within_its_bound_when_its_work_cannot_be_cut(ctx, tmp_path) -> None:
    """Work that neither looks at the stop flag nor runs Spark jobs (pyarrow writing a release
    or resolve's files) does not hold `stop` past STOP_WAIT_S: the worker is left behind (the
    process then exits without it, as `midex serve` does), and the stage run it had open is
    recorded as interrupted by a stop, not as a failed attempt of its submission."""
    from midex.service.processing import STOP_WAIT_S, EmbeddedWorker
    from midex.stages import claimed, submit

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    sub = submit(ctx, _small(tmp_path / "small.csv"), "WB")
    # not for the worker's own drain: this test gives the worker its work itself
    ctx.catalog.update_submission(sub.id, status=SubmissionStatus.accepted)
    worker = EmbeddedWorker(ctx)
    worker.start()
    holding, release = threading.Event(), threading.Event()

    def uncuttable() -> None:  # a stage of the worker that only ends when it has finished
        with claimed(ctx, [ctx.catalog.submission(sub.id)]):
            ctx.catalog.start_stage(sub.id, "harmonise", alone=True)
            holding.set()
            release.wait(60)

    assert worker._executor is not None
    worker._executor.submit(uncuttable)
    try:
        assert holding.wait(30), "the work never started"
        started = time.monotonic()
        stopper = threading.Thread(target=worker.stop, daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT_S + 10)
        took = time.monotonic() - started
        assert not stopper.is_alive(), f"stop() still waits after {took:.1f} s"
    finally:
        release.set()
    assert STOP_WAIT_S <= took < STOP_WAIT_S + 2, took
    assert worker.abandoned
    (run,) = ctx.catalog.stage_runs(sub.id)
    assert run.finished_at is not None and run.message.startswith(INTERRUPTED), run.message
    assert ctx.catalog.failed_attempts([sub.id]) == {}


def _upload(url: str, token: str, path: Path) -> int:
    with path.open("rb") as f:
        r = httpx.post(
            url + "/api/submissions",
            files={"file": (path.name, f)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def _serve(port: int) -> subprocess.Popen[bytes]:
    """A real `midex serve` (its own process group: the JVM too), once it answers /health."""
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "midex"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            os.killpg(server.pid, signal.SIGKILL)
            pytest.fail("the service did not start")
        time.sleep(0.1)


def _sigterm(server: subprocess.Popen[bytes]) -> float:
    """SIGTERM; seconds until the process and everything it started (the JVM) are gone."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                os.killpg(server.pid, 0)  # anything of its group still alive?
            except ProcessLookupError:
                return time.monotonic() - started
            assert time.monotonic() < deadline, "the service's JVM outlived it"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.mark.slow
def test_sigterm_during_a_spark_stage_stops_the_service_and_the_next_start_ends_the_work(
    midex_home, tmp_path, cli
) -> None:
    """A real `midex serve` harmonising or validating a 144,000-row file, SIGTERM: it and its
    JVM are gone within seconds, the stage run is closed as interrupted (not an attempt), no
    temporary folder is left half-written, and the next start takes the file to the end."""
    from midex.service.processing import STOP_WAIT_S
    from midex.storage.catalog import open_catalog

    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    token = cli("provider", "token", "WB", "--json").json()["token"]
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as out:
        out.write("REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n")
        for area in ("MEX", "GTM", "HND", "SLV", "NIC", "CRI", "PAN", "COL", "PER", "ECU"):
            for indicator in ("GDP", "POP", "REMIT_IN"):
                out.writelines(
                    f"{area},{indicator},{1900 + m // 12}-{m % 12 + 1:02d},{m}.5\n"
                    for m in range(2400)
                )
    catalog = open_catalog(None)
    port = free_port()
    server = _serve(port)
    try:
        sid = _upload(f"http://127.0.0.1:{port}", token, big)
        deadline = time.monotonic() + 300  # the JVM starts on the first Spark stage
        while not any(
            r.stage in ("harmonise", "validate") and r.finished_at is None
            for r in catalog.stage_runs(sid)
        ):
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the worker never reached a Spark stage"
            time.sleep(0.02)
        took = _sigterm(server)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert took < STOP_WAIT_S + 6, f"the service took {took:.1f} s to stop"
    cut = [r for r in catalog.stage_runs(sid) if r.ok is False]
    # cut in whichever Spark stage SIGTERM found: that stage's input status is kept
    stopped = [(r.stage, str(catalog.submission(sid).status)) for r in cut]
    assert stopped in ([("harmonise", "parsed")], [("validate", "harmonised")]), stopped
    assert cut[0].message.startswith(INTERRUPTED), cut[0].message
    assert catalog.failed_attempts([sid]) == {}
    assert catalog.claims() == [] or all(c.submission_id == sid for c in catalog.claims())

    server = _serve(port)  # the next start takes the file up again, to the end
    try:
        deadline = time.monotonic() + 600
        while str(catalog.submission(sid).status) != "accepted":
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, catalog.submission(sid).status
            time.sleep(0.2)
        _sigterm(server)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    sub = catalog.submission(sid)
    assert sub.rows_harmonised == 72_000 and not sub.error
    assert all(r.finished_at is not None for r in catalog.stage_runs(sid))
    assert catalog.claims() == []
    assert _leftovers(midex_home / "lake") == []


def test_a_file_is_read_from_a_host_whose_main_script_cannot_run_twice(tmp_path) -> None:
    """Airflow's task runner is such a host: its `airflow` script configures a database when
    imported, from a setting the runner blanks. A reader child must not run the host's main."""
    script = tmp_path / "host.py"
    script.write_text(
        "import sys\n"
        "if __name__ != '__main__':\n"
        "    raise SystemExit('the host script ran again in the reader')\n"
        "from pathlib import Path\n"
        "from midex.contract.settings import get_settings\n"
        "from midex.formats.isolation import read_isolated\n"
        "path = Path(sys.argv[1])\n"
        "with read_isolated(path, 'template', path.name, settings=get_settings(),\n"
        "                   schemas=get_settings().schemas,\n"
        "                   seconds=60, memory_mb=4096, workdir=Path(sys.argv[2])) as parsed:\n"
        "    print(parsed.table.num_rows, parsed.format)\n",
        encoding="utf-8",
    )
    data = _small(tmp_path / "small.csv")
    done = subprocess.run(
        [sys.executable, str(script), str(data), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2", "template"]
