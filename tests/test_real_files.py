"""Every real file in ../shared/data/real goes through `midex submit` + ONE `midex run`.

Files with migration or development figures are read by the format or layout --format auto
chooses, and spot values are compared with the source parsed here independently (csv, openpyxl,
xlrd), never with midex's readers. Files outside the schema are rejected with one clear line.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REAL_DATA, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/real is not there"),
]

# file -> (the format --format auto must choose, the status after `midex run`)
FILES: dict[str, tuple[str, str]] = {
    "wb_wdi_API_BM.TRF.PWKR.CD.DT_DS2_en_csv_v2_3012027.csv": ("wdi", "accepted"),
    "wb_wdi_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv": ("wdi", "accepted"),
    "wb_wdi_API_NY.GNP.MKTP.CD_DS2_en_csv_v2_4155130.csv": ("wdi", "accepted"),
    "wb_wdi_SP.POP.TOTL_csv_2021-09-15.csv": ("wdi", "accepted"),
    "wb_wdi_2015_sm.pop.netm_Indicator_en_csv_v2.csv": ("wdi", "accepted"),
    "wb_wdi_2015_sp.pop.totl_Indicator_en_csv_v2.csv": ("wdi", "accepted"),
    "wb_wdi_BM.TRF.PWKR.CD.DT_remittances_paid.xls": ("wdi", "accepted"),
    "wb_wdi_BX.TRF.PWKR.CD.DT_remittances_received.xls": ("wdi", "accepted"),
    "wb_wdi_BX.TRF.PWKR.DT.GD.ZS_remittances_pct_gdp.xls": ("wdi", "accepted"),
    "wb_wdi_SI.RMT.COST.IB.ZS_remittance_cost_to_country.xls": ("wdi", "accepted"),
    "wb_wdi_SI.RMT.COST.OB.ZS_remittance_cost_from_country.xls": ("wdi", "accepted"),
    "wb_wdi_SM.POP.NETM_net_migration.xls": ("wdi", "accepted"),
    "wb_wdi_SM.POP.REFG_refugee_population_2017.xls": ("wdi", "accepted"),
    "eurostat_demo_r_gind3_CNMIGRAT_excerpt.tsv": ("eurostat-tsv", "accepted"),
    "knomad_2023-06_remittance_inflows.xlsx": ("layout:knomad_remittance_inflows", "accepted"),
    "knomad_2023-06_remittance_outflows.xlsx": ("layout:knomad_remittance_outflows", "accepted"),
    "undesa_2013_migrant_stock_origin_destination_matrix.csv": (
        "layout:undesa_2013_origin_destination",
        "accepted",
    ),
    "undesa_2015_migration_flow_totals.xlsx": ("layout:undesa_2015_migration_flows", "accepted"),
    "undesa_2020_ims_stock_by_sex_and_destination.xlsx": (
        "layout:undesa_2020_ims_destination",
        "accepted",
    ),
    "unhcr_refugee_data_finder_2021_by_country_of_asylum.csv": (
        "layout:unhcr_refugees_by_asylum",
        "accepted",
    ),
    "unhcr_refugee_data_finder_2021_unrwa_palestine_refugees_by_asylum.csv": (
        "layout:unhcr_unrwa_palestine_refugees",
        "accepted",
    ),
    "datapackage_oecd_dac_oda_pct_gni_by_donor.csv": ("layout:oecd_dac_oda_pct_gni", "accepted"),
    "owid_grapher_share_population_born_in_another_country_filtered.csv": (
        "layout:owid_share_born_abroad",
        "accepted",
    ),
    "undata_export_20220425_gni_current_usd.csv": ("layout:undata_gni_current_usd", "accepted"),
    "unsd_ama_gni_current_usd_all_countries.xlsx": ("layout:unsd_ama_gni_current_usd", "accepted"),
    # read in full, then rejected by validation: the source has five negative corridor costs
    "wb_databank_remittance_prices_worldwide_corridors_2011-2020.csv": (
        "layout:wb_remittance_prices_corridors",
        "rejected",
    ),
    # read in full, then rejected: GDP in million euro needs a EUR exchange-rate series first
    "eurostat_sdmxml21_structurespecific_nama_10_gdp_LU.xml": ("sdmx-ml", "rejected"),
    # outside the schema: rejected at parse with one line saying what to do
    "oecd_stat_export_GIDDB2019_22042022145601645.csv": ("template", "rejected"),
    "stadt_wien_average_age_by_district_2002f_decimal_comma.csv": ("template", "rejected"),
    "stadt_wien_migration_by_subdistrict_sex_nationality_2007-2023.csv": ("template", "rejected"),
    "basel_stadt_statabs_6011_migration_by_origin_destination.tsv": ("template", "rejected"),
    "basel_stadt_statabs_6761_net_migration_by_citizenship.tsv": ("template", "rejected"),
    "wb_wdi_Metadata_Country_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv": ("wdi", "rejected"),
    "wb_wdi_Metadata_Indicator_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv": (
        "wdi",
        "rejected",
    ),
}


def test_every_real_file_is_listed() -> None:
    present = {p.name for p in REAL_DATA.iterdir() if p.name != "SOURCES.md"}
    assert present == set(FILES)


@pytest.fixture(scope="module")
def processed(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Submit every file with --format auto, then one `midex run` for all of them."""
    home = tmp_path_factory.mktemp("real") / "midex"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(home))
        for var in ("MIDEX_LAKE", "MIDEX_LANDING", "MIDEX_CATALOG_URL"):
            mp.delenv(var, raising=False)
        assert run_cli("init").code == 0
        out = run_cli("provider", "add", "AGENCY", "--name", "Agencies", "--kind", "agency")
        assert out.code == 0, out.err
        submitted = {}
        for name in FILES:
            out = run_cli("submit", str(REAL_DATA / name), "--provider", "AGENCY", "--json")
            assert out.code == 0, out.err
            submitted[name] = out.json()
        run = run_cli("run", "--json")
        from midex.stages import Context

        ctx = Context.open()
        yield {"submitted": submitted, "run": run, "ctx": ctx}


