"""Synthetic submissions for `make bench`: what ~200 states and three agencies send, at a scale.

    python bench/generate.py --scale 1m --out bench/data        # -> bench/data/1m/

Deterministic (one seed): the same scale gives byte-identical files. What is written, in the
order it is submitted (manifest.json lists every file with its provider and expected rows):

- IMF (agency): EXCHANGE_RATE (alias PA.NUS.FCRF) for every country and year, template CSV;
  submitted first, so the national LCU values find their rates.
- WB (agency): WDI-style wide CSV files (the bulk download: preamble, every field quoted, years
  as columns, trailing comma, empty cells), eight WDI indicator codes (aliases), one file per
  edition; later editions revise the earlier ones (vintages).
- UNDESA (agency): bilateral MIG_STOCK matrices, destination x origin (200 x 199), one year per
  file, in template long form; origins spelled as country names.
- one national provider per country (N_<ISO3>, own area only): template CSV with annual
  remittances (some in local currency, LCU, with UNIT_MULT 6), GDP in billions (UNIT_MULT 9),
  population by sex and age (M + F = T), quarterly remittances and the bulk: monthly migration
  in/outflows by sex and age. Countries are written as ISO3, ISO2 or a name, indicators as
  canonical codes, lower-case codes or WDI aliases, sex as codes or words; 1% missing values
  (".."). A third of the countries resubmit their last two years later (revisions).
- increment.csv: one 10,000-row national resubmission, for the incremental case (not in the
  main list); increment_next.csv: another country's, submitted after it in the same session
  (the steady state of a long-lived worker, which keeps its Spark session).

Every file is valid: the bench measures the happy path (no rejections), and the baselines in
bench/baselines.py must produce the same tables from it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from midex.contract.schema import load_schema

SCALES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
SEED = 20261128
N_COUNTRIES = 200
TEMPLATE = [c.name for c in load_schema().template_columns]  # schemas/template.yaml
AGES = [
    "_T",
    "Y0T4",
    "Y5T9",
    "Y0T14",
    "Y15T24",
    "Y25T54",
    "Y55T64",
    "Y_GE65",
    "Y15T64",
    "Y25T64",
    "Y_GE15",
    "Y_GE25",
    "Y_GE75",
    "Y_LT15",
]
# WDI code, canonical, typical size (USD or persons), may be negative
WDI_INDICATORS = [
    ("NY.GDP.MKTP.CD", "GDP current US$", 5e10, False),
    ("BX.TRF.PWKR.CD.DT", "Personal remittances, received (current US$)", 2e9, False),
    ("BM.TRF.PWKR.CD.DT", "Personal remittances, paid (current US$)", 1e9, False),
    ("SP.POP.TOTL", "Population, total", 2e7, False),
    ("NY.GNP.MKTP.CD", "GNI (current US$)", 5e10, False),
    ("BX.KLT.DINV.CD.WD", "Foreign direct investment, net inflows (BoP, current US$)", 1e9, True),
    ("DT.ODA.ODAT.CD", "Net official development assistance received (current US$)", 3e8, False),
    ("SM.POP.NETM", "Net migration", 5e4, True),
]
WDI_FIRST_YEAR, WDI_LAST_YEAR = 1960, 2023
RATE_YEARS = range(1980, 2025)
MATRIX_YEARS = list(range(1975, 2025))


@dataclass
class Country:
    iso3: str
    iso2: str
    name: str
    rate: float  # LCU per USD around which the series moves

    def spelling(self, style: int) -> str:
        return (self.iso3, self.iso2, self.name)[style % 3]


@dataclass
class Plan:
    n: int
    wdi_editions: int
    wdi_years: int
    matrices: int
    national_countries: int
    national_rows: int  # per country main file
    revised_every: int = 3  # every 3rd national country resubmits
    files: list[dict] = field(default_factory=list)


def countries() -> list[Country]:
    """200 countries whose ISO2 and short name both resolve to their ISO3 in midex (checked)."""
    import logging

    import country_converter as coco

    from midex.contract.areas import resolve_areas
    from midex.contract.schema import load_schema

    logging.getLogger("country_converter").setLevel(logging.ERROR)
    data = coco.CountryConverter().data
    data = data[data["ISO3"].notna() & data["ISO2"].notna()]
    members = data["UNmember"].notna()
    schema = load_schema()
    rows = [
        (str(r.ISO3), str(r.ISO2), str(r.name_short))
        for part in (data[members], data[~members])
        for r in part.sort_values("ISO3").itertuples()
    ]
    checked = resolve_areas([v for r in rows for v in r], schema)
    got = {a.value: a.iso3 for a in checked}
    ok = [r for r in rows if got.get(r[1]) == r[0] and got.get(r[2]) == r[0] == got.get(r[0])]
    ok = sorted(ok[:N_COUNTRIES])
    rng = np.random.default_rng(SEED)
    rates = np.exp(rng.uniform(0, 8, len(ok)))
    return [
        Country(iso3, iso2, name, 1.0 if iso3 in ("USA", "ECU", "SLV", "PAN") else float(r))
        for (iso3, iso2, name), r in zip(ok, rates, strict=True)
    ]


def plan(n: int) -> Plan:
    """How the n observations split: ~15% WDI, ~20% bilateral matrices, the rest national."""
    per_edition_full = N_COUNTRIES * len(WDI_INDICATORS) * (WDI_LAST_YEAR - WDI_FIRST_YEAR + 1)
    wdi_target = 0.15 * n
    editions = max(1, math.ceil(wdi_target / per_edition_full))
    years = max(5, min(64, round(wdi_target / editions / (N_COUNTRIES * len(WDI_INDICATORS)))))
    matrices = max(1, min(len(MATRIX_YEARS), round(0.2 * n / (N_COUNTRIES * (N_COUNTRIES - 1)))))
    national_countries = max(20, min(N_COUNTRIES, n // 50_000))
    used = editions * years * N_COUNTRIES * len(WDI_INDICATORS) * 0.95
    used += matrices * N_COUNTRIES * (N_COUNTRIES - 1) + len(RATE_YEARS) * N_COUNTRIES
    national_rows = max(3_000, int((n - used) / national_countries / 1.05))
    return Plan(n, editions, years, matrices, national_countries, national_rows)


def _fmt(values: np.ndarray, decimals: int = 0) -> list[str]:
    if decimals == 0:
        return [str(int(v)) for v in np.rint(values)]
    return [f"{v:.{decimals}f}" for v in values]


def _write_template(path: Path, columns: dict[str, list[str]]) -> int:
    n = len(columns["REF_AREA"])
    table = pa.table({c: pa.array(columns.get(c) or [""] * n, pa.string()) for c in TEMPLATE})
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return n


def write_rates(path: Path, cs: list[Country], rng: np.random.Generator) -> tuple[int, dict]:
    cols: dict[str, list[str]] = {c: [] for c in TEMPLATE}
    rates: dict[tuple[str, str], float] = {}
    for c in cs:
        walk = c.rate * np.exp(np.cumsum(rng.normal(0, 0.03, len(RATE_YEARS))))
        for year, rate in zip(RATE_YEARS, walk, strict=True):
            value = round(float(rate), 6) if c.rate != 1.0 else 1.0
            rates[(c.iso3, str(year))] = value
            cols["REF_AREA"].append(c.iso3)
            cols["INDICATOR"].append("PA.NUS.FCRF")
            cols["TIME_PERIOD"].append(str(year))
            cols["OBS_VALUE"].append(repr(value))
            cols["OBS_STATUS"].append("A")
    return _write_template(path, cols), rates


def write_wdi(path: Path, cs: list[Country], years: range, rng: np.random.Generator, edition: int):
    """A WDI bulk CSV: 4 preamble lines, quoted fields, trailing comma, empty = no data."""
    lines = [
        '"Data Source","World Development Indicators",',
        "",
        f'"Last Updated Date","{2010 + edition}-06-28",',
        "",
    ]
    header = ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
    header += [str(y) for y in years]
    lines.append(",".join(f'"{h}"' for h in header) + ",")
    cells = 0
    for ci, c in enumerate(cs):
        for ii, (code, name, size, signed) in enumerate(WDI_INDICATORS):
            # the same seed per series in every edition; editions revise by a small factor
            series_rng = np.random.default_rng([SEED, ci, ii])
            base = size * np.exp(series_rng.normal(0, 1))
            walk = base * np.exp(np.cumsum(series_rng.normal(0.02, 0.04, len(years))))
            if signed:
                walk = walk * np.where(series_rng.random(len(years)) < 0.2, -1, 1)
            walk = walk * (1 + 0.01 * edition * series_rng.normal(0, 1))
            empty = rng.random(len(years)) < 0.05
            values = ["" if e else f"{v:.1f}" for v, e in zip(walk, empty, strict=True)]
            cells += sum(1 for v in values if v)
            row = [c.name, c.iso3, name, code, *values]
            lines.append(",".join(f'"{v}"' for v in row) + ",")
    path.write_text("\ufeff" + "\n".join(lines) + "\n", "utf-8")
    return cells


def write_matrix(path: Path, cs: list[Country], year: int, rng: np.random.Generator) -> int:
    n = len(cs)
    stock = np.rint(rng.lognormal(5, 2.5, (n, n)) * (rng.random((n, n)) < 0.6))
    cols: dict[str, list[str]] = {c: [] for c in ("REF_AREA", "COUNTERPART_AREA", "INDICATOR")}
    cols.update({"TIME_PERIOD": [], "OBS_VALUE": []})
    for i, dest in enumerate(cs):
        for j, origin in enumerate(cs):
            if i == j:
                continue
            cols["REF_AREA"].append(dest.iso3)
            cols["COUNTERPART_AREA"].append(origin.name)
            cols["INDICATOR"].append("MIG_STOCK")
            cols["TIME_PERIOD"].append(str(year))
            cols["OBS_VALUE"].append(str(int(stock[i, j])))
    return _write_template(path, cols)


def national_rows(c: Country, ci: int, rows: int, rates: dict) -> dict[str, list[str]]:
    """One country's template rows (about `rows`); see the module docstring."""
    rng = np.random.default_rng([SEED, ci])  # per country: the increment repeats its series
    style = ci % 3
    area = c.spelling(style)
    remit_code = ("REMIT_IN", "BX.TRF.PWKR.CD.DT", "remit_in")[ci % 3]
    gdp_code = ("GDP", "NY.GDP.MKTP.CD", "gdp")[(ci + 1) % 3]
    sexes = (("_T", "M", "F"), ("Total", "Male", "Female"), ("", "M", "F"))[ci % 3]
    lcu = ci % 5 == 4 and c.rate != 1.0
    cols: dict[str, list[str]] = {c_: [] for c_ in TEMPLATE}

    def add(indicator, sex, age, periods, values, unit="", mult="", status="A", cp=""):  # type: ignore[no-untyped-def]
        k = len(periods)
        missing = rng.random(k) < 0.01
        cols["REF_AREA"] += [area] * k
        cols["COUNTERPART_AREA"] += [cp] * k
        cols["INDICATOR"] += [indicator] * k
        cols["SEX"] += [sex] * k
        cols["AGE"] += [age] * k
        cols["TIME_PERIOD"] += list(periods)
        cols["OBS_VALUE"] += [".." if m else v for v, m in zip(values, missing, strict=True)]
        cols["UNIT_MEASURE"] += [unit] * k
        cols["UNIT_MULT"] += [mult] * k
        cols["OBS_STATUS"] += ["" if m else status for m in missing]
        cols["COMMENT"] += [""] * k

    # the bulk is monthly flows by sex and age: choose the number of years to fill `rows`
    per_year = 2 * 12 * len(AGES) * 3
    fixed = 40 * (4 + 3 * len(AGES)) + 4 * 40
    years_monthly = max(1, min(34, round((rows - fixed) / per_year)))
    annual = [str(y) for y in range(1985, 2025)]
    # remittances received: USD millions, or local currency millions (converted by midex)
    usd = 1e8 * np.exp(rng.normal(0, 1)) * np.exp(np.cumsum(rng.normal(0.03, 0.05, len(annual))))
    if lcu:
        local = [usd[i] * rates[(c.iso3, y)] / 1e6 for i, y in enumerate(annual)]
        add(remit_code, sexes[0], "", annual, _fmt(np.array(local), 3), "LCU", "6")
    else:
        add(remit_code, sexes[0], "", annual, _fmt(usd / 1e6, 3), "", "6")
    paid = 3e7 * np.exp(rng.normal(0, 1)) * np.exp(np.cumsum(rng.normal(0.03, 0.05, len(annual))))
    add("REMIT_OUT" if ci % 2 else "remit_out", sexes[0], "", annual, _fmt(paid / 1e3, 1), "", "3")
    gdp = 2e10 * np.exp(rng.normal(0, 1.5)) * np.exp(np.cumsum(rng.normal(0.03, 0.04, len(annual))))
    add(gdp_code, sexes[0], "", annual, _fmt(gdp / 1e9, 4), "USD", "9")
    quarters = [f"{y}-Q{q}" for y in annual for q in range(1, 5)]
    qv = np.repeat(usd / 4, 4) * np.exp(rng.normal(0, 0.03, len(quarters)))
    add(remit_code, sexes[0], "", quarters, _fmt(qv / 1e6, 3), "", "6", "P")
    # population by sex and age, M + F = T exactly
    pop = 1e7 * np.exp(rng.normal(0, 1)) * np.exp(np.cumsum(rng.normal(0.01, 0.005, len(annual))))
    for ai, age in enumerate(AGES):
        share = 1.0 if ai == 0 else 0.05 + 0.04 * (ai % 5)
        male = np.rint(pop * share * 0.49)
        female = np.rint(pop * share * 0.51)
        a = "" if age == "_T" and ci % 2 else age
        add("POP", sexes[1], a, annual, _fmt(male))
        add("POP", sexes[2], a, annual, _fmt(female))
        add("POP", sexes[0], a, annual, _fmt(male + female))
    # monthly migration flows by sex and age (the bulk)
    months = [f"{y}-{m:02d}" for y in range(2024 - years_monthly, 2024) for m in range(1, 13)]
    for indicator in ("MIG_INFLOW", "MIG_OUTFLOW"):
        level = 2e4 * np.exp(rng.normal(0, 1))
        for ai, age in enumerate(AGES):
            share = 1.0 if ai == 0 else 0.05 + 0.04 * (ai % 5)
            base = level * share * np.exp(np.cumsum(rng.normal(0, 0.05, len(months))))
            male = np.rint(np.maximum(base * 0.55, 100))
            female = np.rint(np.maximum(base * 0.45, 100))
            add(indicator, sexes[1], age, months, _fmt(male))
            add(indicator, sexes[2], age, months, _fmt(female))
            add(indicator, sexes[0], age, months, _fmt(male + female))
    return cols


