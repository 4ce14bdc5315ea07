"""One contender of the benchmark, run in its own process so its peak memory is its own.

    python bench/contender.py NAME DATA OUT

NAME: io_floor | pandas | duckdb | midex | midex_increment. Prints one JSON line (the last line
of standard output): what the contender counted. bench/run.py starts it and measures it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(name: str, data: Path, out: Path) -> dict:
    if name == "midex":
        import run_midex

        return run_midex.main("full", data, out)
    if name == "midex_increment":
        import run_midex

        return run_midex.main("increment", data, out)
    import baselines

    runner = {
        "io_floor": baselines.run_io_floor,
        "pandas": baselines.run_pandas,
        "duckdb": baselines.run_duckdb,
    }[name]
    return runner(data, out)


if __name__ == "__main__":
    result = main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    print(json.dumps(result, default=str))
