"""World Bank World Development Indicators downloads: the bulk CSV (metadata preamble, BOM,
every field quoted, trailing comma, years as columns) and the Excel .xls/.xlsx (sheet "Data",
same table under a preamble; "Metadata - Countries" beside it).

Aggregates the World Bank publishes among the economies (World, regions, income groups) are not
countries: they are left out, and the notes say how many and which. An aggregate is a code in
the reviewed list of schemas/areas/overrides.yaml, or, in a workbook, a code whose row in
"Metadata - Countries" has no Region (the World Bank's own marker).
"""

from __future__ import annotations

import re
from pathlib import Path

from midex.contract.areas import non_countries
from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import FormatSpec, ParsedFile
from midex.formats.raw import RawRows
from midex.formats.sheets import (
    Sheet,
    head,
    kind,
    read_sheet,
    read_text,
    sheet_names,
    text_lines,
    text_rows,
)

HEADER = ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
METADATA_HEADERS = (
    ["Country Code", "Region", "IncomeGroup"],
    ["INDICATOR_CODE", "INDICATOR_NAME", "SOURCE_NOTE"],
)
_YEAR = re.compile(r"^\d{4}$")
_SCAN = 12  # the header is within the first rows


def _cells(line: str) -> list[str]:
    return next(iter(text_rows(line, ",")), [])


def _header_index(rows: list[list[str]]) -> int | None:
    for i, row in enumerate(rows[:_SCAN]):
        if [c.strip() for c in row[:4]] == HEADER:
            return i
    return None


def _metadata(rows: list[list[str]]) -> bool:
    return bool(rows) and any([c.strip() for c in rows[0][:3]] == h for h in METADATA_HEADERS)


def detect(path: Path, schema: Schema) -> bool:
    found = kind(path)
    if found == "text":
        lines = head(path, 16 * 1024).decode("utf-8", errors="replace").lstrip("\ufeff")
        rows = [_cells(line) for line in text_lines(lines)[:_SCAN]]
        return _header_index(rows) is not None or _metadata(rows[:1])
    if found in ("xls", "xlsx"):
        if "Data" not in sheet_names(path, path.name):
            return False
        return _header_index(read_sheet(path, path.name, "Data").rows) is not None
    return False


def _csv_sheet(text: str) -> Sheet:
    """The CSV's rows; parsing starts at the header line, because some downloads cut a preamble
    line inside its quotes ("World Development ), which would swallow the lines after it."""
    lines = text_lines(text)
    start = next(
        (i for i, line in enumerate(lines[:_SCAN]) if line.startswith('"Country Name"')), 0
    )
    return Sheet(None, [[] for _ in range(start)] + text_rows("\n".join(lines[start:]), ","))


def _region_less(path: Path, name: str) -> set[str]:
    """Codes whose row in the workbook's "Metadata - Countries" sheet has no Region."""
    if "Metadata - Countries" not in sheet_names(path, name):
        return set()
    rows = read_sheet(path, name, "Metadata - Countries").rows
    if not rows:
        return set()
    header = [c.strip() for c in rows[0]]
    if "Country Code" not in header or "Region" not in header:
        return set()
    ci, ri = header.index("Country Code"), header.index("Region")
    return {
        r[ci].strip()
        for r in rows[1:]
        if len(r) > ci and r[ci].strip() and (len(r) <= ri or not r[ri].strip())
    }


def read(path: Path, name: str, schema: Schema) -> ParsedFile:
    found = kind(path)
    region_less: set[str] = set()
    if found in ("xls", "xlsx"):
        sheet: Sheet = read_sheet(path, name, "Data")
        region_less = _region_less(path, name)
    elif found == "text":
        sheet = _csv_sheet(read_text(path, name).lstrip("\ufeff"))
    else:
        raise MidexError(f"{name}: not a WDI download (CSV or Excel); check the file or --format")
    rows = sheet.rows
    if _metadata(rows):
        raise MidexError(
            f"{name}: this is a WDI metadata file (countries or indicator notes), not data; "
            "submit the data file of the download (API_<indicator>_DS2_….csv) instead"
        )
    h = _header_index(rows)
    if h is None:
        raise MidexError(
            f"{name}: no WDI header row ({', '.join(HEADER)}, years) in the first {_SCAN} rows; "
            "submit the file as downloaded from the World Bank or choose another --format"
        )
    header = [c.strip() for c in rows[h]]
    years = [(j, c) for j, c in enumerate(header) if _YEAR.match(c)]
    if not years:
        raise MidexError(f"{name}: row {h + 1}: the WDI header has no year columns")
    others = non_countries(schema)
    out = RawRows(schema)
    left_out: dict[str, str] = {}
    empty = 0
    for i in range(h + 1, len(rows)):
        row = rows[i]
        if not any(c.strip() for c in row):
            continue
        country = row[0].strip() if row else ""
        code = row[1].strip() if len(row) > 1 else ""
        area = code or country  # the 2015 files list Kosovo without a code
        if code in region_less or others.kind(code) or others.kind(country):
            left_out[code or country] = country
            continue
        indicator = row[3].strip() if len(row) > 3 else ""
        for j, year in years:
            value = row[j].strip() if j < len(row) else ""
            if not value:
                empty += 1
                continue
            out.add(
                {"REF_AREA": area, "INDICATOR": indicator, "TIME_PERIOD": year, "OBS_VALUE": value},
                row=i + 1,
                sheet=sheet.name,
                column=year,
            )
    notes = []
    if left_out:
        listed = ", ".join(f"{c} ({n})" if n and n != c else c for c, n in sorted(left_out.items()))
        notes.append(
            f"{len(left_out)} aggregates left out (World Bank regions and groups, not "
            f"countries): {listed}"
        )
    if empty:
        notes.append(f"{empty} empty cells (no data for that year) left out")
    return ParsedFile(out.table(), "wdi", notes)


FORMAT = FormatSpec(
    name="wdi",
    read=read,
    detect=detect,
    order=20,
    description="World Bank WDI download: CSV or Excel (years as columns)",
)
