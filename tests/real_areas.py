"""The area labels in each real data file under ../shared/data/real, read straight from the files.

Test helper, not a test module. `area_labels()` maps each real file's name to the set of distinct
(role, label) pairs of the areas it contains:

- role "REF_AREA": the reporting / destination / receiving / donor / asylum area (the row labels;
  Vienna's NUTS, district and census-district codes);
- role "COUNTERPART_AREA": the partner area (the origin column headers of the UN DESA 2013 matrix,
  the receiving end of a World Bank remittance-prices corridor, a UNHCR country of origin,
  Basel-Stadt's places of arrival and departure) and a citizenship breakdown (Vienna's GEO2
  AUT/FOR, Basel-Stadt's "Schweizer"/"Ausländer"), as midex's SDMX format reads CITIZEN.

A label is the cell text as written, with surrounding whitespace trimmed and internal runs of
whitespace collapsed to one space; footnote marks such as a trailing "*" are kept. Where a file has
both a name column and a code column, both are labels. Numeric M49 codes are written with at least
3 digits (4, 4.0 or "4" -> "004"). Every table row counts, aggregates, regions, "World", totals,
residual categories and former states included; banner, title and footnote rows, header rows and
blank labels do not. UNHCR's "-" ("all origins") placeholder is not an area and is left out. A
header that joins a measure and a place ("Zuzugsort: Ausland") gives the place ("Ausland").
Columns that name the groups a row's area belongs to (WDI metadata's Region and IncomeGroup,
OECD.Stat GIDDB's Region and Income) are not labels: they are not the area the row is about.

Every file under ../shared/data/real with areas is read (tests/test_real_areas.py checks it),
and every sheet with areas: the WDI .xls "Metadata - Countries" sheets and UNSD AMA's footnotes
sheet are read too, their rows without values (their TableName can be spelled otherwise than the
Data sheet: "Curaçao", "Türkiye"). UN DESA 2020's Tables 4-6 repeat Tables 1-3's areas and are
not read.

`area_labels_with_values()` keeps, per file, only the labels of rows that carry at least one value:
a cell in the file's value columns (the year / period / measure columns, see each reader) whose
content is a number other than 0, read in the file's notation (UN DESA 2013's space thousands
separators, Eurostat's trailing flags such as "123 p", Vienna's decimal comma "41,14"). Missing
markers ("", "..", "-", ":", "n.a.") are not values, nor are zeros. A row's labels (name and
code, reporting and partner ends) all count when the row has a value. The UN DESA 2013 matrix's
origin column headers count when their column holds a value in a country row (one whose "Type of
data (a)" is not blank); Basel-Stadt's place and citizenship headers when their column holds a
value. Metadata (the WDI country metadata, UNSD AMA's footnotes) holds no value.

The files are parsed here with the standard library's csv and xml.etree, openpyxl (.xlsx) and xlrd
(.xls), never with midex's readers, so that midex can be checked against the files as published.
Each file is read once, into rows of (labels, has_value), and both functions are derived from those
rows, so they cannot disagree on what a label is.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from midex.contract.areas import NOT_APPLICABLE, area_kind, resolve_areas
from midex.contract.schema import Schema

__all__ = [
    "KEPT_KINDS",
    "LEFT_OUT_KINDS",
    "area_labels",
    "area_labels_with_values",
    "classify_areas",
]

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

REF = "REF_AREA"
COUNTERPART = "COUNTERPART_AREA"

Label = tuple[str, str]
# One table row (or, for the UN DESA 2013 origins, one column): its non-blank area labels and
# whether it carries at least one non-zero value.
Row = tuple[tuple[Label, ...], bool]


# ------------------------------------------------------- what midex makes of an area label

# What midex makes of an area label of a source, as the reviewed classification
# (tests/data/real_area_labels.csv) writes it: composed of the library's own resolve_areas and
# area_kind, for the tests (the pipeline asks them one value at a time)
KEPT_KINDS = ("country", "reporting_area", "residual", "partner_total")
LEFT_OUT_KINDS = ("aggregate", "former", "subnational", "unknown")


def classify_areas(labels: list[str], role: str, schema: Schema) -> dict[str, tuple[str, str]]:
    """label -> (kind, code) for area labels as a source writes them, in the column `role`
    (REF_AREA or COUNTERPART_AREA). Kinds kept in the observations: country (ISO 3166-1),
    reporting_area and residual (schemas/areas/overrides.yaml), partner_total (a partner "World":
    _Z); left out with a parse note or a finding: aggregate, former, subnational, unknown (code
    empty)."""
    out: dict[str, tuple[str, str]] = {}
    rest = []
    for label in labels:
        key = label.strip().rstrip("*").strip().upper()
        if role == "COUNTERPART_AREA" and key in schema.partner_totals:
            out[label] = ("partner_total", NOT_APPLICABLE)
        else:
            rest.append(label)
    for r in resolve_areas(rest, schema):
        if r.iso3 is not None:
            extra = schema.area_extra.get(r.iso3)
            kind = "country" if extra is None else extra[0].removesuffix("s")
            out[r.value] = (kind, r.iso3)
        else:
            out[r.value] = (area_kind(r.value, schema) or "unknown", "")
    return out


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


def _columns(header: Sequence[object], wanted: Callable[[str], bool]) -> list[int]:
    """Positions of the header cells whose normalised text is `wanted` (ValueError if none)."""
    found = [i for i, c in enumerate(header) if wanted(_text(c))]
    if not found:
        raise ValueError(f"no value column in header {[_text(c) for c in header]}")
    return found


def _is_year(header: str) -> bool:
    return re.fullmatch(r"\d{4}", header) is not None


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FLAGGED = re.compile(r"(.*?)\s*[a-z]*")  # Eurostat: "-27007 e", "43110 b", "123p"


def _nonzero(
    cell: object, *, spaced: bool = False, flagged: bool = False, comma: bool = False
) -> bool:
    """Whether a value cell holds a number other than 0.

    Excel numbers are taken as they are; text must be a plain decimal number once the file's
    notation is undone: `spaced` drops space thousands separators (" 231 522 215"), `flagged` drops
    trailing Eurostat flag letters ("123 p"), `comma` reads a decimal comma ("41,14"). Missing
    markers ("", "..", "-", ":", "n.a.", "NaN") are not numbers.
    """
    if isinstance(cell, bool):
        return False
    if isinstance(cell, int | float):
        return math.isfinite(cell) and cell != 0
    if not isinstance(cell, str):
        return False
    text = cell.strip()
    if spaced:
        text = "".join(text.split())
    if flagged:
        match = _FLAGGED.fullmatch(text)
        text = match.group(1) if match else text
    if comma:
        text = text.replace(",", ".", 1) if "." not in text else text
    return _NUMBER.fullmatch(text) is not None and float(text) != 0


def _any_value(row: Sequence[object], columns: Iterable[int], **notation: bool) -> bool:
    return any(_nonzero(row[i], **notation) for i in columns if i < len(row))


def _row(has_value: bool, *labels: Label) -> Row:
    return tuple(label for label in labels if label[1]), has_value


def _csv_from(path: Path, starts: str, encoding: str = "utf-8-sig") -> list[list[str]]:
    """The csv rows of `path` from its first line that starts with `starts` (the header) on.

    Cutting the text before parsing keeps a broken preamble (the 2015 WDI SP.POP.TOTL file has an
    unclosed quote in it) from swallowing the header.
    """
    text = path.read_text(encoding)  # universal newlines: CRLF files read as LF
    start = 0 if text.startswith(starts) else text.index("\n" + starts) + 1
    return list(csv.reader(io.StringIO(text[start:], newline="")))


def _csv_all(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[list[str]]:
    text = path.read_text(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


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
# Each yields the file's rows as (labels, has_value); the value columns are named per reader.


def _wdi_csv(path: Path) -> Iterator[Row]:
    """Values: the year columns."""
    rows = _csv_from(path, '"Country Name"')
    name, code = _index(rows[0], "Country Name"), _index(rows[0], "Country Code")
    years = _columns(rows[0], _is_year)
    for r in rows[1:]:
        if len(r) > code:
            yield _row(_any_value(r, years), (REF, _text(r[name])), (REF, _text(r[code])))


def _wdi_xls(path: Path) -> Iterator[Row]:
    """Values: the year columns (Excel numbers; missing values are empty strings)."""
    import xlrd

    book = xlrd.open_workbook(path, on_demand=True)
    sheet = book.sheet_by_name("Data")
    header = next(i for i in range(sheet.nrows) if _text(sheet.cell_value(i, 0)) == "Country Name")
    head = sheet.row_values(header)
    name, code = _index(head, "Country Name"), _index(head, "Country Code")
    years = _columns(head, _is_year)
    for i in range(header + 1, sheet.nrows):
        row = sheet.row_values(i)
        yield _row(_any_value(row, years), (REF, _text(row[name])), (REF, _text(row[code])))
    meta = book.sheet_by_name("Metadata - Countries")
    yield from _wdi_metadata_rows([meta.row_values(i) for i in range(meta.nrows)])


def _wdi_metadata_rows(rows: Sequence[Sequence[object]]) -> Iterator[Row]:
    """WDI "Metadata - Countries" (a sheet of the .xls downloads, a CSV in the zip): the rows'
    Country Code and TableName, never a value (the file holds no figures). Region and IncomeGroup
    name the groups a row's area belongs to, not the row's area, and are not labels. TableName
    can be spelled otherwise than the Data sheet's Country Name ("Curaçao", "Türkiye")."""
    code, name = _index(rows[0], "Country Code"), _index(rows[0], "TableName")
    for r in rows[1:]:
        if len(r) > name:
            yield _row(False, (REF, _text(r[code])), (REF, _text(r[name])))


