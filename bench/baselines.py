"""The baselines midex is measured against: the same harmonisation as a straightforward pandas
script, as DuckDB SQL, and the I/O floor (pyarrow reads the input and writes Parquet, nothing else).

"The same harmonisation": countries (ISO3, ISO2, names; country_converter plus the reviewed
overrides), indicator codes and WDI aliases, sex/age/status/unit codelists, periods, missing
markers, UNIT_MULT, local currency converted with the latest accepted IMF EXCHANGE_RATE,
revisions resolved as midex does (per provider the latest submission wins; across providers a
number beats a missing value, then provider-kind priority, then the latest), and the
remittances_gdp table. The codelists are read from schemas/ so every contender maps the same
codes; rows that would not map are dropped and counted (the bench input has none).

Each `run_*` takes the generated data folder and an output folder, writes
`observations.parquet` and `remittances_gdp.parquet` there and returns a dict of counts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

KEY = ["REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "AGE", "TIME_PERIOD"]
OUT = [*KEY, "OBS_VALUE", "UNIT_MEASURE", "OBS_STATUS", "PROVIDER", "SUBMISSION_ID"]
REMIT = {"REMIT_IN_USD": "REMIT_IN", "REMIT_OUT_USD": "REMIT_OUT", "GDP_USD": "GDP"}
REPORTED = "REMIT_IN_PCT_GDP"
WDI_PREAMBLE = 4
PERIODS = [  # regex, how to build the canonical period (as midex.transforms.harmonise.normalise_period)
    (r"^\d{4}$", "y"),
    (r"^\d{4}\.0+$", "y"),
    (r"^\d{4}-?Q[1-4]$", "q"),
    (r"^\d{4}(-|M)(0[1-9]|1[0-2])$", "m"),
]


def manifest(data: Path) -> dict[str, Any]:
    return json.loads((data / "manifest.json").read_text("utf-8"))


class Codes:
    """Lookups from the project's schemas/ (the contract every contender implements)."""

    def __init__(self) -> None:
        from midex.contract.schema import load_schema

        schema = load_schema()
        self.schema = schema
        self.indicator = schema.indicators.lookup()
        self.canonical_unit = {c.code: str(c.attrs["unit"]) for c in schema.indicators.codes}
        self.units = schema.units.lookup()
        self.sex = schema.sex.lookup()
        self.age = schema.age.lookup()
        self.status = schema.obs_status.lookup()
        self.sex_default = schema.sex.default
        self.age_default = schema.age.default
        self.status_default = schema.obs_status.default
        self.missing = {m.lower() for m in schema.missing_markers if m}

    def areas(self, values: list[str]) -> dict[str, str]:
        """upper(trim(value)) -> ISO3 with country_converter on the distinct values + overrides."""
        import country_converter as coco

        logging.getLogger("country_converter").setLevel(logging.ERROR)
        out: dict[str, str] = {"_Z": "_Z"}
        todo = []
        for v in values:
            key = v.strip().upper()
            if not key or key in out or key in self.schema.area_aggregates:
                continue
            if key in self.schema.area_overrides:
                out[key] = self.schema.area_overrides[key]
            else:
                todo.append(v.strip())
        if todo:
            query = [int(v) if v.isdigit() else v for v in todo]
            converted = coco.CountryConverter().convert(query, to="ISO3", not_found=None)
            if not isinstance(converted, list):
                converted = [converted]
            for v, iso3 in zip(todo, converted, strict=True):
                if isinstance(iso3, str):
                    out[v.upper()] = iso3
        return out

    def kind_rank(self, indicator: str, kind: str) -> int:
        from midex.contract.resolution import load_rules

        rule = load_rules(self.schema).rule(indicator)
        return rule.priority.index(kind) if kind in rule.priority else 99


def _kind_ranks(codes: Codes) -> dict[tuple[str, str], int]:
    return {
        (ind, kind): codes.kind_rank(ind, kind)
        for ind in codes.canonical_unit
        for kind in ("national", "agency")
    }


# -- pandas -------------------------------------------------------------------------------------


