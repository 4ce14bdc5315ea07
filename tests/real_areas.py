"""The area labels in each real data file under ../shared/data/real, read straight from the files.

Test helper, not a test module. `area_labels()` maps each real file's name to the set of distinct
(role, label) pairs of the areas it contains:

- role "REF_AREA": the reporting / destination / receiving / donor / asylum area (the row labels);
- role "COUNTERPART_AREA": the partner area (the origin column headers of the UN DESA 2013 matrix,
  the receiving end of a World Bank remittance-prices corridor, a UNHCR country of origin).

A label is the cell text as written, with surrounding whitespace trimmed and internal runs of
whitespace collapsed to one space; footnote marks such as a trailing "*" are kept. Where a file has
both a name column and a code column, both are labels. Numeric M49 codes are written with at least
3 digits (4, 4.0 or "4" -> "004"). Every table row counts, aggregates, regions, "World", totals,
residual categories and former states included; banner, title and footnote rows, header rows and
blank labels do not. UNHCR's "-" ("all origins") placeholder is not an area and is left out.

The files are parsed here with the standard library's csv and xml.etree, openpyxl (.xlsx) and xlrd
(.xls), never with midex's readers, so that midex can be checked against the files as published.
"""

from __future__ import annotations

import csv
import functools
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

__all__ = ["area_labels"]

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

REF = "REF_AREA"
COUNTERPART = "COUNTERPART_AREA"

Label = tuple[str, str]


# --------------------------------------------------------------------------- cell helpers