def _wdi_metadata_csv(path: Path) -> Iterator[Row]:
    yield from _wdi_metadata_rows(_csv_all(path))


def _knomad(path: Path) -> Iterator[Row]:
    """Values: the year columns 2000..2022 (text headers in outflows but 2022), not "% of GDP"."""
    rows = _xlsx_rows(path)
    header = next(
        i
        for i, r in enumerate(rows)
        if r
        and isinstance(r[0], str)
        and _text(r[0]).startswith(("Remittance inflows", "Remittance outflows"))
    )
    years = _columns(rows[header], _is_year)
    for r in rows[header + 1 :]:
        if _blank(r):  # the table ends at the first blank row; footnotes follow
            break
        yield _row(_any_value(r, years), (REF, _text(r[0])))


def _undesa_2013(path: Path) -> Iterator[Row]:
    """Values: the origin columns, G on, numbers with space thousands separators (" 231 522 215").

    A destination row counts when any of its origin cells is a value; an origin column header
    counts when its column holds a value in a country row ("Type of data (a)" not blank), so
    that an origin reached only through aggregates does not.
    """
    rows = _csv_all(path, "cp437")
    header = next(i for i, r in enumerate(rows) if "Country code" in (_text(c) for c in r))
    head = rows[header]
    name = _index(head, "Major area, region, country or area of destination")
    code = _index(head, "Country code")
    kind = _index(head, "Type of data (a)")
    world = _index(head, "World")  # column G: the origins start here
    body = [r for r in rows[header + 1 :] if len(r) > code]
    countries = [r for r in body if len(r) > kind and _text(r[kind])]
    for j in range(world, len(head)):
        has_value = any(_nonzero(r[j], spaced=True) for r in countries if len(r) > j)
        yield _row(has_value, (COUNTERPART, _text(head[j])))
    for r in body:
        has_value = _any_value(r, range(world, len(r)), spaced=True)
        yield _row(has_value, (REF, _text(r[name])), (REF, _m49(r[code])))


