"""`make up` / `make down` for real: infra/trial.sh inside a private network namespace.

The trial starts the single-node service (infra/service.sh up, with its own private PostgreSQL:
the host's server is not reachable from the namespace), waits for Airflow and Spark, submits one
demo file, runs midex_intake and midex_release through Airflow's REST API, checks a release
exists, stops the service and checks nothing it started is left. Airflow's log servers bind all
interfaces, so this only ever runs where nothing outside can reach them: a new network namespace
with nothing but loopback.

Robustness: it skips (with the reason) when no network namespace can be made here or
PostgreSQL's binaries or Java are missing; deadlines are generous (the trial's per phase, scaled
by TRIAL_TIMEOUT_SCALE, default 2 here; a 2-core machine busy with other work is slow); and
whatever happens, the `finally` stops the trial (SIGTERM: it runs `service.sh down` itself) and
then kills every process still in its network namespace, identified by the namespace itself
(the service's daemons run in their own sessions, so a process group alone would miss them).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

TRIAL = REPO / "infra" / "trial.sh"
SCALE = float(os.environ.get("TRIAL_TIMEOUT_SCALE", "2"))
# the trial's own deadlines add up to 5,700 s × SCALE; this one only catches a hung trial
OVERALL = 6000 * SCALE


def _why_not() -> str | None:
    """Why the trial cannot run here, or None."""
    if not Path("/proc/self/ns/net").exists() or shutil.which("unshare") is None:
        return "needs Linux network namespaces and unshare (util-linux)"
    if shutil.which("ip") is None:
        return "needs `ip` (iproute2) to bring up loopback in the namespace"
    enter = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    try:
        ok = subprocess.run([*enter, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        return f"`{' '.join(enter)} true` is not permitted here (no private network namespace)"
    bins = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if os.environ.get("PG_BIN"):
        bins.append(os.path.join(os.environ["PG_BIN"], "initdb"))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout
        bins.append(os.path.join(out.strip(), "initdb"))
    if not any(os.access(b, os.X_OK) for b in bins):
        return "PostgreSQL's binaries (initdb, pg_ctl) are missing: the trial starts its own server"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "as root, the private PostgreSQL runs as the `postgres` user, which is missing"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "needs Java 17 for Spark"
    return None


def _netns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _processes_in(netns: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _netns(p) == netns]


def _kill_namespace(netns: str) -> list[int]:
    """SIGTERM, then SIGKILL, every process in the network namespace; what was there first."""
    first = _processes_in(netns)
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 15)):
        for pid in _processes_in(netns):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        end = time.monotonic() + grace
        while _processes_in(netns) and time.monotonic() < end:
            time.sleep(0.5)
    return first


@pytest.mark.slow
def test_make_up_runs_the_dags_and_publishes_then_make_down_stops_everything() -> None:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    service_dir = Path(tempfile.mkdtemp(prefix="midex-trial-test-"))
    service_dir.chmod(0o755)  # the private PostgreSQL runs as `postgres` when we are root
    output = service_dir.parent / f"{service_dir.name}.log"
    env = dict(os.environ)
    env.update(SERVICE_DIR=str(service_dir), TRIAL_TIMEOUT_SCALE=str(SCALE))
    env.pop("TRIAL_IN_NETNS", None)
    host_netns = _netns("self")
    netns: str | None = None
    passed = False
    with output.open("w") as out:
        proc = subprocess.Popen(
            [str(TRIAL), "--json"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: its own process group, signalled as one
        )
    try:
        # infra/trial.sh re-executes itself under unshare: the same pid, then a new namespace
        end = time.monotonic() + 120
        while netns is None and proc.poll() is None and time.monotonic() < end:
            current = _netns(proc.pid)
            if current and current != host_netns:
                netns = current
            time.sleep(0.05)
        try:
            code = proc.wait(timeout=OVERALL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the trial did not finish in {OVERALL:.0f} s; output in {output}")
        text = output.read_text(errors="replace")
        tail = "\n".join(text.splitlines()[-80:])
        lines = [line for line in text.splitlines() if line.startswith("{")]
        assert lines, f"no result from the trial (exit {code}):\n{tail}"
        result = json.loads(lines[-1])
        print("trial timings (s):", result["timings"])
        for dag_id in ("midex_intake", "midex_release"):
            print(dag_id, (result.get(dag_id) or {}).get("tasks"))
        assert code == 0 and result["ok"], f"trial failed: {result.get('error')}\n{tail}"
        assert result["health"] == dict.fromkeys(
            ("metadatabase", "scheduler", "triggerer", "dag_processor"), "healthy"
        )
        assert result["spark"]["alive_workers"] == 1
        assert result["import_errors"] == 0
        assert result["midex_intake"]["state"] == "success", result["midex_intake"]
        assert result["submission_status"] == "accepted"
        assert result["midex_release"]["state"] == "success", result["midex_release"]
        assert isinstance(result["release"], int) and result["release"] >= 1
        assert {"observations", "remittances_gdp"} <= set(result["release_tables"])
        assert result["leftover_processes"] == {}
        assert netns is not None, "the trial never entered its own network namespace"
        assert _processes_in(netns) == [], "processes outlived the trial"
        passed = True
    finally:
        if proc.poll() is None:  # the trial stops the service itself on SIGTERM
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
        if netns is not None and netns != host_netns:
            _kill_namespace(netns)
        if passed:  # on failure the folder and the output stay, for the logs
            shutil.rmtree(service_dir, ignore_errors=True)
            output.unlink(missing_ok=True)
