"""Harmonise and validate one submission.

Reads:   raw/submission=<id>/ (or the landed file when the submission is only received)
Writes:  harmonised/submission=<id>/, quarantine/submission=<id>/, reports/submission=<id>/
Changes: the submission's status in the catalog (harmonised, then accepted or rejected)

Usage: spark-submit jobs/process_submission.py --submission ID
Exit status: 0 processed (accepted or rejected), 1 a stage failed (the catalog says which).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=int, required=True)
    args = parser.parse_args(argv)

    from midex.pipeline import Context, process
    from midex.spark import build_session

    ctx = Context.open()
    sub = ctx.catalog.submission(args.submission)
    spark = build_session(ctx.settings, app_name=f"midex-process-{args.submission}")
    try:
        sub = process(ctx, spark, sub)
    except Exception as exc:
        print(f"submission {args.submission} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(f"submission {sub.id}: {sub.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
