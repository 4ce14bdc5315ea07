"""The long submission template (DESIGN.md), as CSV or as an Excel workbook (`midex template`).

CSV: delimiter (comma, semicolon, tab) and encoding (UTF-8 with or without BOM, else
Windows-1252) are found; a decimal comma is accepted when it is unambiguous (a semicolon- or
tab-separated file whose values all read as numbers with a comma, and some comma not followed by
exactly three digits, which could be a thousands separator).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats import sheets
from midex.formats.base import FormatSpec, NoFormatMatched, ParsedFile

_SNIFF_BYTES = 64 * 1024


def _detect_encoding(head: bytes, name: str) -> str:
    if not head.strip():
        raise MidexError(f"{name}: the file is empty; fill in the template (`midex template`)")
    if b"\x00" in head:
        raise MidexError(
            f"{name}: this is not a text file (binary content); send the template as CSV"
        )
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sniff window
            return "utf-8"
        return "cp1252"


def _detect_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    return delimiter if counts[delimiter] else ","


def _no_format(name: str, missing: list[str], header: list[str]) -> MidexError:
    # read_submission names the formats and layouts there are (this module is one of them)
    return NoFormatMatched(name, missing, header)


def _sniff_encoding(path: Path, name: str) -> tuple[bytes, str]:
    """The file's first bytes and its text encoding; an error if it is not text we can read."""
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    encoding = _detect_encoding(head, name)
    sheets.check_text_bytes(path, name, encoding)
    if encoding == "cp1252":
        try:
            head.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise MidexError(
                f"{name}: the text encoding is neither UTF-8 nor Windows-1252 (byte "
                f"0x{head[exc.start]:02x} at offset {exc.start}); save the file as "
                "'CSV UTF-8' and resubmit"
            ) from exc
    return head, encoding


def _first_line(head: bytes, encoding: str, name: str) -> str:
    """Row 1, the header; an error if it is empty."""
    text_head = head.decode(encoding, errors="replace")
    first_line = text_head.lstrip("\ufeff").splitlines()[0] if text_head.strip("\ufeff") else ""
    if not first_line.strip():
        raise MidexError(
            f"{name}: row 1 is empty, but the template's first row names its columns "
            "(REF_AREA, INDICATOR, TIME_PERIOD, OBS_VALUE …); start from a blank template "
            "(`midex template`) and resubmit"
        )
    return first_line


def _template_header(first_line: str, delimiter: str, name: str, schema: Schema) -> list[str]:
    """The column names of row 1, upper-cased; an error if a required one is missing or one
    appears twice."""
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    header = [h.strip().upper() for h in header]
    missing = [c.name for c in schema.template_columns if c.required and c.name not in header]
    if missing:
        raise _no_format(name, missing, header)
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise MidexError(f"{name}: row 1: column(s) {', '.join(dupes)} appear twice; keep one")
    return header


def _read_csv(
    path: Path, name: str, encoding: str, delimiter: str, header: list[str], known: list[str]
) -> pa.Table:
    """The template's known columns as strings; an error naming the rows without the header's
    number of fields."""
    ragged: list[str] = []

    def _ragged(row: pacsv.InvalidRow) -> str:
        where = f"row {row.number}" if row.number is not None else "a row"
        ragged.append(f"{where} has {row.actual_columns} fields, expected {row.expected_columns}")
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding=encoding, column_names=header, skip_rows=1, block_size=1 << 22
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=_ragged
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                include_columns=[h for h in header if h in known],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise MidexError(
            f"{name}: cannot read as CSV ({exc}); every row must have the same "
            f"{len(header)} columns as the header"
        ) from exc
    if ragged:
        if any(r.startswith("a row") for r in ragged):
            ragged = _ragged_rows(path, encoding, delimiter, len(header))
        more = f" (and {len(ragged) - 5} more)" if len(ragged) > 5 else ""
        raise MidexError(
            f"{name}: {'; '.join(ragged[:5])}{more}; every row needs the header's "
            f"{len(header)} columns (check for a stray delimiter or a missing quote)"
        )
    return table


def read(path: Path, name: str, schema: Schema) -> pa.Table:
    """Read a template CSV or XLSX into the raw table: every column as the submitted string."""
    found = sheets.check_readable(path, name)
    if found in ("xlsx", "xls"):
        return read_workbook(path, name, schema)
    if found == "xml":
        raise MidexError(
            f"{name}: an XML file is not the template; for SDMX-ML use --format sdmx-ml"
        )
    head, encoding = _sniff_encoding(path, name)
    first_line = _first_line(head, encoding, name)
    delimiter = _detect_delimiter(first_line)
    header = _template_header(first_line, delimiter, name, schema)
    known = [c.name for c in schema.template_columns]
    table = _read_csv(path, name, encoding, delimiter, header, known)
    if delimiter != "," and "OBS_VALUE" in table.column_names:
        table = table.set_column(
            table.column_names.index("OBS_VALUE"),
            "OBS_VALUE",
            decimal_comma(table.column("OBS_VALUE").combine_chunks(), schema),
        )
    return to_raw(table, None, schema)


