"""Publish a release: compute every impact table from `observations`.

Reads:   resolved/observations/
Writes:  published/<release>/ (Parquet per table + manifest.json)
Changes: adds the release to the catalog

Usage: spark-submit jobs/publish.py [--as-of ISO-TIMESTAMP] [--embargo-until ISO-TIMESTAMP]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None)
    parser.add_argument("--embargo-until", type=datetime.fromisoformat, default=None)
    args = parser.parse_args(argv)

    import inspect

    from midex.runtime.spark import build_session
    from midex.stages import Context, publish

    options = {"as_of": args.as_of}
    if args.embargo_until is not None:
        if "embargo_until" not in inspect.signature(publish).parameters:
            print("this midex cannot embargo releases yet; publish without --embargo-until")
            return 2
        options["embargo_until"] = args.embargo_until
    ctx = Context.open()
    spark = build_session(ctx.settings, app_name="midex-publish")
    try:
        release = publish(ctx, spark, **options)
    finally:
        spark.stop()
    print(f"release {release.number}: {release.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
