"""`midex demo`: the whole pipeline on the bundled sample submissions (src/midex/demo/)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from midex.catalog import ProviderKind
from midex.errors import MidexError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from midex.pipeline import Context

DEMO_DIR = Path(__file__).parent / "demo"

PROVIDERS = [
    ("WB_KNOMAD", "World Bank / KNOMAD", ProviderKind.agency, []),
    ("MX_INEGI", "INEGI and Banco de México", ProviderKind.national, ["MEX"]),
    ("PH_PSA", "Philippine Statistics Authority", ProviderKind.national, ["PHL"]),
]
SUBMISSIONS = [
    ("wb_kmd_remittances_gdp_2018_2022.csv", "WB_KNOMAD"),
    ("mx_banxico_inegi_2018_2022.csv", "MX_INEGI"),
    ("ph_psa_2018_2022.csv", "PH_PSA"),
    ("ph_psa_2023_draft_with_errors.csv", "PH_PSA"),
]


def run_demo(ctx: Context, spark: SparkSession, echo: Callable[[str], None]) -> None:
    from midex.cli import format_table
    from midex.pipeline import init, publish, run, submit
    from midex.release import read_table

    init(ctx)
    echo(f"midex demo in {ctx.settings.home}")
    known = {p.code for p in ctx.catalog.providers()}
    for code, name, kind, areas in PROVIDERS:
        if code not in known:
            ctx.catalog.add_provider(code, name, kind, areas)
    landed = {(s.provider_code, s.sha256) for s in ctx.catalog.submissions()}
    for file_name, provider in SUBMISSIONS:
        path = DEMO_DIR / file_name
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if (provider, sha) in landed:
            continue
        sub = submit(ctx, path, provider)
        echo(f"submitted {file_name} as submission {sub.id} ({provider})")
    results, failures = run(ctx, spark)
    for s in results:
        line = f"submission {s.id} {s.file_name}: {s.status}, {s.rows_harmonised or 0} rows"
        if s.errors:
            line += f", {s.errors} error(s) — `midex report {s.id}`"
        echo(line)
    if failures:
        raise MidexError("; ".join(failures))
    release = publish(ctx, spark)
    echo(f"\nrelease {release.number} published: {release.path}\n")
    table = read_table(release, "remittances_gdp").to_pylist()
    echo("remittances_gdp — personal remittances received and GDP (US$ million), % of GDP")
    rows = [
        {
            "REF_AREA": r["REF_AREA"],
            "TIME_PERIOD": r["TIME_PERIOD"],
            "REMIT_IN_USD_M": None if r["REMIT_IN_USD"] is None else r["REMIT_IN_USD"] / 1e6,
            "GDP_USD_M": None if r["GDP_USD"] is None else r["GDP_USD"] / 1e6,
            "REMIT_IN_PCT_GDP": r["REMIT_IN_PCT_GDP"],
        }
        for r in table
    ]
    echo(format_table(rows, list(rows[0]) if rows else ["REF_AREA"]))