_COMMA_NUMBER = r"^\s*[-+]?\d+(,\d+)?\s*$"
_THOUSANDS_LIKE = r"^\s*[-+]?\d{1,3},\d{3}\s*$"


def decimal_comma(values: pa.Array, schema: Schema) -> pa.Array:
    """'41,14' -> '41.14' when every value is a number written with a decimal comma and some
    comma cannot be a thousands separator; otherwise the values unchanged (harmonisation then
    reports what is not a number); the schema's missing markers are not numbers to weigh."""
    filled = pc.fill_null(pc.utf8_trim_whitespace(values), "")
    markers = pa.array([m.lower() for m in schema.missing_markers], pa.string())
    present = pc.invert(pc.is_in(pc.utf8_lower(filled), value_set=markers))
    candidates = pc.filter(filled, present)
    if len(candidates) == 0:
        return values
    with_comma = pc.match_substring(candidates, ",")
    if not pc.any(with_comma).as_py():
        return values
    if not pc.all(pc.match_substring_regex(candidates, _COMMA_NUMBER)).as_py():
        return values
    commas = pc.filter(candidates, with_comma)
    if pc.all(pc.match_substring_regex(commas, _THOUSANDS_LIKE)).as_py():
        return values  # "1,234" could be a thousand: ambiguous, leave it for the report
    return pc.replace_substring(values, ",", ".")


def read_workbook(path: Path, name: str, schema: Schema) -> pa.Table:
    """The template as an Excel workbook: the first sheet whose row 1 has the template's
    columns (the data sheet of `midex template --format xlsx`)."""
    from midex.formats.raw import RawRows

    known = [c.name for c in schema.template_columns]
    chosen = None
    for title in sheets.sheet_names(path, name):
        sheet = sheets.read_sheet(path, name, title)
        header = [h.strip().upper() for h in sheet.row(1)]
        if "REF_AREA" in header:
            chosen = sheet
            break
    if chosen is None:
        first = sheets.read_sheet(path, name, 0)
        header = [h.strip().upper() for h in first.row(1)]
        missing = [c.name for c in schema.template_columns if c.required and c.name not in header]
        raise _no_format(name, missing, header)
    header = [h.strip().upper() for h in chosen.row(1)]
    missing = [c.name for c in schema.template_columns if c.required and c.name not in header]
    if missing:
        raise _no_format(f"{name} (sheet {chosen.name})", missing, header)
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise MidexError(
            f"{name}: sheet {chosen.name}, row 1: column(s) {', '.join(dupes)} appear twice; keep one"
        )
    index = {h: j for j, h in enumerate(header) if h in known}
    out = RawRows(schema)
    for number, row in enumerate(chosen.rows[1:], start=2):
        if sheets.blank(row):
            continue
        out.add(
            {col: (row[j] if j < len(row) else "") for col, j in index.items()},
            row=number,
            sheet=chosen.name,
        )
    return out.table()


def _ragged_rows(path: Path, encoding: str, delimiter: str, expected: int) -> list[str]:
    """Find the rows whose field count differs from the header's (error path only)."""
    found = []
    with path.open(encoding=encoding, newline="") as fh:
        for row_number, fields in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
            if row_number > 1 and fields and len(fields) != expected:
                found.append(f"row {row_number} has {len(fields)} fields, expected {expected}")
    return found


def to_raw(table: pa.Table, sheet: str | None, schema: Schema) -> pa.Table:
    """Add lineage (SOURCE_ROW as a spreadsheet user sees it: header = row 1) and absent columns
    (the template columns of `schema`)."""
    n = table.num_rows
    columns: dict[str, pa.Array] = {}
    for col in schema.template_columns:
        if col.name in table.column_names:
            columns[col.name] = table.column(col.name).combine_chunks()
        else:
            columns[col.name] = pa.nulls(n, pa.string())
    columns["SOURCE_ROW"] = pa.array(range(2, n + 2), pa.int64())
    columns["SOURCE_SHEET"] = pa.array([sheet] * n, pa.string())
    columns["SOURCE_COLUMN"] = pa.nulls(n, pa.string())
    return pa.table(columns)


def _read_parsed(path: Path, name: str, schema: Schema) -> ParsedFile:
    return ParsedFile(read(path, name, schema), "template")


FORMAT = FormatSpec(
    name="template",
    read=_read_parsed,
    detect=None,  # the fallback for --format auto
    order=100,
    description="the long submission template (CSV or XLSX)",
)
