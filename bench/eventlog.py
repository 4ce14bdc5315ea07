"""Where midex's Spark time goes: a summary of a Spark event log (spark.eventLog.enabled).

    python bench/eventlog.py /path/to/event/log [--top 25]

Lists every Spark job with its duration and the Python call site that started it, then totals per
call site: which stage function launches how many jobs and how long they take.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def _read(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".zstd":  # Spark compresses event logs with zstd by default
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
        chunks = []
        try:
            while chunk := reader.read(1 << 20):
                chunks.append(chunk)
        except zstandard.ZstdError:  # a log still being written ends mid-frame
            pass
        data = b"".join(chunks)
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [ln for ln in lines if ln.startswith("{") and ln.endswith("}")]


def jobs(path: Path) -> list[dict]:
    started: dict[int, dict] = {}
    out = []
    files = sorted(path.iterdir()) if path.is_dir() else [path]  # v2 logs are folders
    lines = [ln for f in files if f.name.startswith("events") or f == path for ln in _read(f)]
    for line in lines:
        event = json.loads(line)
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            started[event["Job ID"]] = {
                "job": event["Job ID"],
                "start": event["Submission Time"],
                "site": props.get("callSite.short", "?"),
                "tasks": sum(s.get("Number of Tasks", 0) for s in event.get("Stage Infos", [])),
            }
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in started:
            job = started.pop(event["Job ID"])
            job["seconds"] = (event["Completion Time"] - job["start"]) / 1000
            out.append(job)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    found = jobs(args.log)
    total = sum(j["seconds"] for j in found)
    print(f"{len(found)} jobs, {total:.1f} s of job time")
    by_site: dict[str, list[float]] = defaultdict(list)
    for j in found:
        by_site[j["site"]].append(j["seconds"])
    print(f"{'call site':70} {'jobs':>5} {'seconds':>8}")
    for site, secs in sorted(by_site.items(), key=lambda kv: -sum(kv[1]))[: args.top]:
        print(f"{site[:70]:70} {len(secs):5d} {sum(secs):8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