def harmonised(processed: dict[str, Any], name: str) -> dict[tuple, float]:
    """(REF_AREA, COUNTERPART_AREA, INDICATOR, SEX, TIME_PERIOD) -> OBS_VALUE of one file."""
    import pyarrow.parquet as pq

    ctx = processed["ctx"]
    sub_id = processed["submitted"][name]["id"]
    table = pq.read_table(str(ctx.lake.submission_dir("harmonised", sub_id))).to_pylist()
    return {
        (r["REF_AREA"], r["COUNTERPART_AREA"], r["INDICATOR"], r["SEX"], r["TIME_PERIOD"]): r[
            "OBS_VALUE"
        ]
        for r in table
    }


def status(processed: dict[str, Any], name: str):
    return processed["ctx"].catalog.submission(processed["submitted"][name]["id"])


def test_auto_detection_and_outcome_per_file(processed: dict[str, Any]) -> None:
    assert processed["run"].code == 0, processed["run"].err
    got = {
        name: (processed["submitted"][name]["format"], str(status(processed, name).status))
        for name in FILES
    }
    assert got == FILES


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ------------------------------------------------------------------ World Bank WDI (csv, xls)

WDI_CANONICAL = {
    "BM.TRF.PWKR.CD.DT": "REMIT_OUT",
    "BX.TRF.PWKR.CD.DT": "REMIT_IN",
    "DT.ODA.ODAT.GN.ZS": "ODA_RECEIVED_PCT_GNI",
    "NY.GNP.MKTP.CD": "GNI",
    "SP.POP.TOTL": "POP",
    "SM.POP.NETM": "MIG_NET",
    "BX.TRF.PWKR.DT.GD.ZS": "REMIT_IN_PCT_GDP",
    "SI.RMT.COST.IB.ZS": "REMIT_COST_IN",
    "SI.RMT.COST.OB.ZS": "REMIT_COST_OUT",
    "SM.POP.REFG": "REFUGEES_ASYLUM",
}
SPOT_COUNTRIES = ("PHL", "MEX", "DEU", "NGA")


def wdi_source(name: str) -> list[list[str]]:
    """The WDI table (header first) parsed with csv or xlrd directly."""
    path = REAL_DATA / name
    if name.endswith(".xls"):
        import xlrd

        sheet = xlrd.open_workbook(path).sheet_by_name("Data")
        rows = [[str(v) for v in sheet.row_values(i)] for i in range(sheet.nrows)]
        rows = rows[next(i for i, r in enumerate(rows) if r[0] == "Country Name") :]
    else:
        text = path.read_text(encoding="utf-8-sig")
        start = text.index('"Country Name"')
        rows = list(csv.reader(io.StringIO(text[start:])))
    return rows