def _undesa_2020(path: Path) -> Iterator[Row]:
    """Values: the year columns F..Z of Tables 1-3 (three sex blocks of 1990..2020; ".." missing)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in ("Table 1", "Table 2", "Table 3"):
            rows = wb[sheet].iter_rows(values_only=True)
            for head in rows:
                if "Location code" in (_text(c) for c in head):
                    break
            name = _index(head, "Region, development group, country or area")
            code = _index(head, "Location code")
            years = _columns(head, _is_year)
            for r in rows:
                if len(r) > code:
                    yield _row(_any_value(r, years), (REF, _text(r[name])), (REF, _m49(r[code])))
    finally:
        wb.close()


def _undesa_2015(path: Path) -> Iterator[Row]:
    """Values: the year columns 1980..2013 (".." missing); a country counts if any series has one."""
    rows = _xlsx_rows(path)
    header = next(i for i, r in enumerate(rows) if r and _text(r[0]) == "CntName")
    name = _index(rows[header], "CntName")  # the file has no code column
    years = _columns(rows[header], _is_year)
    for r in rows[header + 1 :]:
        if len(r) > name:
            yield _row(_any_value(r, years), (REF, _text(r[name])))


def _unhcr(path: Path) -> Iterator[Row]:
    """Values: the population columns after the area columns (refugees, asylum-seekers, ...)."""
    rows = _csv_from(path, "Year,")
    head = rows[0]
    columns = [
        (REF, "Country of asylum"),
        (REF, "Country of asylum (ISO)"),
        (COUNTERPART, "Country of origin"),
        (COUNTERPART, "Country of origin (ISO)"),
    ]
    where = [(role, _index(head, col)) for role, col in columns if col in (_text(c) for c in head)]
    values = range(max(i for _, i in where) + 1, len(head))
    if not values:
        raise ValueError(f"no value column after the area columns in {path.name}")
    for r in rows[1:]:
        if not r or not _text(r[0]).isdigit():  # data rows start with the year
            continue
        labels = [(role, _text(r[i]) if len(r) > i else "") for role, i in where]
        # "-": all origins, not an area
        yield _row(_any_value(r, values), *(label for label in labels if label[1] != "-"))


def _not_in(*names: str) -> Callable[[str], bool]:
    return lambda header: header not in names


def _csv_columns(
    path: Path, columns: Sequence[str], value_column: Callable[[str], bool]
) -> Iterator[Row]:
    """Labels: the `columns` present; values: the columns whose header is `value_column`."""
    rows = _csv_all(path)
    head = [_text(c) for c in rows[0]]
    where = [head.index(c) for c in columns if c in head]
    values = _columns(head, value_column)
    for r in rows[1:]:
        yield _row(_any_value(r, values), *((REF, _text(r[i])) for i in where if len(r) > i))


def _undata(path: Path) -> Iterator[Row]:
    """Values: the "Value" column of the long layout."""
    rows = _csv_all(path)
    head = [_text(c) for c in rows[0]]
    name, year, value = head.index("Country or Area"), head.index("Year"), head.index("Value")
    for r in rows[1:]:
        # UNdata puts its footnotes (header "footnoteSeqID") below a blank line; this export has none
        if _blank(r) or _text(r[0]) == "footnoteSeqID":
            break
        if len(r) > year and _text(r[year]).isdigit():
            yield _row(_any_value(r, [value]), (REF, _text(r[name])))


def _unsd_ama(path: Path) -> Iterator[Row]:
    """Values: the year columns 1970..2020 (empty cells missing)."""
    rows = _xlsx_rows(path, "Download-GNI-USD-countries")
    header = next(i for i, r in enumerate(rows) if r and _text(r[0]) == "CountryID")
    code, name = _index(rows[header], "CountryID"), _index(rows[header], "Country")
    years = _columns(rows[header], _is_year)
    for r in rows[header + 1 :]:
        if len(r) > name:
            yield _row(_any_value(r, years), (REF, _text(r[name])), (REF, _m49(r[code])))
    # the footnotes sheet: the same CountryID / Country columns; its year cells mark the years a
    # footnote applies to with "X", which is not a value
    notes = _xlsx_rows(path, "Download-Footnotes-GNI")
    code, name = _index(notes[0], "CountryID"), _index(notes[0], "Country")
    for r in notes[1:]:
        if len(r) > name:
            yield _row(False, (REF, _text(r[name])), (REF, _m49(r[code])))


def _remittance_prices(path: Path) -> Iterator[Row]:
    """Values: the quarterly cost columns ("2011Q1 [YR2011Q1]" ...: % cost, ".." missing).

    Both ends of a corridor count when the corridor has a value.
    """
    rows = _csv_all(path)
    head = [_text(c) for c in rows[0]]  # "Receiving Countries  Name" collapses to one space
    where = [  # as the layout reads them: REF_AREA the receiving end, the partner the sending
        (REF, head.index("Receiving Countries Name")),
        (REF, head.index("Receiving Countries Code")),
        (COUNTERPART, head.index("Sending Countries Name")),
        (COUNTERPART, head.index("Sending Countries Code")),
    ]
    series = head.index("Series Code")
    quarters = _columns(
        head, lambda h: re.fullmatch(r"\d{4}Q[1-4] \[YR\d{4}Q[1-4]\]", h) is not None
    )
    for r in rows[1:]:
        if len(r) <= series or not _text(r[series]):  # blank rows and the DataBank footer
            continue
        yield _row(_any_value(r, quarters), *((role, _text(r[i])) for role, i in where))


def _eurostat_tsv(path: Path) -> Iterator[Row]:
    """Values: the period columns ("-27007 e": a number and flags; ":" alone is missing)."""
    lines = path.read_text("utf-8-sig").splitlines()
    for line in lines[1:]:  # line 0: "indic_de,geo\time<TAB>2019 ..."
        first, *periods = line.split("\t")
        if "," in first:
            has_value = any(_nonzero(p, flagged=True) for p in periods)
            yield _row(has_value, (REF, _text(first.rsplit(",", 1)[1])))


def _oecd_stat(path: Path) -> Iterator[Row]:
    """OECD.Stat export (GIDDB 2019). Labels: LOCATION and Country, the row's area; REGION/Region
    and INC/Income say which groups that area belongs to ("All regions", "High income") and are
    not labels. Values: the "Value" column."""
    rows = _csv_all(path)
    head = [_text(c) for c in rows[0]]
    code, name, value = head.index("LOCATION"), head.index("Country"), head.index("Value")
    for r in rows[1:]:
        if len(r) > value:
            yield _row(_any_value(r, [value]), (REF, _text(r[code])), (REF, _text(r[name])))


# Basel-Stadt's place of arrival / departure, written in a header as "Zuzugsort: Ausland"
_BASEL_PLACE = re.compile(r"(?:Zuzugsort|Wegzugsort): (.+)")


def _basel_by_place(path: Path) -> Iterator[Row]:
    """Statistisches Amt Basel-Stadt 6011: one row per year (the area, Basel-Stadt, is not
    written), one column per place of origin ("Zuzugsort: ...") or destination ("Wegzugsort:
    ..."). Labels: the place, the header's text after the colon, as a partner; " Saldo" (the
    balance) is not a place. A place counts when its column holds a value (departures are
    negative numbers)."""
    rows = _csv_all(path, delimiter="\t")
    head = [_text(c) for c in rows[0]]
    for j, h in enumerate(head):
        if match := _BASEL_PLACE.fullmatch(h):
            has_value = any(_nonzero(r[j]) for r in rows[1:] if len(r) > j)
            yield _row(has_value, (COUNTERPART, match.group(1)))


def _basel_by_citizenship(path: Path) -> Iterator[Row]:
    """Statistisches Amt Basel-Stadt 6761: rows by country of arrival or departure (first
    column, "Zuzugs-/Wegzugsland"), columns by citizenship ("Schweizer", "Ausländer", "Total").
    Both are partners: a citizenship is read into COUNTERPART_AREA, as midex's SDMX format reads
    CITIZEN (schemas/formats/sdmx.yaml). Values: the citizenship columns."""
    rows = [r for r in _csv_all(path, delimiter="\t") if not _blank(r)]
    head = [_text(c) for c in rows[0]]
    _index(head, "Zuzugs-/Wegzugsland")
    columns = range(1, len(head))
    for j in columns:
        has_value = any(_nonzero(r[j]) for r in rows[1:] if len(r) > j)
        yield _row(has_value, (COUNTERPART, head[j]))
    for r in rows[1:]:
        yield _row(_any_value(r, columns), (COUNTERPART, _text(r[0])))


def _vienna(path: Path) -> Iterator[Row]:
    """Stadt Wien OGD (semicolon-separated). Labels: NUTS (AT13), DISTRICT_CODE and
    SUB_DISTRICT_CODE (5 digits, 90000 for all of Vienna); GEO2, where present, is the
    citizenship (AUT Austrian, FOR foreign), a partner as in `_basel_by_citizenship`. Values: the
    measure columns after REF_DATE (MIG_* or AGE_AVE, with a decimal comma: "41,14")."""
    rows = _csv_all(path, delimiter=";")
    head = [_text(c) for c in rows[0]]
    where = [(REF, _index(head, c)) for c in ("NUTS", "DISTRICT_CODE", "SUB_DISTRICT_CODE")]
    if "GEO2" in head:
        where.append((COUNTERPART, head.index("GEO2")))
    values = _columns(head, lambda h: h.startswith("MIG_") or h == "AGE_AVE")
    for r in rows[1:]:
        if not _blank(r):
            has_value = _any_value(r, values, comma=True)
            yield _row(has_value, *((role, _text(r[i])) for role, i in where))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sdmx_xml(path: Path) -> Iterator[Row]:
    """Values: the OBS_VALUE attributes of each series' Obs elements."""
    for el in ET.parse(path).iter():
        if _local(el.tag) == "Series" and "geo" in el.attrib:
            has_value = any(
                _local(obs.tag) == "Obs" and _nonzero(obs.get("OBS_VALUE")) for obs in el.iter()
            )
            yield _row(has_value, (REF, _text(el.attrib["geo"])))


