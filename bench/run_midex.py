"""midex end to end on generated input, through midex.stages, with ONE Spark session.

    python bench/run_midex.py full DATA HOME        # init, providers, submit all, run, publish
    python bench/run_midex.py increment DATA HOME   # into that lake: submit increment.csv, run, publish
                                                    # then, same session: increment_next.csv

Prints one JSON line: phase timings (seconds), stage totals from the catalog's audit trail
(parse, harmonise, validate), counts, and the release's table sizes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path


def _stage_totals(ctx, since_id: int = 0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Wall seconds per stage: the union of the stage's runs over all submissions (a batch runs
    one stage for many submissions at once; their records overlap)."""
    spans: dict[str, list[tuple]] = defaultdict(list)
    for sub in ctx.catalog.submissions():
        if sub.id <= since_id:
            continue
        for run in ctx.catalog.stage_runs(sub.id):
            if run.finished_at is not None:
                spans[run.stage].append((run.started_at, run.finished_at))
    totals: dict[str, float] = {}
    for stage, runs in spans.items():
        total, end = 0.0, None
        for start, finish in sorted(runs):
            if end is None or start > end:
                total += (finish - start).total_seconds()
                end = finish
            elif finish > end:
                total += (finish - end).total_seconds()
                end = finish
        totals[stage] = total
    return totals


def main(mode: str, data: Path, home: Path) -> dict:
    os.environ["MIDEX_HOME"] = str(home)
    t0 = time.perf_counter()
    from midex import stages as pipeline
    from midex.runtime.spark import build_session
    from midex.storage.catalog import ProviderKind, SubmissionStatus

    manifest = json.loads((data / "manifest.json").read_text("utf-8"))
    phases: dict[str, float] = {}
    ctx = pipeline.Context.open()
    t = time.perf_counter()
    phases["import"] = t - t0
    before = 0
    if mode == "full":
        pipeline.init(ctx)
        for p in manifest["providers"]:
            ctx.catalog.add_provider(p["code"], p["name"], ProviderKind(p["kind"]), p["areas"])
        subs = manifest["submissions"]
        if os.environ.get("BENCH_LIMIT"):  # profiling: only the first few submissions
            subs = subs[: int(os.environ["BENCH_LIMIT"])]
    else:
        before = max(s.id for s in ctx.catalog.submissions())  # type: ignore[type-var]
        subs = [manifest["increment"]]
    for s in subs:
        pipeline.submit(ctx, data / "files" / s["file"], s["provider"], s["format"])
    phases["submit"] = time.perf_counter() - t
    t = time.perf_counter()
    spark = build_session(ctx.settings, app_name="midex-bench")
    phases["spark_start"] = time.perf_counter() - t
    t = time.perf_counter()
    results, failures = pipeline.run(ctx, spark)
    phases["run"] = time.perf_counter() - t
    t = time.perf_counter()
    stages = _stage_totals(ctx, before)
    # resolve ran inside run(); measure it as run minus the per-submission stages
    phases["resolve_and_rest"] = phases["run"] - sum(stages.values())
    release = pipeline.publish(ctx, spark)
    phases["publish"] = time.perf_counter() - t
    statuses: dict[str, int] = defaultdict(int)
    for r in ctx.catalog.submissions():  # final: after any reprocess inside run()
        if r.id > before:
            statuses[str(r.status)] += 1
    accepted = ctx.catalog.submissions((SubmissionStatus.accepted,))
    warm = None
    if mode == "increment" and "increment_next" in manifest:
        # the steady state of the service's worker: a second submission in the same session
        since = max(s.id for s in ctx.catalog.submissions())  # type: ignore[type-var]
        nxt = manifest["increment_next"]
        t = time.perf_counter()
        pipeline.submit(ctx, data / "files" / nxt["file"], nxt["provider"], nxt["format"])
        pipeline.run(ctx, spark)
        warm = {"run": time.perf_counter() - t}
        warm_stages = _stage_totals(ctx, since)
        warm["resolve_and_rest"] = warm["run"] - sum(warm_stages.values())
        t = time.perf_counter()
        pipeline.publish(ctx, spark)
        warm["publish"] = time.perf_counter() - t
        warm["stages"] = warm_stages  # type: ignore[assignment]
        warm["status"] = str(ctx.catalog.submission(since + 1).status)  # type: ignore[assignment]
        warm["rows"] = nxt["rows"]
    spark.stop()
    return {
        "mode": mode,
        "phases": phases,
        "stages": stages,
        "submissions": len(subs),
        "statuses": dict(statuses),
        "failures": failures,
        "rows_harmonised": sum(s.rows_harmonised or 0 for s in accepted if s.id > before),
        "warnings": sum(s.warnings or 0 for s in accepted if s.id > before),
        "release": release.number,
        "release_path": release.path,
        "tables": release.tables,
        "observations": release.tables.get("observations"),
        "remittances_gdp": release.tables.get("remittances_gdp"),
        "wall_inside": time.perf_counter() - t0,
        "warm": warm,
    }


if __name__ == "__main__":
    out = main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    print(json.dumps(out, default=str))
