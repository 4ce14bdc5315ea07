"""Benchmark: validation of 1,000,000 harmonised observations with the full suite.

    .venv/bin/python bench/bench_validation.py [--rows 1000000] [--master local[2]]

A script, not a test. Generates, deterministically, a raw submission of N rows in the template's
shape (200 reporting countries x 100 partners x MIG_STOCK/REMIT_IN x years, plus population by
sex, reported ratios and 100 planted jumps, so every rule family has work and some rules fail),
then times on one Spark session:
- harmonise: raw parquet -> harmonised + quarantine parquet (midex.transforms.harmonise, as the stage does);
- validate: the full suite of expectations/harmonised.yaml on the harmonised rows
  (midex.quality.validate.run_suite: derived columns, Great Expectations, findings);
and prints rows per second for validation alone and for harmonise + validate. Writes
bench/results/validation-<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
YEARS = list(range(2000, 2025))


def raw_table(n: int) -> pa.Table:
    """N raw rows (strings as submitted), deterministic. The bulk: bilateral MIG_STOCK and
    REMIT_IN, growing 2% a year; each country also reports POP by sex, GDP and
    REMIT_IN_PCT_GDP (consistent), and 100 values jump x10 (change_from_previous warnings)."""
    from midex.contract.areas import iso3_codes

    areas = sorted(iso3_codes())[:200]
    rng = np.random.default_rng(20261128)
    ref, cp, ind, sex, period, value = [], [], [], [], [], []
    # per country: POP (T, M, F), GDP, REMIT_IN total, REMIT_IN_PCT_GDP for every year
    for a in areas:
        pop = float(rng.integers(1_000_000, 100_000_000))
        gdp = float(rng.integers(10**9, 10**12))
        remit = gdp * 0.05
        for y in YEARS:
            g = 1.02 ** (y - 2000)
            male = round(pop * g * 0.49)
            for s, v in (("_T", male * 2 + 1000), ("M", male), ("F", male + 1000)):
                ref.append(a), cp.append(""), ind.append("POP"), sex.append(s)
                period.append(str(y)), value.append(f"{v:.0f}")
            for code, v in (
                ("GDP", gdp * g),
                ("REMIT_IN", remit * g),
                ("REMIT_IN_PCT_GDP", 5.0),
            ):
                ref.append(a), cp.append(""), ind.append(code), sex.append("_T")
                period.append(str(y)), value.append(f"{v:.4f}")
    partners = sorted(iso3_codes())[200:] + sorted(iso3_codes())[:200]
    i = 0
    base = rng.integers(100, 100_000, size=200 * 200 * 2)
    while len(ref) < n:
        for y in YEARS:
            a = areas[(i // 200) % 200]
            p = partners[i % 200]
            code = "MIG_STOCK" if (i // 40000) % 2 == 0 else "REMIT_IN"
            ref.append(a), cp.append(p), ind.append(code), sex.append("_T")
            period.append(str(y))
            value.append(str(int(base[i % len(base)] * 1.02 ** (y - 2000))))
            if len(ref) >= n:
                break
        i += 1
    ref, cp, ind, sex, period, value = (x[:n] for x in (ref, cp, ind, sex, period, value))
    for j in rng.choice(np.arange(6 * 200 * len(YEARS), n), size=100, replace=False):
        value[j] = str(int(float(value[j]) * 10) + 1)
    # keys must be unique: the bulk loop can revisit a (country, partner, indicator)
    seen: set[tuple[str, str, str, str, str]] = set()
    keep = []
    for j in range(n):
        k = (ref[j], cp[j], ind[j], sex[j], period[j])
        if k not in seen:
            seen.add(k)
            keep.append(j)
    idx = pa.array(keep)
    table = pa.table(
        {
            "REF_AREA": pa.array(ref),
            "COUNTERPART_AREA": pa.array(cp),
            "INDICATOR": pa.array(ind),
            "SEX": pa.array(sex),
            "AGE": pa.array([""] * n),
            "TIME_PERIOD": pa.array(period),
            "OBS_VALUE": pa.array(value),
            "UNIT_MEASURE": pa.array([""] * n),
            "UNIT_MULT": pa.array([""] * n),
            "OBS_STATUS": pa.array([""] * n),
            "COMMENT": pa.array([""] * n),
            "SOURCE_ROW": pa.array(range(2, n + 2), pa.int64()),
            "SOURCE_SHEET": pa.nulls(n, pa.string()),
            "SOURCE_COLUMN": pa.nulls(n, pa.string()),
        }
    )
    return table.take(idx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="harmonise and validate N times in the same session: the first run pays the JVM's "
        "JIT compilation, the later ones show a long-running worker's steady state",
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    from midex.contract.schema import load_schema
    from midex.contract.settings import Settings
    from midex.quality.validate import import_in_background, load_suite, run_suite
    from midex.runtime.spark import build_session
    from midex.storage.lake import ROW_GROUP_ROWS, Lake
    from midex.transforms.harmonise import SubmissionContext, build_mappings, harmonise

    schema = load_schema(REPO / "schemas")
    suite = load_suite(REPO / "expectations" / "harmonised.yaml", schema)
    t0 = time.perf_counter()
    table = raw_table(args.rows)
    generate_s = time.perf_counter() - t0
    spark = build_session(Settings(spark_master=args.master), app_name="bench-validation")
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="midex-bench-") as tmp:
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        # as the parse stage writes raw submissions (row groups Spark can split between cores)
        pq.write_table(table, raw_dir / "part-0.parquet", row_group_size=ROW_GROUP_ROWS)
        spark.read.parquet(str(raw_dir)).count()  # warm-up: JVM, file listing
        for run in range(args.repeat):
            good_dir, bad_dir = (Path(tmp) / f"{d}-{run}" for d in ("harmonised", "quarantine"))
            t0 = time.perf_counter()
            import_in_background()  # as the pipeline's batch does: GX loads while Spark harmonises
            raw = spark.read.parquet(str(raw_dir))
            maps = build_mappings(spark, schema, raw)
            ctx = SubmissionContext("BENCH", "G", 1, "0" * 64, schema.mapping_version)
            # as the stage does: the quarantine is computed only when rows are missing from
            # the harmonised output (counted from the Parquet footers)
            good, bad = harmonise(raw, maps, ctx, schema)
            good.write.parquet(str(good_dir))
            if Lake.parquet_rows(good_dir) < table.num_rows:
                bad.write.parquet(str(bad_dir))
            harmonise_s = time.perf_counter() - t0

            harmonised = spark.read.parquet(str(good_dir))
            rows = harmonised.count()
            t0 = time.perf_counter()
            findings = run_suite(harmonised, suite, schema)
            validate_s = time.perf_counter() - t0
            runs.append({"harmonise_s": round(harmonise_s, 2), "validate_s": round(validate_s, 2)})
            print(f"run {run + 1}: harmonise {harmonise_s:.1f} s, validate {validate_s:.1f} s")
    spark.stop()
    harmonise_s, validate_s = runs[0]["harmonise_s"], runs[0]["validate_s"]  # the cold run

    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    result = {
        "rows_raw": table.num_rows,
        "rows_harmonised": rows,
        "expectations": len(suite.expectations),
        "findings": by_rule,
        "generate_s": round(generate_s, 2),
        # the first run (cold JVM): what a one-off `midex run` pays
        "harmonise_s": round(harmonise_s, 2),
        "validate_s": round(validate_s, 2),
        "runs": runs,
        "validate_rows_per_s": round(rows / validate_s),
        "harmonise_validate_rows_per_s": round(rows / (harmonise_s + validate_s)),
        "validate_share_of_harmonise": round(validate_s / harmonise_s, 3),
        "spark_master": args.master,
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "load_average_1m": round(__import__("os").getloadavg()[0], 2),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = REPO / "bench" / "results" / f"validation-{args.rows}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(
        f"{rows:,} harmonised rows: harmonise {harmonise_s:.1f} s, validate {validate_s:.1f} s "
        f"({result['validate_rows_per_s']:,} rows/s; harmonise + validate "
        f"{result['harmonise_validate_rows_per_s']:,} rows/s); findings {by_rule}; -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
