"""Harmonise and validate submissions (one per DAG task; several at once, in one Spark plan, by hand).

Reads:   raw/submission=<id>/ (or the landed file when the submission is only received)
Writes:  harmonised/submission=<id>/, quarantine/submission=<id>/, reports/submission=<id>/
Changes: the submission's status in the catalog (harmonised, then accepted or rejected)

Usage: spark-submit jobs/process_submission.py --submission ID [--submission ID ...]
Exit status: 0 processed (accepted or rejected), 1 a stage failed (the catalog says which; the
other submissions are still processed).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=int, action="append", required=True)
    args = parser.parse_args(argv)

    from midex.runtime.spark import build_session
    from midex.stages import Context, process_batch

    ctx = Context.open()
    subs = [ctx.catalog.submission(i) for i in args.submission]
    name = "-".join(str(i) for i in args.submission)
    spark = build_session(ctx.settings, app_name=f"midex-process-{name}")
    try:
        results, failures = process_batch(ctx, spark, subs)
    finally:
        spark.stop()
    for sub in results:
        print(f"submission {sub.id}: {sub.status}")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
