"""The trial of the single-node service, run by infra/trial.sh inside a private network namespace.

Not meant to be run on the open machine: it starts Airflow, whose log servers bind all
interfaces. infra/trial.sh makes the namespace and then runs this file; it refuses to run
without it. Each phase prints its time; with --json the last line is the result as JSON.

The DAGs are unpaused (they start paused) and triggered by hand through the REST API. By default
the scheduler makes no scheduled runs (AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False: manual runs
still run), so the times measured are those of the triggered runs alone; `--schedules` keeps the
schedules on, as `make up` does (unpausing then also starts each DAG's latest scheduled run).
SIGTERM stops the trial cleanly: `service.sh down`, then whatever is left in the namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("BIN", REPO / ".venv" / "bin"))
SERVICE = REPO / "infra" / "service.sh"
DAGS = ("midex_intake", "midex_release", "midex_reprocess")
DEMO_FILE = REPO / "src" / "midex" / "demo" / "wb_kmd_remittances_gdp_2018_2022.csv"
DEMO_PROVIDER = ("WB_KNOMAD", "World Bank / KNOMAD", "agency")
# Deadlines (seconds) per phase: generous, the machine may be small and busy. Scaled by
# TRIAL_TIMEOUT_SCALE (e.g. 2 for a very slow machine).
SCALE = float(os.environ.get("TRIAL_TIMEOUT_SCALE", "1"))
DEADLINES = {"up": 600, "ready": 600, "dags": 600, "intake": 1800, "release": 1800, "down": 300}


class TrialError(Exception):
    pass


def log(message: str) -> None:
    print(f"trial: {message}", flush=True)


def deadline(phase: str) -> float:
    return time.monotonic() + DEADLINES[phase] * SCALE


# ---------------------------------------------------------------- processes of this namespace


def _netns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def namespace_processes() -> dict[int, str]:
    """Every other process in this network namespace (pid → command line)."""
    mine = _netns("self")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid() or _netns(entry) != mine:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":  # already dead, waiting for a parent to reap it
            continue
        found[int(entry)] = raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    return found


def kill_namespace_processes(grace: float = 20) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in namespace_processes():
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        end = time.monotonic() + grace
        while namespace_processes() and time.monotonic() < end:
            time.sleep(0.5)


# ---------------------------------------------------------------- service.sh, CLIs, HTTP


def run(cmd: list[str], env: dict[str, str], timeout: float, check: bool = True) -> str:
    """Run a command in its own process group, echo its output, kill the group on timeout."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        sys.stdout.write(out)
        raise TrialError(f"{' '.join(cmd[:3])} did not finish in {timeout:.0f} s") from None
    sys.stdout.write(out)
    sys.stdout.flush()
    if check and proc.returncode != 0:
        raise TrialError(f"{' '.join(cmd[:3])} exited {proc.returncode}")
    return out


def service_env(base: dict[str, str]) -> dict[str, str]:
    """The settings `eval "$(infra/service.sh env)"` gives a shell."""
    out = subprocess.run(
        ["bash", str(SERVICE), "env"], env=base, capture_output=True, text=True, check=True
    ).stdout
    env = dict(base)
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            env[key] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return env