# --------------------------------------------------------------------------- the files


def _readers(root: Path) -> Iterator[tuple[str, Callable[[], Iterable[Row]]]]:
    for p in sorted(root.glob("wb_wdi_*.csv")):
        if not p.name.startswith("wb_wdi_Metadata_"):
            yield p.name, functools.partial(_wdi_csv, p)
    for p in sorted(root.glob("wb_wdi_Metadata_Country_*.csv")):
        yield p.name, functools.partial(_wdi_metadata_csv, p)
    for p in sorted(root.glob("wb_wdi_*.xls")):
        yield p.name, functools.partial(_wdi_xls, p)
    for name in (
        "knomad_2023-06_remittance_inflows.xlsx",
        "knomad_2023-06_remittance_outflows.xlsx",
    ):
        yield name, functools.partial(_knomad, root / name)
    fixed: dict[str, Callable[[Path], Iterable[Row]]] = {
        "undesa_2013_migrant_stock_origin_destination_matrix.csv": _undesa_2013,
        "undesa_2020_ims_stock_by_sex_and_destination.xlsx": _undesa_2020,
        "undesa_2015_migration_flow_totals.xlsx": _undesa_2015,
        "unhcr_refugee_data_finder_2021_by_country_of_asylum.csv": _unhcr,
        "unhcr_refugee_data_finder_2021_unrwa_palestine_refugees_by_asylum.csv": _unhcr,
        "datapackage_oecd_dac_oda_pct_gni_by_donor.csv": functools.partial(
            # the year columns; not the "2007-2008 average" and "2002-2003 average" columns
            _csv_columns,
            columns=("Country",),
            value_column=_is_year,
        ),
        "owid_grapher_share_population_born_in_another_country_filtered.csv": functools.partial(
            _csv_columns,
            columns=("Entity", "Code"),  # this filtered download has no Code column
            value_column=_not_in("Entity", "Code", "Year"),  # the indicator column(s)
        ),
        "undata_export_20220425_gni_current_usd.csv": _undata,
        "unsd_ama_gni_current_usd_all_countries.xlsx": _unsd_ama,
        "wb_databank_remittance_prices_worldwide_corridors_2011-2020.csv": _remittance_prices,
        "eurostat_demo_r_gind3_CNMIGRAT_excerpt.tsv": _eurostat_tsv,
        "eurostat_sdmxml21_structurespecific_nama_10_gdp_LU.xml": _sdmx_xml,
        "oecd_stat_export_GIDDB2019_22042022145601645.csv": _oecd_stat,
        "basel_stadt_statabs_6011_migration_by_origin_destination.tsv": _basel_by_place,
        "basel_stadt_statabs_6761_net_migration_by_citizenship.tsv": _basel_by_citizenship,
        "stadt_wien_migration_by_subdistrict_sex_nationality_2007-2023.csv": _vienna,
        "stadt_wien_average_age_by_district_2002f_decimal_comma.csv": _vienna,
    }
    for name, reader in fixed.items():
        yield name, functools.partial(reader, root / name)