@pytest.mark.parametrize(
    "name", [n for n, (f, s) in FILES.items() if f == "wdi" and s == "accepted"]
)
def test_wdi_values_match_the_source(processed: dict[str, Any], name: str) -> None:
    rows = wdi_source(name)
    header = rows[0]
    got = harmonised(processed, name)
    checked = 0
    for row in rows[1:]:
        if len(row) < 4 or row[1] not in SPOT_COUNTRIES:
            continue
        indicator = WDI_CANONICAL[row[3]]
        for j, year in enumerate(header):
            if year.isdigit() and j < len(row) and row[j].strip():
                key = (row[1], "_Z", indicator, "_T", year)
                assert close(got[key], float(row[j])), (key, row[j])
                checked += 1
    assert checked > 0
    areas = {k[0] for k in got}
    assert not areas & {"WLD", "ARB", "SSF", "HIC", "EUU", "OED", "LMY"}
    notes = " ".join(status(processed, name).notes or [])
    assert "aggregates left out" in notes and "WLD" in notes


# -------------------------------------------------------------------------------- Eurostat


def test_eurostat_values_flags_and_nuts(processed: dict[str, Any]) -> None:
    name = "eurostat_demo_r_gind3_CNMIGRAT_excerpt.tsv"
    lines = (REAL_DATA / name).read_text(encoding="utf-8").splitlines()
    years = [c.strip() for c in lines[0].split("\t")[1:]]
    got = harmonised(processed, name)
    checked = 0
    for line in lines[1:]:
        cells = line.split("\t")
        geo = cells[0].split(",")[1]
        if len(geo) != 2:
            assert not any(k[0].startswith(geo) and len(k[0]) > 3 for k in got)
            continue
        iso3 = {"AL": "ALB", "AT": "AUT", "BE": "BEL", "BG": "BGR", "CH": "CHE", "CY": "CYP",
                "CZ": "CZE", "DE": "DEU"}[geo]  # fmt: skip
        for year, cell in zip(years, cells[1:], strict=False):
            number = cell.strip().split(" ")[0]
            if number != ":":
                assert close(got[(iso3, "_Z", "MIG_NET", "_T", year)], float(number))
                checked += 1
    assert checked == 149


# ---------------------------------------------------------------------------------- layouts


def xlsx_rows(name: str, sheet: str | int = 0) -> list[tuple]:
    from openpyxl import load_workbook

    wb = load_workbook(REAL_DATA / name, read_only=True, data_only=True)
    ws = wb.worksheets[sheet] if isinstance(sheet, int) else wb[sheet]
    rows = list(ws.iter_rows(values_only=True))
    wb.close()
    return rows


@pytest.mark.parametrize(
    ("name", "indicator", "header_row"),
    [
        ("knomad_2023-06_remittance_inflows.xlsx", "REMIT_IN", 0),
        ("knomad_2023-06_remittance_outflows.xlsx", "REMIT_OUT", 1),
    ],
)
def test_knomad_values_are_millions_of_dollars(
    processed: dict[str, Any], name: str, indicator: str, header_row: int
) -> None:
    rows = xlsx_rows(name)
    years = [str(y) for y in rows[header_row]]
    got = harmonised(processed, name)
    zeros = 0
    for country, iso3 in (("Philippines", "PHL"), ("Mexico", "MEX"), ("India", "IND")):
        row = next(r for r in rows if r[0] == country)
        for j, year in enumerate(years):
            if year.isdigit() and isinstance(row[j], int | float):
                key = (iso3, "_Z", indicator, "_T", year)
                if row[j] == 0:  # the workbook's 0 is "no estimate" (layout zeros: missing)
                    zeros += 1
                    assert key not in got, key
                else:
                    assert close(got[key], row[j] * 1e6)
    # outflows: Mexico's are 0 for 2000-2012, the Philippines' for 2000-2004
    assert zeros == (0 if indicator == "REMIT_IN" else 18)
    assert not any(k[0] in ("WLD",) for k in got)
    assert not [k for k, v in got.items() if v == 0]  # no 0 of this workbook is published


def test_undesa_2013_matrix_cp437_and_space_thousands(processed: dict[str, Any]) -> None:
    name = "undesa_2013_migrant_stock_origin_destination_matrix.csv"
    text = (REAL_DATA / name).read_bytes().decode("cp437")
    rows = list(csv.reader(io.StringIO(text)))
    header = next(r for r in rows if "Country code" in r)
    got = harmonised(processed, name)
    for destination, iso3, origin, origin_iso3 in [
        ("United States of America", "USA", "Mexico", "MEX"),
        ("Burkina Faso", "BFA", "Côte d'Ivoire", "CIV"),
        ("Réunion", "REU", "France", "FRA"),
    ]:
        row = next(r for r in rows if len(r) > 1 and r[1] == destination)
        cell = row[header.index(origin)]
        assert close(
            got[(iso3, origin_iso3, "MIG_STOCK", "_T", "2013")], float(cell.replace(" ", ""))
        )
    assert not any(k[1] in ("WLD",) for k in got)


