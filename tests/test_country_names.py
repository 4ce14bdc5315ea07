"""Every country name, ISO2/ISO3/M49 code in the real files under ../shared/data/real resolves to
the right ISO3 code, or is knowingly classified (aggregate, former state, sub-national region) by
schemas/areas/overrides.yaml. The names are extracted here with csv/openpyxl/xlrd directly, not
with midex's readers, so the resolver is checked against the files as published."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from midex.contract.areas import area_kind, resolve_areas
from midex.contract.schema import load_schema
from tests.conftest import REAL_DATA

pytestmark = pytest.mark.skipif(not REAL_DATA.is_dir(), reason="no ../shared/data/real")

Record = tuple[str, str | None, str | None]  # file, area name, area code (ISO2/ISO3/M49)


def _text_from(path: Path, marker: str, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    text = path.read_text(encoding)
    return list(csv.DictReader(io.StringIO(text[text.index(marker) :])))


def _cell(value: object) -> str | None:
    if value is None:
        return None
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return text.strip() or None


def records(root: Path) -> Iterator[Record]:
    import openpyxl
    import xlrd

    for p in sorted(root.glob("wb_wdi_*.csv")):  # WDI wide CSVs and the country metadata
        if "Metadata_Indicator" in p.name:
            continue
        meta = "Metadata_Country" in p.name
        for r in _text_from(p, '"Country Code"' if meta else '"Country Name"'):
            yield (
                p.name,
                _cell(r["TableName" if meta else "Country Name"]),
                _cell(r["Country Code"]),
            )
    for p in sorted(root.glob("wb_wdi_*.xls")):
        sheet = xlrd.open_workbook(p).sheet_by_name("Data")
        header = next(i for i in range(sheet.nrows) if sheet.cell_value(i, 0) == "Country Name")
        for i in range(header + 1, sheet.nrows):
            yield p.name, _cell(sheet.cell_value(i, 0)), _cell(sheet.cell_value(i, 1))
    p = root / "undesa_2013_migrant_stock_origin_destination_matrix.csv"
    rows = list(csv.reader(io.StringIO(p.read_text("cp437"))))
    header = next(i for i, r in enumerate(rows) if len(r) > 1 and r[1].startswith("Major area"))
    for name in rows[header][6:]:  # origins: names only
        yield p.name, _cell(name), None
    for r in rows[header + 1 :]:
        if len(r) > 3:
            yield p.name, _cell(r[1]), _cell(r[3])
    books = {
        "undesa_2020_ims_stock_by_sex_and_destination.xlsx": ("Table 1", 12, 1, 3),
        "undesa_2015_migration_flow_totals.xlsx": ("Totals", 18, 0, None),
        "knomad_2023-06_remittance_inflows.xlsx": (None, 2, 0, None),
        "knomad_2023-06_remittance_outflows.xlsx": (None, 3, 0, None),
        "unsd_ama_gni_current_usd_all_countries.xlsx": (None, 4, 1, 0),
    }
    for name, (sheet_name, first, name_col, code_col) in books.items():
        book = openpyxl.load_workbook(root / name, read_only=True, data_only=True)
        sheet = book[sheet_name] if sheet_name else book.worksheets[0]
        for row in sheet.iter_rows(min_row=first, values_only=True):
            if name.startswith("knomad") and not any(isinstance(v, int | float) for v in row[1:]):
                continue  # footnote rows ("Note: All numbers are in current (nominal) US $.")
            code = _cell(row[code_col]) if code_col is not None else None
            yield name, _cell(row[name_col]), code
        book.close()
    p = root / "wb_databank_remittance_prices_worldwide_corridors_2011-2020.csv"
    for r in _text_from(p, "Sending Countries Name"):
        if r["Series Code"] == "ATCR.CORR":  # the footer rows have no series
            yield p.name, r["Sending Countries Name"], r["Sending Countries Code"]
            yield p.name, r["Receiving Countries  Name"], r["Receiving Countries  Code"]
    p = root / "oecd_stat_export_GIDDB2019_22042022145601645.csv"
    for r in _text_from(p, '"REGION"'):
        yield p.name, _cell(r["Country"]), _cell(r["LOCATION"])
    for p in sorted(root.glob("unhcr_*.csv")):
        for r in _text_from(p, "Year,"):
            for side in ("origin", "asylum"):
                name, code = r[f"Country of {side}"], r[f"Country of {side} (ISO)"]
                if name != "-":  # "-": all origins
                    yield p.name, _cell(name), _cell(code)
    for p, column in (
        (root / "undata_export_20220425_gni_current_usd.csv", "Country or Area"),
        (root / "datapackage_oecd_dac_oda_pct_gni_by_donor.csv", "Country"),
        (root / "owid_grapher_share_population_born_in_another_country_filtered.csv", "Entity"),
    ):
        for r in csv.DictReader(io.StringIO(p.read_text("utf-8-sig"))):
            yield p.name, _cell(r[column]), None
    p = root / "eurostat_demo_r_gind3_CNMIGRAT_excerpt.tsv"
    for line in p.read_text("utf-8").splitlines()[1:]:
        yield p.name, None, line.split("\t")[0].split(",")[1]  # geo: ISO2/Eurostat or NUTS
    for p in root.glob("stadt_wien_*.csv"):
        for r in csv.DictReader(io.StringIO(p.read_text("utf-8")), delimiter=";"):
            yield p.name, None, _cell(r["NUTS"])
    yield "eurostat_sdmxml21_structurespecific_nama_10_gdp_LU.xml", None, "LU"


@pytest.fixture(scope="module")
def extracted() -> list[Record]:
    return list(records(REAL_DATA))


def test_every_area_in_the_real_files_resolves_or_is_classified(extracted) -> None:
    schema = load_schema()
    values = sorted({v.strip() for _, n, c in extracted for v in (n, c) if v and v.strip()})
    assert len(values) > 1300  # names and codes of ~25 files
    resolved = {r.value: r.iso3 for r in resolve_areas(values, schema)}
    kinds = {v: area_kind(v, schema) for v in values}
    neither = [v for v in values if resolved.get(v) is None and kinds[v] is None]
    assert neither == []
    both = [v for v in values if resolved.get(v) is not None and kinds[v] is not None]
    assert both == []
    counts = {k: sum(1 for v in values if kinds[v] == k) for k in ("aggregate", "former")}
    assert counts["aggregate"] > 200 and counts["former"] > 10
    assert sum(1 for v in values if kinds[v] == "subnational") > 250  # NUTS: AT13, DE11A, ...


def test_names_and_codes_of_one_row_agree(extracted) -> None:
    """Where a file gives a name and a code, both resolve to the same country (or both are
    classified): a name resolved to the wrong country would show here."""
    schema = load_schema()
    pairs = {(n.strip(), c.strip()) for _, n, c in extracted if n and c}
    assert len(pairs) > 600
    values = sorted({v for pair in pairs for v in pair})
    resolved = {r.value: r.iso3 for r in resolve_areas(values, schema)}
    wrong = sorted(
        (name, code, resolved.get(name), resolved.get(code))
        for name, code in pairs
        if resolved.get(name) != resolved.get(code)
    )
    assert wrong == []


@pytest.mark.parametrize(
    ("value", "iso3"),
    [
        ("Côte d'Ivoire", "CIV"),
        ("C\u0093te d'Ivoire".encode("latin-1").decode("cp437"), "CIV"),  # UN DESA 2013, cp437
        ("Hong Kong", "HKG"),
        ("Micronesia (Fed. States of)", "FSM"),
        ("China, Taiwan Province of China*", "TWN"),
        ("D.R. of the Congo", "COD"),
        ("XKO", "XKX"),
        ("004", "AFG"),
        ("EL", "GRC"),
    ],
)
def test_reviewed_spellings(value: str, iso3: str) -> None:
    assert resolve_areas([value], load_schema())[0].iso3 == iso3


def test_an_unknown_name_is_an_error_with_suggestions() -> None:
    schema = load_schema()
    (result,) = resolve_areas(["Philipines"], schema)
    assert result.iso3 is None and "did you mean Philippines (PHL)" in (result.problem or "")
    (region,) = resolve_areas(["Micronesia"], schema)  # the UN region, not the country
    assert region.iso3 is None and "aggregate" in (region.problem or "")
    (nuts,) = resolve_areas(["AT130"], schema)
    assert nuts.iso3 is None and "sub-national" in (nuts.problem or "")