def revision(cols: dict[str, list[str]], rng: np.random.Generator, periods: tuple[str, ...]):
    """The rows of `cols` whose period starts with one of `periods`, values revised by one factor
    (M + F = T still holds within rounding)."""
    factor = 1 + rng.uniform(-0.02, 0.02)
    keep = [i for i, p in enumerate(cols["TIME_PERIOD"]) if p.startswith(periods)]
    out = {c: [cols[c][i] for i in keep] for c in TEMPLATE}
    revised = []
    for v in out["OBS_VALUE"]:
        if v == "..":
            revised.append(v)
        else:
            decimals = len(v.split(".")[1]) if "." in v else 0
            revised.append(f"{float(v) * factor:.{decimals}f}")
    out["OBS_VALUE"] = revised
    out["OBS_STATUS"] = ["" if v == ".." else "A" for v in revised]
    return out


def _take(cols: dict[str, list[str]], n: int) -> dict[str, list[str]]:
    return {c: v[:n] for c, v in cols.items()}


def generate(out: Path, n: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    files = out / "files"
    files.mkdir(exist_ok=True)
    rng = np.random.default_rng(SEED)
    cs = countries()
    p = plan(n)
    submissions: list[dict] = []
    providers = [
        {"code": "IMF", "name": "International Monetary Fund", "kind": "agency", "areas": []},
        {"code": "WB", "name": "World Bank", "kind": "agency", "areas": []},
        {"code": "UNDESA", "name": "UN DESA Population Division", "kind": "agency", "areas": []},
    ]

    def add(path: Path, provider: str, fmt: str, rows: int) -> None:
        submissions.append({"file": path.name, "provider": provider, "format": fmt, "rows": rows})

    rates_path = files / "imf_exchange_rates.csv"
    rows, rates = write_rates(rates_path, cs, rng)
    add(rates_path, "IMF", "template", rows)
    wdi_years = range(WDI_LAST_YEAR - p.wdi_years + 1, WDI_LAST_YEAR + 1)
    for e in range(p.wdi_editions):
        path = files / f"API_WDI_DS2_en_csv_v{e + 1}.csv"
        add(path, "WB", "wdi", write_wdi(path, cs, wdi_years, rng, e))
    for k in range(p.matrices):
        year = MATRIX_YEARS[::-1][k]
        path = files / f"undesa_migrant_stock_{year}.csv"
        add(path, "UNDESA", "template", write_matrix(path, cs, year, rng))
    revisions = []
    for ci, c in enumerate(cs[: p.national_countries]):
        providers.append(
            {
                "code": f"N_{c.iso3}",
                "name": f"NSO of {c.name}",
                "kind": "national",
                "areas": [c.iso3],
            }  # fmt: skip
        )
        cols = national_rows(c, ci, p.national_rows, rates)
        path = files / f"national_{c.iso3}.csv"
        add(path, f"N_{c.iso3}", "template", _write_template(path, cols))
        if ci % p.revised_every == 0:
            revisions.append((c, revision(cols, rng, ("2022", "2023"))))
        if ci == 0:
            more = national_rows(c, ci, max(p.national_rows, 14_000), rates)
            inc = _take(revision(more, rng, ("19", "20")), 10_000)
            increment = files / "increment.csv"
            inc_rows = _write_template(increment, inc)
    for c, cols in revisions:
        path = files / f"national_{c.iso3}_revised.csv"
        add(path, f"N_{c.iso3}", "template", _write_template(path, cols))
    # drawn last, from its own generator: the files above stay byte-identical
    nxt = revision(
        national_rows(cs[1], 1, max(p.national_rows, 14_000), rates),
        np.random.default_rng([SEED, 1, 1]),
        ("19", "20"),
    )
    next_rows = _write_template(files / "increment_next.csv", _take(nxt, 10_000))
    manifest = {
        "scale": n,
        "seed": SEED,
        "plan": {k: v for k, v in vars(p).items() if k != "files"},
        "providers": providers,
        "submissions": submissions,
        "increment": {
            "file": "increment.csv",
            "provider": f"N_{cs[0].iso3}",
            "format": "template",
            "rows": inc_rows,
        },  # fmt: skip
        "increment_next": {
            "file": "increment_next.csv",
            "provider": f"N_{cs[1].iso3}",
            "format": "template",
            "rows": next_rows,
        },  # fmt: skip
        "rows_total": sum(s["rows"] for s in submissions),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="100k")
    parser.add_argument("--out", type=Path, default=Path("bench/data"))
    args = parser.parse_args(argv)
    target = args.out / args.scale
    manifest = generate(target, SCALES[args.scale])
    print(
        f"{target}: {len(manifest['submissions'])} submissions, "
        f"{manifest['rows_total']:,} observations (+ increment of {manifest['increment']['rows']:,})"
    )
    return 0


if __name__ == "__main__":
    csv.field_size_limit(1 << 24)
    raise SystemExit(main())
