"""Benchmark: `midex check` on a 100,000-row template file (offline: no Spark, no server).

    .venv/bin/python bench/bench_check.py [--rows 100000]

A script, not a test. Writes a deterministic template CSV (countries spelled as ISO3 codes and
names, bilateral stocks, population by sex, a few planted problems), then times
- the whole command as a provider runs it (a fresh process: imports, parsing, mapping, rules);
- midex.cli.commands.check.check_file alone, in this process.
Prints both and writes bench/results/check-<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = "REF_AREA,COUNTERPART_AREA,INDICATOR,SEX,AGE,TIME_PERIOD,OBS_VALUE,UNIT_MULT,OBS_STATUS\n"


def write_file(path: Path, rows: int) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from midex.contract.areas import iso3_codes

    codes = sorted(iso3_codes())
    names = {"MEX": "Mexico", "PHL": "Philippines", "IND": "India", "KEN": "Kenya",
             "VNM": "Viet Nam", "BOL": "Bolivia", "DEU": "DE", "FRA": "250"}  # fmt: skip
    lines = [HEADER]
    n = 0
    i = 0
    while n < rows:
        area = names.get(codes[i % 200], codes[i % 200])
        partner = codes[(i // 200) % len(codes)]
        for year in range(2000, 2025):
            value = 1000 + (i % 997) * 1.02 ** (year - 2000)
            lines.append(f"{area},{partner},MIG_STOCK,_T,_T,{year},{value:.0f},0,A\n")
            n += 1
            if n >= rows:
                break
        i += 1
    # planted: a bad number, an unknown country, a negative value
    lines[10] = lines[10].replace("MIG_STOCK,_T,_T,2008,", "MIG_STOCK,_T,_T,2008,x")
    lines[20] = "Narnia,,GDP,_T,_T,2020,5,9,A\n"
    lines[30] = "MEX,,POP,_T,_T,2020,-5,0,A\n"
    path.write_text("".join(lines), "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="midex-bench-check-") as tmp:
        path = Path(tmp) / "template.csv"
        write_file(path, args.rows)
        env = {**os.environ, "MIDEX_HOME": str(Path(tmp) / "home")}
        code = (
            "import sys; from pathlib import Path; from midex.cli.commands.check import check_file; "
            "r = check_file(Path(sys.argv[1])); print(len(r.findings)); "
            "sys.exit(0 if r.accepted else 1)"
        )
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
        )
        process_s = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        process_cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            return 1
        os.environ["MIDEX_HOME"] = env["MIDEX_HOME"]
        from midex.cli.commands.check import check_file

        check_file(path)  # warm: imports, codelists, country converter
        t0, c0 = time.perf_counter(), time.process_time()
        result = check_file(path)
        in_process_s = time.perf_counter() - t0
        in_process_cpu_s = time.process_time() - c0
    out = {
        "rows": result.rows,
        "findings": len(result.findings),
        "accepted": result.accepted,
        "command_s": round(process_s, 2),
        "command_cpu_s": round(process_cpu_s, 2),
        "check_file_s": round(in_process_s, 2),
        "check_file_cpu_s": round(in_process_cpu_s, 2),
        "rows_per_s": round(result.rows / in_process_s),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target = REPO / "bench" / "results" / f"check-{args.rows}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    print(
        f"check of {result.rows:,} rows: {process_s:.2f} s wall / {process_cpu_s:.2f} s CPU as a "
        f"command (fresh process), {in_process_s:.2f} s wall / {in_process_cpu_s:.2f} s CPU in "
        f"process ({out['rows_per_s']:,} rows/s; load average {out['load_average_1m']}), "
        f"{len(result.findings)} finding(s) -> {target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