def test_a_knomad_zero_never_wins_over_the_world_banks_figure(processed: dict[str, Any]) -> None:
    """KNOMAD writes 0 where it has no estimate (Algeria 2000-2004); WDI has the figure. The 0 is
    no value (layout zeros: missing), so the published REMIT_IN is the World Bank's."""
    import pyarrow.parquet as pq

    knomad = xlsx_rows("knomad_2023-06_remittance_inflows.xlsx")
    years = [str(y) for y in knomad[0]]
    zeros = {
        (r[0], year)
        for r in knomad[1:]
        if r and r[0]
        for j, year in enumerate(years)
        if year.isdigit() and r[j] == 0
    }
    wdi = wdi_source("wb_wdi_BX.TRF.PWKR.CD.DT_remittances_received.xls")
    header = [h.removesuffix(".0") for h in wdi[0]]
    expected = {
        (row[1], year): float(row[j])
        for row in wdi[1:]
        for j, year in enumerate(header)
        if (row[0], year) in zeros and row[j].strip() and float(row[j]) != 0
    }
    assert len(expected) > 50  # Algeria, Austria, Belgium ... 2000-2004
    table = pq.read_table(processed["ctx"].lake.resolved_dir("observations")).to_pylist()
    published = {
        (r["REF_AREA"], r["TIME_PERIOD"]): r["OBS_VALUE"]
        for r in table
        if r["INDICATOR"] == "REMIT_IN" and r["COUNTERPART_AREA"] == "_Z" and r["SEX"] == "_T"
    }
    wrong = {
        k: (published.get(k), v) for k, v in expected.items() if not close(published.get(k) or 0, v)
    }
    assert not wrong
    assert published[("DZA", "2000")] == 790_000_000


def test_undesa_2013_totals_residuals_and_reporting_areas_are_kept(
    processed: dict[str, Any],
) -> None:
    """The matrix's own totals are published as totals (its World column as each destination's
    MIG_STOCK with COUNTERPART_AREA _Z, its WORLD row as each origin's EMIG_STOCK), its residual
    origins as XON/XOS, and the Channel Islands (830) as CHI: so every destination's partner rows
    add up to its total, and every origin's rows over destinations add up to its World row."""
    name = "undesa_2013_migrant_stock_origin_destination_matrix.csv"
    rows = list(csv.reader(io.StringIO((REAL_DATA / name).read_bytes().decode("cp437"))))
    header = next(r for r in rows if "Country code" in r)
    world = next(r for r in rows if len(r) > 1 and r[1] == "WORLD")

    def number(row: list[str], column: str) -> float | None:
        cell = row[header.index(column)].replace(" ", "")
        return float(cell) if cell else None

    got = harmonised(processed, name)
    for destination, iso3 in [("United States of America", "USA"), ("Channel Islands", "CHI"),
                              ("Holy See", "VAT"), ("Germany", "DEU")]:  # fmt: skip
        row = next(r for r in rows if len(r) > 1 and r[1] == destination)
        assert close(got[(iso3, "_Z", "MIG_STOCK", "_T", "2013")], number(row, "World"))
        for residual, code in (("Other North", "XON"), ("Other South", "XOS")):
            value = number(row, residual)
            assert got.get((iso3, code, "MIG_STOCK", "_T", "2013")) == value, (iso3, code)
    for origin, iso3 in [("Mexico", "MEX"), ("India", "IND"), ("Holy See", "VAT")]:
        assert close(got[(iso3, "_Z", "EMIG_STOCK", "_T", "2013")], number(world, origin))
    assert got[("CHI", "GBR", "MIG_STOCK", "_T", "2013")] == 73_030  # CHI as a destination
    assert got[("GBR", "CHI", "MIG_STOCK", "_T", "2013")] == 24_022  # ... and as an origin

    parts_by_destination: dict[str, float] = {}
    parts_by_origin: dict[str, float] = {}
    for (ref, partner, indicator, _, _), v in got.items():
        if indicator == "MIG_STOCK" and partner != "_Z" and v is not None:
            parts_by_destination[ref] = parts_by_destination.get(ref, 0.0) + v
            parts_by_origin[partner] = parts_by_origin.get(partner, 0.0) + v
    totals = [(k, v) for k, v in got.items() if k[1] == "_Z"]
    assert len(totals) == 2 * 232  # 232 destinations' totals, 232 origins' emigrant stocks
    for (ref, _, indicator, _, _), v in totals:
        parts = parts_by_destination if indicator == "MIG_STOCK" else parts_by_origin
        assert abs(parts.get(ref, 0.0) - v) < 0.5, (ref, indicator, parts.get(ref), v)
    # the parts add up, so validation's partner_breakdown has nothing to say
    sub = status(processed, name)
    assert "partner_breakdown" not in str(sub.validation)


