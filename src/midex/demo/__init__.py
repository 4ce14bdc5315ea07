"""`midex demo`: the whole pipeline on the bundled sample submissions (src/midex/demo/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midex.contract.digest import sha256_file
from midex.contract.errors import MidexError
from midex.storage.catalog import ProviderKind

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from midex.stages import Context

DEMO_DIR = Path(__file__).parent

PROVIDERS = [
    ("WB_KNOMAD", "World Bank / KNOMAD", ProviderKind.agency, []),
    ("MX_INEGI", "INEGI and Banco de México", ProviderKind.national, ["MEX"]),
    ("PH_PSA", "Philippine Statistics Authority", ProviderKind.national, ["PHL"]),
    ("OECD_DAC", "OECD Development Assistance Committee", ProviderKind.agency, []),
    ("UN_DESA", "UN DESA Population Division", ProviderKind.agency, []),
    ("US_BEA", "US Bureau of Economic Analysis", ProviderKind.national, ["USA"]),
]
SUBMISSIONS = [
    ("wb_kmd_remittances_gdp_2018_2022.csv", "WB_KNOMAD"),
    ("mx_banxico_inegi_2018_2022.csv", "MX_INEGI"),
    ("ph_psa_2018_2022.csv", "PH_PSA"),
    ("ph_psa_2023_draft_with_errors.csv", "PH_PSA"),
    # more tables: donors' ODA, bilateral stocks and flows (corridors), costs, ODA and FDI
    ("oecd_dac_oda_donors_2020_2022.csv", "OECD_DAC"),
    ("undesa_bilateral_migrant_stock_2020.csv", "UN_DESA"),
    ("mx_inegi_emigrants_remittances_by_country_2020.csv", "MX_INEGI"),
    ("ph_psa_overseas_filipinos_2020.csv", "PH_PSA"),
    ("us_bea_remittances_paid_2020.csv", "US_BEA"),
    ("wb_rpw_costs_oda_fdi_2020_2022.csv", "WB_KNOMAD"),
]

# more of the release, printed after remittances_gdp: (table, title, columns)
DEMO_TABLES = [
    (
        "oda_target",
        "donors' net ODA as % of GNI against the 0.7% target (SDG 17.2.1)",
        ["REF_AREA", "TIME_PERIOD", "ODA_PCT_GNI", "GAP_TO_TARGET_USD", "TARGET_MET"],
    ),
    (
        "corridors",
        "what each side of a corridor reports (asymmetry = difference / mean)",
        ["ORIGIN", "DESTINATION", "TIME_PERIOD", "STOCK_ASYMMETRY", "REMIT_ASYMMETRY"],
    ),
]


def run_demo(
    ctx: Context,
    spark: SparkSession,
    echo: Callable[[str], None],
    format_table: Callable[[list[dict[str, Any]], list[str]], str],
) -> None:
    """The whole pipeline on the bundled submissions; what it does is told through `echo`, the
    tables drawn by `format_table` (the CLI's: the demo imports nothing of the edges)."""
    from midex.release.bundle import read_table
    from midex.stages import init, publish, run, submit

    init(ctx)
    echo(f"midex demo in {ctx.settings.home}")
    known = {p.code for p in ctx.catalog.providers()}
    for code, name, kind, areas in PROVIDERS:
        if code not in known:
            ctx.catalog.add_provider(code, name, kind, areas)
    landed = {(s.provider_code, s.sha256) for s in ctx.catalog.submissions()}
    for file_name, provider in SUBMISSIONS:
        path = DEMO_DIR / file_name
        sha = sha256_file(path)
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
    for name, title, columns in DEMO_TABLES:
        shown = [{c: r[c] for c in columns} for r in read_table(release, name).to_pylist()]
        echo(f"\n{name} — {title}")
        echo(format_table(shown, columns) if shown else "(no rows)")
    echo(f"\nevery table: `midex tables`; charts: {release.path}/report.html")