@functools.cache
def _rows() -> dict[str, tuple[Row, ...]]:
    """{file name: its rows as (labels, has_value)}, each file read once for both functions."""
    if not REAL_DATA.is_dir():
        raise FileNotFoundError(REAL_DATA)
    return {name: tuple(read()) for name, read in _readers(REAL_DATA)}


def _labels(*, values_only: bool) -> dict[str, set[Label]]:
    return {
        name: {
            label for labels, has_value in rows if has_value or not values_only for label in labels
        }
        for name, rows in _rows().items()
    }


@functools.cache
def area_labels() -> dict[str, set[tuple[str, str]]]:
    """{file name: {(role, label), ...}} for every real data file that holds areas.

    role is "REF_AREA" or "COUNTERPART_AREA"; see the module docstring for what counts as a label.
    Raises FileNotFoundError if ../shared/data/real is missing. Callers must not mutate the sets
    (the result is cached).
    """
    return _labels(values_only=False)


@functools.cache
def area_labels_with_values() -> dict[str, set[tuple[str, str]]]:
    """Like `area_labels()`, but only the labels of rows that carry at least one non-zero value.

    Same keys and label conventions; each set is a subset of the matching `area_labels()` set. See
    the module docstring and each reader for the value columns. Raises FileNotFoundError if
    ../shared/data/real is missing. Callers must not mutate the sets (the result is cached).
    """
    return _labels(values_only=True)
