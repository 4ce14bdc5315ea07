"""Re-harmonise and re-validate submissions after a codelist or mapping change (a backfill).

Reads:   raw/submission=<id>/ of the selected submissions, the current schemas/
Writes:  harmonised/, quarantine/ and reports/ of the selected submissions
Changes: their status, counts and MAPPING_VERSION in the catalog; `midex_reprocess` then resolves

Usage: spark-submit jobs/reprocess.py [--provider CODE] [--indicator CODE] [--all]
Idempotent: a second run with the same mappings changes nothing.
Exit status: 0 done, 1 reprocessing failed (the catalog says which submission), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default=None)
    parser.add_argument("--indicator", default=None)
    parser.add_argument("--all", dest="all_", action="store_true")
    args = parser.parse_args(argv)
    if not (args.provider or args.indicator or args.all_):
        parser.error("select submissions with --provider, --indicator or --all")

    from midex.runtime.spark import build_session
    from midex.stages import Context, reprocess

    ctx = Context.open()
    spark = build_session(ctx.settings, app_name="midex-reprocess")
    try:
        result = reprocess(
            ctx, spark, provider=args.provider, indicator=args.indicator, all_=args.all_
        )
    except Exception as exc:
        print(f"reprocess failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(f"reprocessed: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
