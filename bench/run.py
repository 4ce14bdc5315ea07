"""`make bench`: midex against a pandas script, DuckDB SQL and the pyarrow I/O floor, on the same
generated input, in one run; prints one table and writes bench/results/<scale>-<time>.json.

    python bench/run.py --scale 100k                 # generate if needed, run every contender
    python bench/run.py --scale 1m --only pandas duckdb

Each contender runs in its own process (bench/contender.py); this process polls the contender's
process tree (for midex: Python driver + JVM) every 0.2 s for the resident memory sum and the CPU
seconds, and measures wall time. On a shared machine wall time depends on the load: the CPU
seconds and the load average are recorded next to it. The outputs are checked equal: the
remittances_gdp table (every value) and the number of resolved observations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ORDER = ["io_floor", "pandas", "duckdb", "midex", "midex_increment"]
SPARK_ARGS = "--driver-memory 6g pyspark-shell"  # local mode: the driver is the executor


def measure(name: str, data: Path, out: Path, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": os.environ.get("PYSPARK_SUBMIT_ARGS", SPARK_ARGS)}
    cmd = [sys.executable, str(HERE / "contender.py"), name, str(data), str(out)]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    root = psutil.Process(proc.pid)
    peak, cpu = 0, {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss = 0
        for p in tree:
            try:
                rss += p.memory_info().rss
                t = p.cpu_times()
                cpu[p.pid] = t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, rss)
        if time.perf_counter() - start > timeout:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise RuntimeError(f"{name}: still running after {timeout:.0f} s; stopped")
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{stderr[-3000:]}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1])
    return {
        "name": name,
        "wall_s": wall,
        "cpu_s": sum(cpu.values()),
        "peak_rss_mb": peak / 2**20,
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": os.getloadavg()[0],
        "result": result,
    }


def machine() -> dict[str, Any]:
    import pyarrow
    import pyspark

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg": os.getloadavg(),
        "python": platform.python_version(),
        "java": java.splitlines()[0] if java else None,
        "spark": pyspark.__version__,
        "pyarrow": pyarrow.__version__,
    }
    for mod in ("pandas", "duckdb", "great_expectations"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def _remittances(path: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    df = pd.read_parquet(path)
    return df.sort_values(["REF_AREA", "TIME_PERIOD"]).reset_index(drop=True)


def check_equal(runs: dict[str, dict], outs: dict[str, Path]) -> list[str]:
    """Every contender's remittances_gdp equal (values to 1e-9 relative) and equal counts."""
    import numpy as np

    tables = {}
    counts = {}
    for name in ("pandas", "duckdb", "midex"):
        if name not in runs:
            continue
        res = runs[name]["result"]
        if name == "midex":
            tables[name] = _remittances(Path(res["release_path"]) / "remittances_gdp.parquet")
        else:
            tables[name] = _remittances(outs[name] / "remittances_gdp.parquet")
        counts[name] = res["observations"]
    problems = []
    if len(set(counts.values())) > 1:
        problems.append(f"observation counts differ: {counts}")
    names = list(tables)
    for other in names[1:]:
        a, b = tables[names[0]], tables[other]
        if len(a) != len(b) or list(a.columns) != list(b.columns):
            problems.append(f"remittances_gdp shape: {names[0]} {a.shape} vs {other} {b.shape}")
            continue
        if not (a[["REF_AREA", "TIME_PERIOD"]].equals(b[["REF_AREA", "TIME_PERIOD"]])):
            problems.append(f"remittances_gdp rows differ: {names[0]} vs {other}")
            continue
        num = [c for c in a.columns if c not in ("REF_AREA", "TIME_PERIOD")]
        x, y = a[num].to_numpy(float), b[num].to_numpy(float)
        if not np.allclose(x, y, rtol=1e-9, atol=0, equal_nan=True):
            bad = int((~np.isclose(x, y, rtol=1e-9, atol=0, equal_nan=True)).sum())
            problems.append(f"remittances_gdp values differ in {bad} cells: {names[0]} vs {other}")
    return problems