def http(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def wait_until(what: str, check, until: float, every: float = 2.0) -> Any:
    """Call check() until it returns something truthy; the last error explains a timeout."""
    last = "no answer yet"
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, KeyError, TrialError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > until:
            raise TrialError(f"{what}: gave up ({last})")
        time.sleep(every)


class Trial:
    def __init__(self, service_dir: Path) -> None:
        self.service_dir = service_dir
        base = dict(os.environ)
        base["SERVICE_DIR"] = str(service_dir)
        self.base_env = base
        self.env: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self.result: dict[str, Any] = {"service_dir": str(service_dir), "timings": self.timings}
        self.token: str | None = None

    # ------------------------------------------------------------ helpers

    @property
    def api(self) -> str:
        return f"http://{self.env['AIRFLOW_API_HOST']}:{self.env['AIRFLOW_API_PORT']}"

    def phase(self, name: str, fn) -> Any:
        log(f"--- {name}")
        start = time.monotonic()
        try:
            return fn()
        finally:
            self.timings[name] = round(time.monotonic() - start, 1)
            log(f"--- {name}: {self.timings[name]} s")

    def midex(self, *args: str) -> Any:
        out = run([str(BIN / "midex"), *args, "--json"], self.env, timeout=600 * SCALE)
        return json.loads(out.strip().splitlines()[-1])

    def login(self) -> str:
        if self.token is None:
            users = self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
            user = users.split(",")[0].split(":")[0]
            passwords = Path(
                self.env["AIRFLOW_HOME"], "simple_auth_manager_passwords.json.generated"
            )
            password = json.loads(passwords.read_text())[user]
            answer = http(
                f"{self.api}/auth/token", "POST", {"username": user, "password": password}
            )
            self.token = answer["access_token"]
        return self.token

    def rest(self, path: str, method: str = "GET", body: Any = None) -> Any:
        try:
            return http(f"{self.api}/api/v2{path}", method, body, self.login())
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # token expired: log in again once
                self.token = None
                return http(f"{self.api}/api/v2{path}", method, body, self.login())
            raise

    # ------------------------------------------------------------ phases

    def up(self) -> None:
        run(["bash", str(SERVICE), "up"], self.base_env, timeout=DEADLINES["up"] * SCALE)
        self.env = service_env(self.base_env)

    def ready(self) -> None:
        until = deadline("ready")

        def healthy():
            health = http(f"{self.api}/api/v2/monitor/health")
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            states = {p: (health.get(p) or {}).get("status") for p in parts}
            if all(s == "healthy" for s in states.values()):
                return states
            raise TrialError(f"health: {states}")

        self.result["health"] = wait_until("Airflow health", healthy, until)
        run_dir = self.service_dir / "run"
        for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
            pid = int((run_dir / f"airflow-{component}.pid").read_text())
            os.kill(pid, 0)  # raises if it is gone
        ui = f"http://{self.env['SPARK_LOCAL_IP']}:{self.env['SPARK_MASTER_WEBUI_PORT']}/json/"

        def one_worker():
            master = http(ui)
            alive = [w for w in master.get("workers", []) if w.get("state") == "ALIVE"]
            if master.get("status") == "ALIVE" and len(alive) >= 1:
                return {"status": master["status"], "alive_workers": len(alive),
                        "cores": master.get("cores")}  # fmt: skip
            raise TrialError(f"master {master.get('status')}, {len(alive)} alive worker(s)")

        self.result["spark"] = wait_until("Spark master with an ALIVE worker", one_worker, until)
        log(f"healthy: {self.result['health']}; spark: {self.result['spark']}")

    def dags(self) -> None:
        until = deadline("dags")

        def parsed():
            for dag_id in DAGS:
                self.rest(f"/dags/{dag_id}")  # 404 until the dag-processor serialised it
            return True

        try:
            wait_until("the three DAGs parsed", parsed, until, every=3)
        finally:
            errors = self.rest("/importErrors")
            self.result["import_errors"] = errors.get("total_entries", 0)
            for error in errors.get("import_errors", []):
                log(f"import error in {error.get('filename')}: {error.get('stack_trace')}")
        if self.result["import_errors"]:
            raise TrialError(f"{self.result['import_errors']} DAG import error(s)")
        log(f"parsed without import errors: {', '.join(DAGS)}")

    def submit(self) -> None:
        code, name, kind = DEMO_PROVIDER
        known = {p["code"] for p in self.midex("provider", "list")}
        if code not in known:
            self.midex("provider", "add", code, "--name", name, "--kind", kind)
        sub = self.midex("submit", str(DEMO_FILE), "--provider", code)
        self.result["submission"] = sub.get("id")
        log(f"submitted {DEMO_FILE.name} as submission {sub.get('id')}")

    def dag_run(self, dag_id: str, phase: str) -> str:
        until = deadline(phase)
        # a busy machine may let a request time out: retry (a second manual run would be
        # harmless: max_active_runs=1 and every task is idempotent)
        soon = time.monotonic() + 180 * SCALE
        wait_until(
            f"unpause {dag_id}",
            lambda: self.rest(f"/dags/{dag_id}", "PATCH", {"is_paused": False}),
            soon,
        )
        run_ = wait_until(
            f"trigger {dag_id}",
            lambda: self.rest(
                f"/dags/{dag_id}/dagRuns", "POST", {"logical_date": None, "conf": {}}
            ),
            soon,
        )
        run_id = run_["dag_run_id"]
        log(f"{dag_id}: triggered {run_id}")
        path = f"/dags/{dag_id}/dagRuns/{run_id}"
        seen = None

        def finished():
            nonlocal seen
            state = self.rest(path)["state"]
            if state != seen:
                log(f"{dag_id} {run_id}: {state}")
                seen = state
            return state if state in ("success", "failed") else None

        state = wait_until(f"{dag_id} run {run_id}", finished, until, every=5)
        tasks = wait_until(
            "task instances",
            lambda: self.rest(f"{path}/taskInstances?limit=100")["task_instances"],
            time.monotonic() + 180 * SCALE,
        )
        summary = {
            f"{t['task_id']}[{t['map_index']}]": f"{t['state']} {t.get('duration') or 0:.0f}s"
            for t in tasks
        }
        log(f"{dag_id} tasks: {summary}")
        self.result[dag_id] = {"run_id": run_id, "state": state, "tasks": summary}
        if state != "success":
            self._show_task_logs(dag_id, run_id)
            raise TrialError(f"{dag_id} run {run_id} ended {state}")
        return run_id

    def _show_task_logs(self, dag_id: str, run_id: str) -> None:
        folder = Path(self.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"], f"dag_id={dag_id}")
        for path in sorted(folder.glob(f"run_id={run_id}/**/*.log")):
            lines = path.read_text(errors="replace").splitlines()
            log(f"task log {path.relative_to(folder)} (last 40 lines):")
            print("\n".join(lines[-40:]), flush=True)

    def intake(self) -> None:
        self.dag_run("midex_intake", "intake")
        status = self.midex("status", str(self.result["submission"]))
        self.result["submission_status"] = status.get("status")
        log(f"submission {self.result['submission']}: {status.get('status')}")
        if status.get("status") != "accepted":
            raise TrialError(f"submission {self.result['submission']} is {status.get('status')}")

    def release(self) -> None:
        self.dag_run("midex_release", "release")
        tables = self.midex("tables")
        release = tables.get("release") if isinstance(tables, dict) else None
        self.result["release"] = release
        self.result["release_tables"] = (
            [t.get("table", t) if isinstance(t, dict) else t for t in tables.get("tables", [])]
            if isinstance(tables, dict)
            else tables
        )
        if not release:
            raise TrialError(f"no release after midex_release: {tables}")
        log(f"release {release}: {self.result['release_tables']}")

    def down(self) -> None:
        run(["bash", str(SERVICE), "down"], self.base_env, timeout=DEADLINES["down"] * SCALE)
        end = time.monotonic() + 30
        while namespace_processes() and time.monotonic() < end:
            time.sleep(1)
        left = namespace_processes()
        self.result["leftover_processes"] = left
        if left:
            raise TrialError(f"processes left after down: {left}")
        log("nothing the service started is left")

    def logs_tail(self) -> None:
        logs = self.service_dir / "logs"
        for path in sorted(logs.glob("*.log")) + sorted((logs / "spark").glob("*.out")):
            lines = path.read_text(errors="replace").splitlines()
            log(f"{path.relative_to(self.service_dir)} (last 15 lines):")
            print("\n".join(lines[-15:]), flush=True)


def main(argv: list[str]) -> int:
    if os.environ.get("TRIAL_IN_NETNS") != "1":
        print(
            "trial: run infra/trial.sh, which starts this inside a network namespace",
            file=sys.stderr,
        )
        return 2
    keep = "--keep" in argv
    if "--schedules" not in argv:
        os.environ["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"

    def stop(signum, frame):  # a caller's SIGTERM: unwind through `finally`, which stops all
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    given = os.environ.get("SERVICE_DIR")
    service_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="midex-trial-"))
    service_dir.mkdir(parents=True, exist_ok=True)
    service_dir.chmod(0o755)  # the private PostgreSQL's user must reach its data folder
    trial = Trial(service_dir)
    log(f"service folder {service_dir}")
    started = time.monotonic()
    ok = False
    try:
        trial.phase("up", trial.up)
        trial.phase("ready", trial.ready)
        trial.timings["startup"] = round(trial.timings["up"] + trial.timings["ready"], 1)
        trial.phase("dags", trial.dags)
        trial.phase("submit", trial.submit)
        trial.phase("intake", trial.intake)
        trial.phase("release", trial.release)
        trial.phase("down", trial.down)
        ok = True
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - reported, then all stopped
        trial.result["error"] = f"{type(exc).__name__}: {exc}"
        log(f"FAILED: {trial.result['error']}")
        traceback.print_exc()
        if trial.service_dir.exists():
            trial.logs_tail()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        if not ok:
            try:
                run(
                    ["bash", str(SERVICE), "down"], trial.base_env, timeout=300 * SCALE, check=False
                )
            except Exception as exc:  # noqa: BLE001
                log(f"service.sh down failed too: {exc}")
        left = namespace_processes()
        if left:
            log(f"killing what is left: {left}")
            kill_namespace_processes()
    trial.timings["total"] = round(time.monotonic() - started, 1)
    trial.result["ok"] = ok
    log("timings (s): " + ", ".join(f"{k} {v}" for k, v in trial.timings.items()))
    log("SUCCESS" if ok else "FAILURE")
    if ok and not keep and not given:
        shutil.rmtree(service_dir, ignore_errors=True)
    if "--json" in argv:
        print(json.dumps(trial.result, default=str), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