def test_unhcr_and_unrwa(processed: dict[str, Any]) -> None:
    for name, column, indicator in [
        ("unhcr_refugee_data_finder_2021_by_country_of_asylum.csv",
         "Refugees under UNHCR's mandate", "REFUGEES_ASYLUM"),
        ("unhcr_refugee_data_finder_2021_unrwa_palestine_refugees_by_asylum.csv", "Total",
         "REFUGEES_UNRWA"),
    ]:  # fmt: skip
        lines = (REAL_DATA / name).read_text(encoding="utf-8").splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("Year,"))
        records = list(csv.DictReader(lines[start:]))
        got = harmonised(processed, name)
        assert len(got) == sum(1 for r in records if r[column].strip())
        for r in records[:: max(1, len(records) // 40)]:
            if r[column].strip():
                key = (r["Country of asylum (ISO)"], "_Z", indicator, "_T", r["Year"])
                assert close(got[key], float(r[column])), key


def test_unrwa_refugees_are_a_part_not_a_replacement_of_unhcr_refugees(
    processed: dict[str, Any],
) -> None:
    """UNRWA's Palestine refugees are their own series: UNHCR's figure for a country where UNRWA
    operates is not replaced by UNRWA's part (Syria 2010 was published as 476,801, UNRWA's part
    alone, instead of UNHCR's 1,005,471 or the World Bank's total of the two)."""
    import pyarrow.parquet as pq

    table = pq.read_table(processed["ctx"].lake.resolved_dir("observations")).to_pylist()
    published = {
        (r["REF_AREA"], r["INDICATOR"], r["TIME_PERIOD"]): r["OBS_VALUE"]
        for r in table
        if r["COUNTERPART_AREA"] == "_Z" and r["SEX"] == "_T"
    }
    assert published[("SYR", "REFUGEES_UNRWA", "2010")] == 476_801
    assert published[("LBN", "REFUGEES_UNRWA", "2016")] == 463_664
    # UNHCR's own figure (its 2021 file) or the World Bank's (SM.POP.REFG, 2017 file: UNHCR's
    # and UNRWA's together, of an earlier vintage): never UNRWA's part alone
    assert published[("SYR", "REFUGEES_ASYLUM", "2010")] in (1_005_471, 1_501_442)
    assert published[("LBN", "REFUGEES_ASYLUM", "2016")] in (1_012_959, 1_476_618)


def test_oecd_dac_2018_is_missing_and_averages_are_not_periods(processed: dict[str, Any]) -> None:
    name = "datapackage_oecd_dac_oda_pct_gni_by_donor.csv"
    records = list(csv.DictReader(io.StringIO((REAL_DATA / name).read_text(encoding="utf-8"))))
    got = harmonised(processed, name)
    assert {k[4] for k in got} == {"2014", "2015", "2016", "2017"}
    for donor, iso3 in (("Norway", "NOR"), ("Sweden", "SWE"), ("United States", "USA")):
        r = next(r for r in records if r["Country"] == donor)
        for year in ("2014", "2017"):
            assert close(got[(iso3, "_Z", "ODA_GIVEN_PCT_GNI", "_T", year)], float(r[year]))
    assert len(got) == 28 * 4  # the donors, without TOTAL DAC, DAC-EU and the average


def test_owid_undata_unsd(processed: dict[str, Any]) -> None:
    owid = "owid_grapher_share_population_born_in_another_country_filtered.csv"
    records = list(csv.reader(io.StringIO((REAL_DATA / owid).read_text(encoding="utf-8"))))
    got = harmonised(processed, owid)
    assert len(got) == len(records) - 1
    hk = next(r for r in records if r[0] == "Hong Kong" and r[1] == "2020")
    assert close(got[("HKG", "_Z", "MIG_STOCK_PCT_POP", "_T", "2020")], float(hk[2]))

    undata = "undata_export_20220425_gni_current_usd.csv"
    records = list(csv.DictReader(io.StringIO((REAL_DATA / undata).read_text(encoding="utf-8"))))
    got = harmonised(processed, undata)
    r = next(
        r for r in records if r["Country or Area"] == "Republic of Korea" and r["Year"] == "2019"
    )
    assert close(got[("KOR", "_Z", "GNI", "_T", "2019")], float(r["Value"]))
    assert {k[0] for k in got} == {"PRK", "KOR", "MKD"}

    unsd = "unsd_ama_gni_current_usd_all_countries.xlsx"
    rows = xlsx_rows(unsd)
    header = rows[2]
    got = harmonised(processed, unsd)
    for m49, iso3 in ((608, "PHL"), (484, "MEX"), (4, "AFG")):
        row = next(r for r in rows if r[0] == m49)
        for j, year in enumerate(header):
            if isinstance(year, int) and isinstance(row[j], int | float):
                assert close(got[(iso3, "_Z", "GNI", "_T", str(year))], row[j])
    assert "810" in " ".join(status(processed, unsd).notes or [])  # USSR left out, reported
    parts = [next(r for r in rows if r[0] == m49) for m49 in (835, 836)]  # Tanzania's two parts
    year = header.index(2019)
    assert close(got[("TZA", "_Z", "GNI", "_T", "2019")], parts[0][year] + parts[1][year])


def test_undesa_flows_and_ims_2020(processed: dict[str, Any]) -> None:
    flows = "undesa_2015_migration_flow_totals.xlsx"
    rows = xlsx_rows(flows)
    header = next(r for r in rows if r[0] == "CntName")
    got = harmonised(processed, flows)
    uk = next(r for r in rows if str(r[0]).startswith("United Kingdom") and r[1:4] == ("Residence", "Immigrants", "Both"))  # fmt: skip
    for j, year in enumerate(header):
        if isinstance(year, int) and isinstance(uk[j], int | float):
            assert close(got[("GBR", "_Z", "MIG_INFLOW", "_T", str(year))], uk[j])

    ims = "undesa_2020_ims_stock_by_sex_and_destination.xlsx"
    got = harmonised(processed, ims)
    for sheet, indicator, factor in (("Table 1", "MIG_STOCK", 1), ("Table 2", "POP", 1000)):
        rows = xlsx_rows(ims, sheet)
        row = next(r for r in rows if r[3] == 608)  # Philippines by M49 location code
        for offset, sex in ((5, "_T"), (12, "M"), (19, "F")):
            assert close(got[("PHL", "_Z", indicator, sex, "2020")], row[offset + 6] * factor)
    assert not any(k[0] == "WLD" for k in got)


# ------------------------------------------------------------------------- rejected files


def test_corridor_file_is_read_and_its_negative_costs_reported(processed: dict[str, Any]) -> None:
    import json

    name = "wb_databank_remittance_prices_worldwide_corridors_2011-2020.csv"
    records = list(csv.reader(io.StringIO((REAL_DATA / name).read_text(encoding="utf-8-sig"))))
    header = [" ".join(h.split()) for h in records[0]]
    series, sender, receiver = (
        header.index(h)
        for h in ("Series Code", "Sending Countries Code", "Receiving Countries Code")
    )
    first = next(j for j, h in enumerate(header) if h[:4].isdigit())
    data = [(i, r) for i, r in enumerate(records[1:], start=2) if len(r) > first]
    negative = {
        (i, records[0][j]) for i, r in data for j in range(first, len(r)) if r[j][:1] == "-"
    }
    values = [
        v
        for _, r in data
        if r[series] == "ATCR.CORR" and "ANT" not in (r[sender], r[receiver])  # ANT: no ISO code
        for v in r[first:]
        if v not in ("..", "")
    ]
    assert len(negative) == 5
    sub = status(processed, name)
    assert sub.rows_harmonised == len(values)
    findings = json.loads(processed["ctx"].lake.findings_file(sub.id).read_text())
    errors = {(f["row"], f["column"]) for f in findings if f["severity"] == "error"}
    assert {(row, column.split(" [")[0]) for row, column in errors} >= {
        (row, column.split(" [")[0]) for row, column in negative
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("oecd_stat_export_GIDDB2019_22042022145601645.csv", "matches no format midex reads"),
        ("stadt_wien_average_age_by_district_2002f_decimal_comma.csv", "matches no format"),
        ("stadt_wien_migration_by_subdistrict_sex_nationality_2007-2023.csv", "matches no format"),
        ("basel_stadt_statabs_6011_migration_by_origin_destination.tsv", "matches no format"),
        ("basel_stadt_statabs_6761_net_migration_by_citizenship.tsv", "matches no format"),
        ("wb_wdi_Metadata_Country_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv", "metadata"),
        ("wb_wdi_Metadata_Indicator_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv", "metadata"),
    ],
)
def test_files_outside_the_schema_are_rejected_clearly(
    processed: dict[str, Any], name: str, message: str
) -> None:
    sub = status(processed, name)
    assert sub.error.startswith(f"{name}: ") and message in sub.error
    assert "Traceback" not in sub.error and "\n" not in sub.error
    assert Path(sub.landing_uri).read_bytes() == (REAL_DATA / name).read_bytes()


def test_sdmx_ml_is_read_and_waits_for_an_exchange_rate(processed: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    name = "eurostat_sdmxml21_structurespecific_nama_10_gdp_LU.xml"
    import xml.etree.ElementTree as ET

    obs = [e.attrib for e in ET.parse(REAL_DATA / name).iter() if e.tag == "Obs"]
    sub = status(processed, name)
    raw = pq.read_table(str(processed["ctx"].lake.submission_dir("raw", sub.id))).to_pylist()
    assert [(r["REF_AREA"], r["TIME_PERIOD"], r["OBS_VALUE"]) for r in raw] == [
        ("LU", o["TIME_PERIOD"], o["OBS_VALUE"]) for o in obs
    ]
    assert {(r["INDICATOR"], r["UNIT_MEASURE"], r["UNIT_MULT"]) for r in raw} == {
        ("GDP", "LCU", "6")
    }
    assert sub.validation["rules"][0]["rule"] == "no_exchange_rate"


def test_the_published_tables_use_the_sources_totals(processed: dict[str, Any]) -> None:
    """A release of every real file: the UN DESA 2013 totals are the destinations' MIG_STOCK and
    the origins' EMIG_STOCK in migration_profile, and each origin's mirror (its migrants summed
    over the destinations that report them, the Channel Islands included) equals the matrix's
    own WORLD row; the Channel Islands are in the Northern Europe aggregate's members."""
    import pyarrow.parquet as pq

    published = run_cli("publish", "--json")
    assert published.code == 0, published.err
    folder = Path(published.json()["path"])
    name = "undesa_2013_migrant_stock_origin_destination_matrix.csv"
    got = harmonised(processed, name)
    profile = {
        r["REF_AREA"]: r
        for r in pq.read_table(folder / "migration_profile.parquet").to_pylist()
        if r["TIME_PERIOD"] == "2013"
    }
    totals = {k[0]: v for k, v in got.items() if k[2] == "MIG_STOCK" and k[1] == "_Z"}
    emigrants = {k[0]: v for k, v in got.items() if k[2] == "EMIG_STOCK"}
    assert len(totals) == len(emigrants) == 232
    for area, value in totals.items():
        assert profile[area]["MIG_STOCK"] == value, area
    for area, value in emigrants.items():
        assert profile[area]["EMIG_STOCK"] == value, area
        assert abs(profile[area]["EMIG_STOCK_MIRROR"] - value) < 0.5, area
    assert profile["CHI"]["MIG_STOCK"] == 82_592
    # the residual partners are corridors' origins (the source's parts), never a country's row
    assert not {"XON", "XOS", "_X"} & set(profile)
    residual = {
        (k[0], k[1]): v
        for k, v in got.items()
        if k[1] in ("XON", "XOS") and k[2] == "MIG_STOCK" and k[3] == "_T"
    }
    assert residual
    corridors = {
        (r["DESTINATION"], r["ORIGIN"]): r["STOCK_REPORTED_BY_DESTINATION"]
        for r in pq.read_table(folder / "corridors.parquet").to_pylist()
        if r["TIME_PERIOD"] == "2013" and r["ORIGIN"] in ("XON", "XOS")
    }
    assert corridors == residual
    members = pq.read_table(folder / "group_members.parquet").to_pylist()
    assert {m["GROUP_CODE"] for m in members if m["REF_AREA"] == "CHI"} >= {"M49_150", "M49_154"}


# Areas whose only series in a real file are not the indicator's definition, left out by the
# layout's reviewed filter (not as areas): UN DESA 2015 reads residence-based flows of citizens
# and foreigners together; Canada reports by citizenship, the USA by place of birth, New Zealand
# foreigners only.
NOT_READ_ON_PURPOSE = {
    "undesa_2015_migration_flow_totals.xlsx": [
        ("REF_AREA", "Canada", "CAN"),
        ("REF_AREA", "New Zealand", "NZL"),
        ("REF_AREA", "United States of America", "USA"),
    ]
}


# The real files with areas (tests/real_areas.py) that midex does not accept, and why: nothing of
# them is published, so none of their countries or reporting areas is in a published table. Their
# labels are still classified in tests/data/real_area_labels.csv; the labels midex would classify
# otherwise (German place words, Vienna's district codes) are listed in tests/test_real_areas.py.
NOT_ACCEPTED: dict[str, str] = {
    "wb_databank_remittance_prices_worldwide_corridors_2011-2020.csv": (
        "read in full, then rejected by validation: five negative corridor costs"
    ),
    "eurostat_sdmxml21_structurespecific_nama_10_gdp_LU.xml": (
        "read in full, then rejected by validation: GDP in million euro waits for an exchange rate"
    ),
    "oecd_stat_export_GIDDB2019_22042022145601645.csv": (
        "refused at parse, matches no format: gender-institutions indices, outside the schema"
    ),
    "basel_stadt_statabs_6011_migration_by_origin_destination.tsv": (
        "refused at parse, matches no format: a city's moves by kind of place (abroad, Switzerland)"
    ),
    "basel_stadt_statabs_6761_net_migration_by_citizenship.tsv": (
        "refused at parse, matches no format: a city's net migration by citizenship, no year"
    ),
    "stadt_wien_migration_by_subdistrict_sex_nationality_2007-2023.csv": (
        "refused at parse, matches no format: moves by Vienna census district (sub-national)"
    ),
    "stadt_wien_average_age_by_district_2002f_decimal_comma.csv": (
        "refused at parse, matches no format: average age by Vienna district, outside the schema"
    ),
    "wb_wdi_Metadata_Country_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv": (
        "refused at parse as WDI metadata: regions, income groups and notes, no figures"
    ),
}


def test_the_real_files_with_areas_midex_does_not_accept_are_the_reviewed_list() -> None:
    """No file with areas is left out of the check below without a reason: the files with areas
    whose outcome is not 'accepted' are exactly NOT_ACCEPTED (needs no Spark)."""
    from tests.real_areas import area_labels

    not_accepted = {n for n in area_labels() if FILES[n][1] != "accepted"}
    assert not_accepted == set(NOT_ACCEPTED)


def test_no_country_or_reporting_area_with_a_value_is_dropped(processed: dict[str, Any]) -> None:
    """Every label of an accepted real file that is a country, a reporting area, a residual or a
    partner total (tests/data/real_area_labels.csv) and has a value in the file (read here, not
    by midex) is in what midex harmonised from that file, in the same column. The files with
    areas that midex does not accept are NOT_ACCEPTED, each with its reason; nothing of them is
    published."""
    from midex.contract.schema import load_schema
    from tests.real_areas import KEPT_KINDS, area_labels_with_values, classify_areas

    schema = load_schema()
    accepted = [n for n, (_, outcome) in FILES.items() if outcome == "accepted"]
    missing: dict[str, list[tuple[str, str, str]]] = {}
    checked = 0
    skipped: set[str] = set()
    for name, labels in area_labels_with_values().items():
        if name not in accepted:
            assert name in NOT_ACCEPTED, name
            skipped.add(name)
            continue
        got = harmonised(processed, name)
        present = {"REF_AREA": {k[0] for k in got}, "COUNTERPART_AREA": {k[1] for k in got}}
        for role in ("REF_AREA", "COUNTERPART_AREA"):
            mine = sorted(label for r, label in labels if r == role)
            for label, (kind, code) in classify_areas(mine, role, schema).items():
                if kind in KEPT_KINDS:
                    checked += 1
                    if code not in present[role]:
                        missing.setdefault(name, []).append((role, label, code))
    assert {k: sorted(v) for k, v in missing.items()} == NOT_READ_ON_PURPOSE
    assert skipped == set(NOT_ACCEPTED)
    assert checked > 5000


def test_the_same_inputs_published_twice_give_the_same_bytes(
    spark, processed: dict[str, Any]
) -> None:
    """Reproducible releases: published again with other Spark partitioning (as on a machine with
    another number of cores), every table's Parquet file and CSV have the same sha256."""
    first = run_cli("publish", "--json")
    assert first.code == 0, first.err
    other = {  # one core's partitioning: local[1] gave other bytes before sums were ordered
        "spark.sql.leafNodeDefaultParallelism": "1",
        "spark.sql.shuffle.partitions": "1",
        "spark.sql.files.maxPartitionBytes": str(256 * 1024),
    }
    before = {k: spark.conf.get(k, None) for k in other}
    try:
        for k, v in other.items():
            spark.conf.set(k, v)
        second = run_cli("publish", "--json")
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)
    assert second.code == 0, second.err
    manifests = [
        json.loads((Path(r.json()["path"]) / "manifest.json").read_text()) for r in (first, second)
    ]
    assert manifests[0]["release"] != manifests[1]["release"]
    differ = {
        name: entry
        for name, entry in manifests[0]["tables"].items()
        if (entry["sha256"], entry["csv"]["sha256"])
        != (manifests[1]["tables"][name]["sha256"], manifests[1]["tables"][name]["csv"]["sha256"])
    }
    assert not differ, sorted(differ)