def table(runs: dict[str, dict], rows: dict[str, int]) -> str:
    base = runs.get("midex", {}).get("wall_s")
    head = f"{'contender':18} {'rows':>12} {'wall s':>9} {'rows/s':>11} {'CPU s':>8} "
    head += f"{'peak RSS MB':>12} {'x midex':>8}"
    lines = [head, "-" * len(head)]
    for name in ORDER:
        if name not in runs:
            continue
        r = runs[name]
        ratio = f"{r['wall_s'] / base:8.2f}" if base and name != "midex_increment" else f"{'':8}"
        lines.append(
            f"{name:18} {rows[name]:12,d} {r['wall_s']:9.1f} {rows[name] / r['wall_s']:11,.0f} "
            f"{r['cpu_s']:8.1f} {r['peak_rss_mb']:12,.0f} {ratio}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default=os.environ.get("SCALE", "100k"))
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--only", nargs="*", choices=ORDER)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per contender, seconds")
    args = parser.parse_args(argv)

    data = args.data / args.scale
    if not (data / "manifest.json").exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate.py"),
                "--scale",
                args.scale,
                "--out",
                str(args.data),
            ],
            check=True,
        )
    manifest = json.loads((data / "manifest.json").read_text("utf-8"))
    work = args.work / args.scale
    chosen = [n for n in ORDER if not args.only or n in args.only]
    if "midex_increment" in chosen and "midex" not in chosen:
        raise SystemExit("midex_increment needs the lake midex builds: add midex to --only")
    runs: dict[str, dict] = {}
    outs: dict[str, Path] = {}
    for name in chosen:
        out = work / ("midex" if name.startswith("midex") else name)
        if name != "midex_increment":
            shutil.rmtree(out, ignore_errors=True)
        outs[name] = out
        print(f"[bench] {name} ...", flush=True)
        runs[name] = measure(name, data, out, args.timeout)
        print(f"[bench] {name}: {runs[name]['wall_s']:.1f} s", flush=True)
    rows = {n: manifest["rows_total"] for n in chosen}
    if "midex_increment" in rows:
        rows["midex_increment"] = manifest["increment"]["rows"]
    problems = check_equal(runs, outs)
    report = table(runs, rows)
    print()
    print(f"scale {args.scale}: {manifest['rows_total']:,} observations in "
          f"{len(manifest['submissions'])} submissions; {os.cpu_count()} cores")  # fmt: skip
    print(report)
    if "midex" in runs:
        m = runs["midex"]["result"]
        stages = m["stages"]
        total = runs["midex"]["wall_s"]
        print(
            "midex phases: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in {**m["phases"], **stages}.items())
            + f"; validation {stages.get('validate', 0) / total:.0%} of end to end"
        )
    if "midex_increment" in runs:
        m = runs["midex_increment"]["result"]
        print(
            "midex increment (new process, cold JVM): "
            + ", ".join(f"{k} {v:.1f}s" for k, v in {**m["phases"], **m["stages"]}.items())
        )
        if m.get("warm"):
            w = m["warm"]
            print(
                f"midex next increment ({w['rows']:,} rows, same session, as the service's "
                f"worker): run {w['run']:.1f}s ("
                + ", ".join(f"{k} {v:.1f}s" for k, v in w["stages"].items())
                + f", resolve and rest {w['resolve_and_rest']:.1f}s), publish {w['publish']:.1f}s"
            )
    print("outputs equal: " + ("yes" if not problems else "NO\n  " + "\n  ".join(problems)))
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result_file = args.results / f"{args.scale}-{stamp}.json"
    result_file.write_text(
        json.dumps(
            {
                "scale": args.scale,
                "machine": machine(),
                "input": {k: manifest[k] for k in ("rows_total", "plan", "increment")}
                | {"submissions": len(manifest["submissions"])},
                "runs": runs,
                "outputs_equal": not problems,
                "problems": problems,
                "table": report,
            },
            indent=2,
            default=str,
        )
        + "\n",
        "utf-8",
    )
    print(f"results: {result_file}")
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