def _pd_read(data: Path, sub: dict[str, Any]):  # type: ignore[no-untyped-def]
    import pandas as pd

    path = data / "files" / sub["file"]
    if sub["format"] == "wdi":
        wide = pd.read_csv(
            path, skiprows=WDI_PREAMBLE, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
        years = [c for c in wide.columns if c.isdigit()]
        long = wide.melt(
            id_vars=["Country Code", "Indicator Code"],
            value_vars=years,
            var_name="TIME_PERIOD",
            value_name="OBS_VALUE",
        )
        long = long[long["OBS_VALUE"].str.strip() != ""]
        raw = pd.DataFrame(
            {
                "REF_AREA": long["Country Code"].to_numpy(),
                "INDICATOR": long["Indicator Code"].to_numpy(),
                "TIME_PERIOD": long["TIME_PERIOD"].to_numpy(),
                "OBS_VALUE": long["OBS_VALUE"].to_numpy(),
            }
        )
        for c in ("COUNTERPART_AREA", "SEX", "AGE", "UNIT_MEASURE", "UNIT_MULT", "OBS_STATUS"):
            raw[c] = ""
        return raw
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _pd_period(s):  # type: ignore[no-untyped-def]
    import pandas as pd

    v = s.str.strip().str.upper()
    out = pd.Series(None, index=s.index, dtype=object)
    for pattern, kind in PERIODS:
        hit = out.isna() & v.str.match(pattern)
        if kind == "y":
            out[hit] = v[hit].str[:4]
        elif kind == "q":
            out[hit] = v[hit].str[:4] + "-Q" + v[hit].str[-1]
        else:
            out[hit] = v[hit].str[:4] + "-" + v[hit].str[-2:]
    return out


def _pd_harmonise(raw, sub_id: int, provider: str, codes: Codes, areas: dict, rates):  # type: ignore[no-untyped-def]
    import pandas as pd

    def key(col: str):  # type: ignore[no-untyped-def]
        return raw[col].str.strip().str.upper()

    def blank_default(col: str, default: str):  # type: ignore[no-untyped-def]
        k = key(col)
        return k.where(k != "", default.upper())

    ref = key("REF_AREA").map(areas)
    cp_key = key("COUNTERPART_AREA")
    cp = cp_key.map(areas).where(cp_key != "", "_Z")
    indicator = key("INDICATOR").map(codes.indicator)
    canonical = indicator.map(codes.canonical_unit)
    unit_code = key("UNIT_MEASURE").map(codes.units)
    sex = blank_default("SEX", codes.sex_default).map(codes.sex)
    age = blank_default("AGE", codes.age_default).map(codes.age)
    text = raw["OBS_VALUE"].str.strip()
    missing = (text == "") | text.str.lower().isin(codes.missing)
    number = pd.to_numeric(text.where(~missing), errors="coerce")
    mult = pd.to_numeric(raw["UNIT_MULT"].str.strip().replace("", "0"), errors="coerce")
    status_key = key("OBS_STATUS").where(key("OBS_STATUS") != "", np.where(missing, "M", "A"))
    status = status_key.map(codes.status)
    period = _pd_period(raw["TIME_PERIOD"])
    value = number * np.power(10.0, mult)
    in_lcu = (unit_code == "LCU") & (canonical == "USD")
    if in_lcu.any():
        rate = pd.MultiIndex.from_arrays([ref, period]).map(rates.get).to_numpy(dtype=float)
        value = value.where(~in_lcu, value / rate)
    unit = unit_code.where(unit_code.notna() & ~in_lcu, canonical)
    ok = (
        ref.notna()
        & cp.notna()
        & indicator.notna()
        & sex.notna()
        & age.notna()
        & status.notna()
        & period.notna()
        & (missing | number.notna())
        & mult.notna()
        & ~(in_lcu & value.isna() & ~missing)
    )
    out = pd.DataFrame(
        {
            "REF_AREA": ref,
            "COUNTERPART_AREA": cp,
            "INDICATOR": indicator,
            "SEX": sex,
            "AGE": age,
            "TIME_PERIOD": period,
            "OBS_VALUE": value.where(~missing),
            "UNIT_MEASURE": unit,
            "OBS_STATUS": status,
            "PROVIDER": provider,
            "SUBMISSION_ID": sub_id,
        }
    )
    return out[ok], int((~ok).sum())


def remittances_gdp_pandas(obs):  # type: ignore[no-untyped-def]
    totals = obs[
        (obs["COUNTERPART_AREA"] == "_Z")
        & (obs["SEX"] == "_T")
        & (obs["AGE"] == "_T")
        & obs["TIME_PERIOD"].str.match(r"^\d{4}$")
        & obs["INDICATOR"].isin([*REMIT.values(), REPORTED])
    ]
    wide = totals.pivot_table(
        index=["REF_AREA", "TIME_PERIOD"], columns="INDICATOR", values="OBS_VALUE", aggfunc="max"
    )
    names = {**{v: k for k, v in REMIT.items()}, REPORTED: "REPORTED_REMIT_IN_PCT_GDP"}
    wide = wide.reindex(columns=list(names)).rename(columns=names).reset_index()
    wide.columns.name = None
    gdp = wide["GDP_USD"]
    wide["REMIT_IN_PCT_GDP"] = (wide["REMIT_IN_USD"] / gdp * 100.0).where(gdp != 0)
    keep = wide[["REMIT_IN_USD", "REMIT_OUT_USD", "REPORTED_REMIT_IN_PCT_GDP"]].notna().any(axis=1)
    cols = ["REF_AREA", "TIME_PERIOD", "REMIT_IN_USD", "REMIT_OUT_USD", "GDP_USD"]
    cols += ["REMIT_IN_PCT_GDP", "REPORTED_REMIT_IN_PCT_GDP"]
    return wide.loc[keep, cols].sort_values(["REF_AREA", "TIME_PERIOD"]).reset_index(drop=True)


def run_pandas(data: Path, out: Path) -> dict[str, Any]:
    import pandas as pd

    codes = Codes()
    m = manifest(data)
    kinds = {p["code"]: p["kind"] for p in m["providers"]}
    ranks = _kind_ranks(codes)
    parts, dropped, rates = [], 0, {}
    for sub_id, sub in enumerate(m["submissions"], start=1):
        raw = _pd_read(data, sub)
        values = pd.concat([raw["REF_AREA"], raw["COUNTERPART_AREA"]]).unique().tolist()
        good, bad = _pd_harmonise(raw, sub_id, sub["provider"], codes, codes.areas(values), rates)
        dropped += bad
        good["KIND_RANK"] = [ranks.get((i, kinds[sub["provider"]]), 99) for i in good["INDICATOR"]]
        parts.append(good)
        if kinds[sub["provider"]] == "agency":  # newer accepted agency rates win
            fx = good[
                (good["INDICATOR"] == "EXCHANGE_RATE")
                & (good["COUNTERPART_AREA"] == "_Z")
                & (good["SEX"] == "_T")
                & (good["AGE"] == "_T")
                & (good["OBS_VALUE"] > 0)
            ]
            rates.update(
                zip(
                    zip(fx["REF_AREA"], fx["TIME_PERIOD"], strict=True),
                    fx["OBS_VALUE"],
                    strict=True,
                )
            )
    versions = pd.concat(parts, ignore_index=True)
    # revisions: per provider and key, the latest submission
    versions = versions.sort_values("SUBMISSION_ID", kind="stable")
    current = versions.drop_duplicates(["PROVIDER", *KEY], keep="last")
    # competing sources: a number beats missing, then kind priority, then the latest, provider
    current = current.assign(_MISSING=current["OBS_VALUE"].isna())
    current = current.sort_values(
        [*KEY, "_MISSING", "KIND_RANK", "SUBMISSION_ID", "PROVIDER"],
        ascending=[True] * 6 + [True, True, False, True],
    )
    obs = current.drop_duplicates(KEY, keep="first")[OUT].reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    obs.to_parquet(out / "observations.parquet", index=False)
    table = remittances_gdp_pandas(obs)
    table.to_parquet(out / "remittances_gdp.parquet", index=False)
    return {"observations": len(obs), "remittances_gdp": len(table), "dropped": dropped}


# -- DuckDB -------------------------------------------------------------------------------------


def _sql_map(con, name: str, mapping: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa

    table = pa.table({"K": list(mapping), "V": list(mapping.values())})
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")


def run_duckdb(
    data: Path, out: Path, threads: int | None = None, debug: list | None = None
) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa

    codes = Codes()
    m = manifest(data)
    kinds = {p["code"]: p["kind"] for p in m["providers"]}
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if debug is not None:
        debug.append(con)
    if threads:
        con.execute(f"SET threads = {threads}")
    files = data / "files"
    subs = pa.table(
        {
            "FILE": [str(files / s["file"]) for s in m["submissions"]],
            "SUBMISSION_ID": list(range(1, len(m["submissions"]) + 1)),
            "PROVIDER": [s["provider"] for s in m["submissions"]],
            "KIND": [kinds[s["provider"]] for s in m["submissions"]],
        }
    )
    con.register("subs_arrow", subs)
    con.execute("CREATE TABLE subs AS SELECT * FROM subs_arrow")
    template = [str(files / s["file"]) for s in m["submissions"] if s["format"] == "template"]
    wdi = [str(files / s["file"]) for s in m["submissions"] if s["format"] == "wdi"]
    cols = "REF_AREA, COUNTERPART_AREA, INDICATOR, SEX, AGE, TIME_PERIOD, OBS_VALUE, "
    cols += "UNIT_MEASURE, UNIT_MULT, OBS_STATUS"
    con.execute(
        f"""CREATE TABLE raw AS
        SELECT {cols}, filename AS FILE FROM read_csv({template!r}, all_varchar = true,
            header = true, filename = true)"""
    )
    if wdi:
        con.execute(
            f"""INSERT INTO raw
            SELECT "Country Code", '', "Indicator Code", '', '', TIME_PERIOD, OBS_VALUE,
                   '', '', '', FILE
            FROM (UNPIVOT (SELECT *, filename AS FILE FROM read_csv({wdi!r}, all_varchar = true,
                     header = true, skip = {WDI_PREAMBLE}, filename = true, union_by_name = true))
                  ON COLUMNS('^[0-9]{{4}}$') INTO NAME TIME_PERIOD VALUE OBS_VALUE)
            WHERE trim(OBS_VALUE) <> ''"""
        )
    distinct = con.execute(
        """SELECT DISTINCT trim(REF_AREA) FROM raw
           UNION SELECT DISTINCT trim(COUNTERPART_AREA) FROM raw"""
    ).fetchall()
    _sql_map(con, "areas", codes.areas([r[0] for r in distinct if r[0]]))
    _sql_map(con, "indicators", codes.indicator)
    _sql_map(con, "canon", codes.canonical_unit)
    _sql_map(con, "units", codes.units)
    _sql_map(con, "sexes", codes.sex)
    _sql_map(con, "ages", codes.age)
    _sql_map(con, "statuses", codes.status)
    ranks = _kind_ranks(codes)
    con.register(
        "ranks_arrow",
        pa.table(
            {
                "INDICATOR": [k[0] for k in ranks],
                "KIND": [k[1] for k in ranks],
                "RANK": list(ranks.values()),
            }
        ),
    )
    missing = ", ".join("'" + m_.replace("'", "''") + "'" for m_ in sorted(codes.missing))
    period = """CASE
        WHEN regexp_full_match(P, '\\d{4}') THEN P
        WHEN regexp_full_match(P, '\\d{4}\\.0+') THEN substr(P, 1, 4)
        WHEN regexp_full_match(P, '\\d{4}-?Q[1-4]') THEN substr(P, 1, 4) || '-Q' || right(P, 1)
        WHEN regexp_full_match(P, '\\d{4}(-|M)(0[1-9]|1[0-2])') THEN substr(P, 1, 4) || '-' || right(P, 2)
        END"""
    con.execute(
        f"""CREATE TABLE mapped AS
        WITH r AS (
            SELECT raw.*, s.SUBMISSION_ID, s.PROVIDER, s.KIND,
                   upper(trim(TIME_PERIOD)) AS P,
                   nullif(trim(OBS_VALUE), '') AS VAL,
                   coalesce(nullif(trim(UNIT_MULT), ''), '0') AS MULT_TEXT
            FROM raw JOIN subs s USING (FILE)
        ), m AS (
            SELECT r.*,
                   ra.V AS RA, CASE WHEN coalesce(trim(r.COUNTERPART_AREA), '') = '' THEN '_Z' ELSE ca.V END AS CA,
                   ind.V AS IND, canon.V AS CANON, u.V AS UNIT_CODE, sx.V AS SX, ag.V AS AG,
                   VAL IS NULL OR lower(VAL) IN ({missing}) AS IS_MISSING,
                   TRY_CAST(VAL AS DOUBLE) AS NUM, TRY_CAST(MULT_TEXT AS INTEGER) AS MULT,
                   {period} AS PERIOD
            FROM r
            LEFT JOIN areas ra ON ra.K = upper(trim(r.REF_AREA))
            LEFT JOIN areas ca ON ca.K = upper(trim(r.COUNTERPART_AREA))
            LEFT JOIN indicators ind ON ind.K = upper(trim(r.INDICATOR))
            LEFT JOIN canon ON canon.K = ind.V
            LEFT JOIN units u ON u.K = upper(trim(r.UNIT_MEASURE))
            LEFT JOIN sexes sx ON sx.K = upper(coalesce(nullif(trim(r.SEX), ''), '{codes.sex_default}'))
            LEFT JOIN ages ag ON ag.K = upper(coalesce(nullif(trim(r.AGE), ''), '{codes.age_default}'))
        )
        SELECT m.*, st.V AS STATUS,
               coalesce(UNIT_CODE = 'LCU' AND CANON = 'USD', false) AS IN_LCU
        FROM m
        LEFT JOIN statuses st ON st.K = upper(coalesce(nullif(trim(m.OBS_STATUS), ''),
                                           CASE WHEN IS_MISSING THEN 'M' ELSE 'A' END))"""
    )
    con.execute(
        """CREATE TABLE rates AS
        SELECT RA AS FX_AREA, PERIOD AS FX_PERIOD, NUM * pow(10.0, MULT) AS RATE FROM mapped
        WHERE KIND = 'agency' AND IND = 'EXCHANGE_RATE' AND CA = '_Z' AND SX = '_T' AND AG = '_T'
          AND NOT IS_MISSING AND NUM * pow(10.0, MULT) > 0
        QUALIFY row_number() OVER (PARTITION BY RA, PERIOD ORDER BY SUBMISSION_ID DESC) = 1"""
    )
    con.execute(
        """CREATE TABLE harmonised AS
        SELECT RA AS REF_AREA, CA AS COUNTERPART_AREA, IND AS INDICATOR, SX AS SEX, AG AS AGE,
               PERIOD AS TIME_PERIOD,
               CASE WHEN IS_MISSING THEN NULL
                    WHEN IN_LCU THEN NUM * pow(10.0, MULT) / fx.RATE
                    ELSE NUM * pow(10.0, MULT) END AS OBS_VALUE,
               CASE WHEN IN_LCU THEN CANON ELSE coalesce(UNIT_CODE, CANON) END AS UNIT_MEASURE,
               STATUS AS OBS_STATUS, PROVIDER, SUBMISSION_ID, KIND,
               RA IS NOT NULL AND CA IS NOT NULL AND IND IS NOT NULL AND SX IS NOT NULL
               AND AG IS NOT NULL AND STATUS IS NOT NULL AND PERIOD IS NOT NULL
               AND (IS_MISSING OR NUM IS NOT NULL) AND MULT IS NOT NULL
               AND NOT (IN_LCU AND NOT IS_MISSING AND fx.RATE IS NULL) IS TRUE AS OK
        FROM mapped LEFT JOIN rates fx ON fx.FX_AREA = RA AND fx.FX_PERIOD = mapped.PERIOD"""
    )
    dropped = con.execute("SELECT count(*) FROM harmonised WHERE NOT OK").fetchall()[0][0]
    con.execute("CREATE TABLE ranks AS SELECT * FROM ranks_arrow")
    con.execute(
        """CREATE TABLE observations AS
        WITH latest AS (
            SELECT * FROM harmonised WHERE OK
            QUALIFY row_number() OVER (PARTITION BY PROVIDER, REF_AREA, COUNTERPART_AREA,
                INDICATOR, SEX, AGE, TIME_PERIOD ORDER BY SUBMISSION_ID DESC) = 1
        )
        SELECT REF_AREA, COUNTERPART_AREA, INDICATOR, SEX, AGE, TIME_PERIOD, OBS_VALUE,
               UNIT_MEASURE, OBS_STATUS, PROVIDER, SUBMISSION_ID
        FROM latest LEFT JOIN ranks USING (INDICATOR, KIND)
        QUALIFY row_number() OVER (PARTITION BY REF_AREA, COUNTERPART_AREA, INDICATOR, SEX, AGE,
            TIME_PERIOD ORDER BY OBS_VALUE IS NULL, coalesce(RANK, 99), SUBMISSION_ID DESC,
            PROVIDER) = 1"""
    )
    out.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""COPY (SELECT * FROM observations ORDER BY REF_AREA, COUNTERPART_AREA, INDICATOR, SEX,
            AGE, TIME_PERIOD) TO '{out / "observations.parquet"}' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (
        WITH w AS (
            SELECT REF_AREA, TIME_PERIOD,
                   max(OBS_VALUE) FILTER (WHERE INDICATOR = 'REMIT_IN') AS REMIT_IN_USD,
                   max(OBS_VALUE) FILTER (WHERE INDICATOR = 'REMIT_OUT') AS REMIT_OUT_USD,
                   max(OBS_VALUE) FILTER (WHERE INDICATOR = 'GDP') AS GDP_USD,
                   max(OBS_VALUE) FILTER (WHERE INDICATOR = '{REPORTED}')
                       AS REPORTED_REMIT_IN_PCT_GDP
            FROM observations
            WHERE COUNTERPART_AREA = '_Z' AND SEX = '_T' AND AGE = '_T'
              AND regexp_full_match(TIME_PERIOD, '\\d{{4}}')
              AND INDICATOR IN ('REMIT_IN', 'REMIT_OUT', 'GDP', '{REPORTED}')
            GROUP BY REF_AREA, TIME_PERIOD
        )
        SELECT REF_AREA, TIME_PERIOD, REMIT_IN_USD, REMIT_OUT_USD, GDP_USD,
               CASE WHEN GDP_USD <> 0 THEN REMIT_IN_USD / GDP_USD * 100.0 END AS REMIT_IN_PCT_GDP,
               REPORTED_REMIT_IN_PCT_GDP
        FROM w
        WHERE REMIT_IN_USD IS NOT NULL OR REMIT_OUT_USD IS NOT NULL
           OR REPORTED_REMIT_IN_PCT_GDP IS NOT NULL
        ORDER BY REF_AREA, TIME_PERIOD
        ) TO '{out / "remittances_gdp.parquet"}' (FORMAT parquet)"""
    )
    n_obs = con.execute("SELECT count(*) FROM observations").fetchall()[0][0]
    n_tab = con.execute(
        f"SELECT count(*) FROM read_parquet('{out / 'remittances_gdp.parquet'}')"
    ).fetchall()[0][0]
    return {"observations": n_obs, "remittances_gdp": n_tab, "dropped": dropped}


# -- the I/O floor ------------------------------------------------------------------------------


def run_io_floor(data: Path, out: Path) -> dict[str, Any]:
    """Read every input file with pyarrow and write it back as one Parquet file per format."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    m = manifest(data)
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    writers: dict[str, pq.ParquetWriter] = {}
    for sub in m["submissions"]:
        path = data / "files" / sub["file"]
        skip = WDI_PREAMBLE if sub["format"] == "wdi" else 0
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(skip_rows=skip, block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=False, column_types=None, auto_dict_encode=False
            ),
        )
        table = table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
        rows += table.num_rows
        name = f"{sub['format']}-{table.num_columns}"
        if name not in writers:
            writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
        writers[name].write_table(table)
    for w in writers.values():
        w.close()
    return {"rows_read": rows}
