"""Helpers for the service tests: a real uvicorn server in a thread on a free loopback port,
a tiny stand-in for Airflow's REST API, and a small release published by midex itself."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 (free port) until the block ends; yield its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class AirflowStub:
    """Answers like Airflow 3's api-server for the two calls midex makes: POST /auth/token and
    POST /api/v2/dags/{dag_id}/dagRuns; records every request. Used because tests must not start
    a real Airflow api-server on the open machine (its log servers bind to all interfaces)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                stub.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if self.path == "/auth/token":
                    ok = body.get("username") == "midex" and body.get("password") == "secret"
                    self._answer(201 if ok else 401, {"access_token": "jwt-for-midex"} if ok else {"detail": "Invalid credentials"})  # fmt: skip
                elif self.path.startswith("/api/v2/dags/") and self.path.endswith("/dagRuns"):
                    if self.headers.get("Authorization") != "Bearer jwt-for-midex":
                        self._answer(401, {"detail": "Not authenticated"})
                        return
                    dag_id = self.path.split("/")[4]
                    run_id = f"manual__{len(stub.requests)}"
                    self._answer(200, {"dag_run_id": run_id, "dag_id": dag_id, "state": "queued", "conf": body.get("conf")})  # fmt: skip
                else:
                    self._answer(404, {"detail": "Not Found"})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def files_under(*roots: Path) -> set[str]:
    """Every file below `roots` (to show a refused request wrote nothing)."""
    return {str(p) for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


def wait_final(client: httpx.Client, submission_id: int, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sub = client.get(f"/api/submissions/{submission_id}").json()
        if sub["status"] in ("accepted", "rejected", "failed"):
            return sub
        if time.monotonic() > deadline:
            raise AssertionError(f"submission {submission_id} still {sub['status']}")
        time.sleep(0.5)


# The release the service tests read: three small files in the submission template, one per
# provider, submitted, processed and published by midex itself (file line 1 is the header).
RELEASE_PROVIDERS = {
    "MX_INEGI": ("INEGI", "national", ["MEX"]),
    "PH_PSA": ("PSA", "national", ["PHL"]),
    "WB_KMD": ("World Bank KNOMAD", "agency", []),
}
RELEASE_FILES = {
    "MX_INEGI": (
        "mx_inegi_2019_2020.csv",
        "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"
        "MEX,REMIT_IN,2019,39.02,9\n"
        "MEX,REMIT_IN,2020,42.88,9\n"
        "MEX,GDP,2020,1090,9\n",
    ),
    "PH_PSA": (
        "ph_psa_2019_2020.csv",
        "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"
        "PHL,REMIT_IN,2019,33.5,9\n"
        "PHL,REMIT_IN,2020-Q3,8.1,9\n"
        "PHL,GDP,2020,361,9\n",
    ),
    "WB_KMD": (
        "wb_kmd_ind_2021.csv",
        "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\nIND,REMIT_IN,2021,89000,6\n",
    ),
}


def publish_release(ctx: Any, spark: Any, folder: Path) -> tuple[Any, dict[str, Any]]:
    """Submit RELEASE_FILES (registering the providers the catalog lacks), process them with
    `midex.stages.run` and publish with `midex.stages.publish`: the release and the
    accepted submissions by provider."""
    from midex.stages import publish, run, submit

    known = {p.code for p in ctx.catalog.providers()}
    for code, (name, kind, areas) in RELEASE_PROVIDERS.items():
        if code not in known:
            ctx.catalog.add_provider(code, name, kind, areas)
    submitted = {}
    for code, (file_name, text) in RELEASE_FILES.items():
        path = folder / file_name
        path.write_text(text, "utf-8")
        submitted[code] = submit(ctx, path, code).id
    _, failures = run(ctx, spark)
    assert failures == []
    subs = {code: ctx.catalog.submission(sid) for code, sid in submitted.items()}
    assert {code: s.status for code, s in subs.items()} == dict.fromkeys(subs, "accepted")
    return publish(ctx, spark), subs