def _text(value: object) -> str:
    """Cell text, trimmed, inner whitespace collapsed; an integral Excel float loses its '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _m49(value: object) -> str:
    """A numeric M49 code, zero-padded to 3 digits (4 / 4.0 / "4" -> "004"); other text as is."""
    text = _text(value)
    return text.zfill(3) if text.isdigit() else text


def _index(header: Sequence[object], name: str) -> int:
    """Position of the header cell whose normalised text is `name` (ValueError if absent)."""
    return [_text(c) for c in header].index(name)


def _add(out: set[Label], role: str, label: str) -> None:
    if label:
        out.add((role, label))


def _csv_from(path: Path, starts: str, encoding: str = "utf-8-sig") -> list[list[str]]:
    """The csv rows of `path` from its first line that starts with `starts` (the header) on.

    Cutting the text before parsing keeps a broken preamble (the 2015 WDI SP.POP.TOTL file has an
    unclosed quote in it) from swallowing the header.
    """
    text = path.read_text(encoding)  # universal newlines: CRLF files read as LF
    start = 0 if text.startswith(starts) else text.index("\n" + starts) + 1
    return list(csv.reader(io.StringIO(text[start:], newline="")))


def _xlsx_rows(path: Path, sheet: str | None = None) -> list[tuple[object, ...]]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        return [tuple(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _blank(row: Iterable[object]) -> bool:
    return not any(_text(c) for c in row)


# --------------------------------------------------------------------------- per-layout readers


def _wdi_csv(path: Path) -> set[Label]:
    rows = _csv_from(path, '"Country Name"')
    name, code = _index(rows[0], "Country Name"), _index(rows[0], "Country Code")
    out: set[Label] = set()
    for r in rows[1:]:
        if len(r) > code:
            _add(out, REF, _text(r[name]))
            _add(out, REF, _text(r[code]))
    return out


def _wdi_xls(path: Path) -> set[Label]:
    import xlrd

    sheet = xlrd.open_workbook(path, on_demand=True).sheet_by_name("Data")
    header = next(i for i in range(sheet.nrows) if _text(sheet.cell_value(i, 0)) == "Country Name")
    head = sheet.row_values(header)
    name, code = _index(head, "Country Name"), _index(head, "Country Code")
    out: set[Label] = set()
    for i in range(header + 1, sheet.nrows):
        row = sheet.row_values(i)
        _add(out, REF, _text(row[name]))
        _add(out, REF, _text(row[code]))
    return out


def _knomad(path: Path) -> set[Label]:
    rows = _xlsx_rows(path)
    header = next(
        i
        for i, r in enumerate(rows)
        if r
        and isinstance(r[0], str)
        and _text(r[0]).startswith(("Remittance inflows", "Remittance outflows"))
    )
    out: set[Label] = set()
    for r in rows[header + 1 :]:
        if _blank(r):  # the table ends at the first blank row; footnotes follow
            break
        _add(out, REF, _text(r[0]))
    return out


def _undesa_2013(path: Path) -> set[Label]:
    rows = list(csv.reader(io.StringIO(path.read_text("cp437"), newline="")))
    header = next(i for i, r in enumerate(rows) if "Country code" in (_text(c) for c in r))
    head = rows[header]
    name = _index(head, "Major area, region, country or area of destination")
    code = _index(head, "Country code")
    world = _index(head, "World")  # column G: the origins start here
    out: set[Label] = set()
    for cell in head[world:]:
        _add(out, COUNTERPART, _text(cell))
    for r in rows[header + 1 :]:
        if len(r) > code:
            _add(out, REF, _text(r[name]))
            _add(out, REF, _m49(r[code]))
    return out


def _undesa_2020(path: Path) -> set[Label]:
    import openpyxl

    out: set[Label] = set()
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in ("Table 1", "Table 2", "Table 3"):
            rows = wb[sheet].iter_rows(values_only=True)
            for head in rows:
                if "Location code" in (_text(c) for c in head):
                    break
            name = _index(head, "Region, development group, country or area")
            code = _index(head, "Location code")
            for r in rows:
                if len(r) > code:
                    _add(out, REF, _text(r[name]))
                    _add(out, REF, _m49(r[code]))
    finally:
        wb.close()
    return out


def _undesa_2015(path: Path) -> set[Label]:
    rows = _xlsx_rows(path)
    header = next(i for i, r in enumerate(rows) if r and _text(r[0]) == "CntName")
    name = _index(rows[header], "CntName")  # the file has no code column
    out: set[Label] = set()
    for r in rows[header + 1 :]:
        if len(r) > name:
            _add(out, REF, _text(r[name]))
    return out


def _unhcr(path: Path) -> set[Label]:
    rows = _csv_from(path, "Year,")
    head = rows[0]
    columns = [
        (REF, "Country of asylum"),
        (REF, "Country of asylum (ISO)"),
        (COUNTERPART, "Country of origin"),
        (COUNTERPART, "Country of origin (ISO)"),
    ]
    where = [(role, _index(head, col)) for role, col in columns if col in (_text(c) for c in head)]
    out: set[Label] = set()
    for r in rows[1:]:
        if not r or not _text(r[0]).isdigit():  # data rows start with the year
            continue
        for role, i in where:
            label = _text(r[i]) if len(r) > i else ""
            if label != "-":  # "-": all origins, not an area
                _add(out, role, label)
    return out


def _csv_columns(path: Path, columns: Sequence[str]) -> set[Label]:
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
    head = [_text(c) for c in rows[0]]
    where = [head.index(c) for c in columns if c in head]
    out: set[Label] = set()
    for r in rows[1:]:
        for i in where:
            if len(r) > i:
                _add(out, REF, _text(r[i]))
    return out


def _undata(path: Path) -> set[Label]:
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
    head = [_text(c) for c in rows[0]]
    name, year = head.index("Country or Area"), head.index("Year")
    out: set[Label] = set()
    for r in rows[1:]:
        # UNdata puts its footnotes (header "footnoteSeqID") below a blank line; this export has none
        if _blank(r) or _text(r[0]) == "footnoteSeqID":
            break
        if len(r) > year and _text(r[year]).isdigit():
            _add(out, REF, _text(r[name]))
    return out


def _unsd_ama(path: Path) -> set[Label]:
    rows = _xlsx_rows(path, "Download-GNI-USD-countries")
    header = next(i for i, r in enumerate(rows) if r and _text(r[0]) == "CountryID")
    code, name = _index(rows[header], "CountryID"), _index(rows[header], "Country")
    out: set[Label] = set()
    for r in rows[header + 1 :]:
        if len(r) > name:
            _add(out, REF, _text(r[name]))
            _add(out, REF, _m49(r[code]))
    return out


def _remittance_prices(path: Path) -> set[Label]:
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
    head = [_text(c) for c in rows[0]]  # "Receiving Countries  Name" collapses to one space
    where = [
        (REF, head.index("Sending Countries Name")),
        (REF, head.index("Sending Countries Code")),
        (COUNTERPART, head.index("Receiving Countries Name")),
        (COUNTERPART, head.index("Receiving Countries Code")),
    ]
    series = head.index("Series Code")
    out: set[Label] = set()
    for r in rows[1:]:
        if len(r) <= series or not _text(r[series]):  # blank rows and the DataBank footer
            continue
        for role, i in where:
            _add(out, role, _text(r[i]))
    return out


def _eurostat_tsv(path: Path) -> set[Label]:
    lines = path.read_text("utf-8-sig").splitlines()
    out: set[Label] = set()
    for line in lines[1:]:  # line 0: "indic_de,geo\time<TAB>2019 ..."
        first = line.split("\t", 1)[0]
        if "," in first:
            _add(out, REF, _text(first.rsplit(",", 1)[1]))
    return out


def _sdmx_xml(path: Path) -> set[Label]:
    out: set[Label] = set()
    for el in ET.parse(path).iter():
        if el.tag.rsplit("}", 1)[-1] == "Series" and "geo" in el.attrib:
            _add(out, REF, _text(el.attrib["geo"]))
    return out


# --------------------------------------------------------------------------- the files


def _readers(root: Path) -> Iterator[tuple[str, Callable[[], set[Label]]]]:
    for p in sorted(root.glob("wb_wdi_*.csv")):
        if not p.name.startswith("wb_wdi_Metadata_"):
            yield p.name, functools.partial(_wdi_csv, p)
    for p in sorted(root.glob("wb_wdi_*.xls")):
        yield p.name, functools.partial(_wdi_xls, p)
    for name in (
        "knomad_2023-06_remittance_inflows.xlsx",
        "knomad_2023-06_remittance_outflows.xlsx",
    ):
        yield name, functools.partial(_knomad, root / name)
    fixed: dict[str, Callable[[Path], set[Label]]] = {
        "undesa_2013_migrant_stock_origin_destination_matrix.csv": _undesa_2013,
        "undesa_2020_ims_stock_by_sex_and_destination.xlsx": _undesa_2020,
        "undesa_2015_migration_flow_totals.xlsx": _undesa_2015,
        "unhcr_refugee_data_finder_2021_by_country_of_asylum.csv": _unhcr,
        "unhcr_refugee_data_finder_2021_unrwa_palestine_refugees_by_asylum.csv": _unhcr,
        "datapackage_oecd_dac_oda_pct_gni_by_donor.csv": functools.partial(
            _csv_columns, columns=("Country",)
        ),
        "owid_grapher_share_population_born_in_another_country_filtered.csv": functools.partial(
            _csv_columns,
            columns=("Entity", "Code"),  # this filtered download has no Code column
        ),
        "undata_export_20220425_gni_current_usd.csv": _undata,
        "unsd_ama_gni_current_usd_all_countries.xlsx": _unsd_ama,
        "wb_databank_remittance_prices_worldwide_corridors_2011-2020.csv": _remittance_prices,
        "eurostat_demo_r_gind3_CNMIGRAT_excerpt.tsv": _eurostat_tsv,
        "eurostat_sdmxml21_structurespecific_nama_10_gdp_LU.xml": _sdmx_xml,
    }
    for name, reader in fixed.items():
        yield name, functools.partial(reader, root / name)


@functools.cache
def area_labels() -> dict[str, set[tuple[str, str]]]:
    """{file name: {(role, label), ...}} for every real data file that holds areas.

    role is "REF_AREA" or "COUNTERPART_AREA"; see the module docstring for what counts as a label.
    Raises FileNotFoundError if ../shared/data/real is missing. Callers must not mutate the sets
    (the result is cached).
    """
    if not REAL_DATA.is_dir():
        raise FileNotFoundError(REAL_DATA)
    return {name: read() for name, read in _readers(REAL_DATA)}
