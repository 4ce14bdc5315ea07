"""Resolve accepted submissions into `observations` (one row per series key, latest wins).

Reads:   harmonised/submission=<id>/ of every accepted submission
Writes:  resolved/observations/
Changes: resolved_at of the submissions it took in

Usage: spark-submit jobs/resolve.py
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from midex.runtime.spark import build_session
    from midex.stages import Context, needs_resolve, resolve

    ctx = Context.open()
    if not needs_resolve(ctx):
        print("observations are up to date")
        return 0
    spark = build_session(ctx.settings, app_name="midex-resolve")
    try:
        rows = resolve(ctx, spark)
    finally:
        spark.stop()
    print(f"observations: {rows} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
