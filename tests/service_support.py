"""Helpers for the service tests: a real uvicorn server in a thread on a free loopback port,
a tiny stand-in for Airflow's REST API, and a release written with pyarrow."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq


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


def write_release(ctx: Any, number: int, embargo_until: datetime | None = None) -> Any:
    """A release folder as midex.release.publish lays it out (one Parquet file per table and a
    manifest), written with pyarrow so these tests need no Spark; the catalog entry points at it."""
    from midex.catalog import Release
    from midex.release import _definitions, sha256_file

    obs = pa.table(
        {
            "REF_AREA": ["MEX", "MEX", "MEX", "PHL", "PHL", "PHL", "IND"],
            "COUNTERPART_AREA": ["_Z"] * 7,
            "INDICATOR": ["REMIT_IN", "REMIT_IN", "GDP", "REMIT_IN", "REMIT_IN", "GDP", "REMIT_IN"],
            "SEX": ["_T"] * 7,
            "AGE": ["_T"] * 7,
            "TIME_PERIOD": ["2019", "2020", "2020", "2019", "2020-Q3", "2020", "2021"],
            "OBS_VALUE": [39.0e9, 42.9e9, 1090e9, 33.5e9, 8.1e9, 361e9, 89e9],
            "UNIT_MEASURE": ["USD"] * 7,
            "OBS_STATUS": ["A"] * 7,
            "PROVIDER": ["MX_INEGI", "MX_INEGI", "MX_INEGI", "PH_PSA", "PH_PSA", "PH_PSA", "WB"],
            "SUBMISSION_ID": pa.array([1, 1, 1, 2, 2, 2, 3], pa.int64()),
            "SOURCE_FILE_SHA256": ["a" * 64] * 3 + ["b" * 64] * 3 + ["c" * 64],
            "SOURCE_ROW": pa.array([3, 4, 8, 2, 5, 9, 40], pa.int64()),
            "SOURCE_VALUE": ["39.02", "42.88", "1090", "33.5", "8.1", "361", "89000"],
            "MAPPING_VERSION": ["m1"] * 7,
        }
    )
    rgdp = pa.table(
        {
            "REF_AREA": ["MEX", "PHL"],
            "TIME_PERIOD": ["2020", "2020"],
            "REMIT_IN_USD": [42.9e9, None],
            "GDP_USD": [1090e9, 361e9],
            "REMIT_IN_PCT_GDP": [42.9 / 1090 * 100, None],
        }
    )
    folder = ctx.lake.published_dir() / str(number)
    folder.mkdir(parents=True)
    entries = {}
    definitions = _definitions(ctx.schema, ["remittances_gdp"])  # as publish describes tables
    for name, table in (("observations", obs), ("remittances_gdp", rgdp)):
        pq.write_table(table, folder / f"{name}.parquet")
        entries[name] = {
            "file": f"{name}.parquet",
            "rows": table.num_rows,
            "sha256": sha256_file(folder / f"{name}.parquet"),
            "columns": table.column_names,
            **definitions[name],
        }
    sources = [{"id": i, "file": f"file{i}.csv"} for i in (1, 2, 3)]
    manifest = {"release": number, "tables": entries, "source_submissions": sources}
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    release = Release(
        number=number,
        embargo_until=embargo_until,
        path=str(folder),
        manifest_sha256=sha256_file(folder / "manifest.json"),
        tables={k: v["rows"] for k, v in entries.items()},
        submission_ids=[1, 2, 3],
    )
    return ctx.catalog.add_release(release)
