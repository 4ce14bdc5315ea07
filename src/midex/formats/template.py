"""The long submission template (DESIGN.md), as CSV or as an Excel workbook (`midex template`).

CSV: delimiter (comma, semicolon, tab) and encoding (UTF-8 with or without BOM, else
Windows-1252) are found; a decimal comma is accepted when it is unambiguous (a semicolon- or
tab-separated file whose values all read as numbers with a comma, and some comma not followed by
exactly three digits, which could be a thousands separator).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats import sheets
from midex.formats.base import FormatSpec, NoFormatMatched, ParsedFile
from midex.formats.raw import RawRows

_SNIFF_BYTES = 64 * 1024
_HEADER_MAX = 1 << 20  # row 1 may be this long (thousands of columns); the CSV block is 4 MiB
_LINE_END = re.compile(r"\r\n|\r|\n")  # what the CSV reader ends a row at (not U+2028)


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


def _first_line(path: Path, head: bytes, encoding: str, name: str) -> tuple[str, bool]:
    """Row 1, the header, read in full however long it is (up to `_HEADER_MAX` bytes), and
    whether the file ends with it (a header and no data rows); an error if it is empty."""
    data, cut = head, len(head) == _SNIFF_BYTES and not re.search(rb"[\r\n]", head)
    if cut:  # the header goes on past the sniffed bytes: read on, up to the limit
        with path.open("rb") as fh:
            data = fh.read(_HEADER_MAX + 1)
        cut = len(data) > _HEADER_MAX and not re.search(rb"[\r\n]", data)
    text = data.decode(encoding, errors="replace").lstrip("\ufeff")
    end = _LINE_END.search(text)
    first_line = text[: end.start()] if end else text
    if not first_line.strip():
        raise MidexError(
            f"{name}: row 1 is empty, but the template's first row names its columns "
            "(REF_AREA, INDICATOR, TIME_PERIOD, OBS_VALUE …); start from a blank template "
            "(`midex template`) and resubmit"
        )
    if cut:
        raise _HeaderTooLong(first_line)
    return first_line, end is None  # no line end: the whole file is row 1


class _HeaderTooLong(Exception):
    """Row 1 has no end within `_HEADER_MAX` bytes; `partial` is what was read of it."""

    def __init__(self, partial: str) -> None:
        self.partial = partial


def _header_too_long(partial: str, name: str, schema: Schema) -> MidexError:
    """The error for a row 1 longer than `_HEADER_MAX`: the template's columns missing from
    what was read of it, else its length."""
    delimiter = _detect_delimiter(partial)
    names = [
        h.strip().strip('"').upper() for h in partial.split(delimiter)
    ]  # no quoting rules: a name may be cut
    complete = names[:-1]  # the last name is cut
    missing = [c.name for c in schema.template_columns if c.required and c.name not in complete]
    if missing:
        return _no_format(name, missing, complete)
    return MidexError(
        f"{name}: row 1: the header (the column names) is longer than "
        f"{_HEADER_MAX >> 20} MiB; a column name may be a whole pasted text or the line "
        "ends may be missing: keep only the template's column names in row 1 and resubmit"
    )


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
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,  # a blank line is a row: later rows keep their numbers
                invalid_row_handler=_ragged,
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
    try:
        first_line, only_header = _first_line(path, head, encoding, name)
    except _HeaderTooLong as long:
        raise _header_too_long(long.partial, name, schema) from None
    delimiter = _detect_delimiter(first_line)
    header = _template_header(first_line, delimiter, name, schema)
    known = [c.name for c in schema.template_columns]
    if only_header:  # no line end: the parse stage says there are no data rows
        empty = {h: pa.array([], pa.string()) for h in known if h in header}
        return to_raw(pa.table(empty), None, schema)
    _check_quotes_closed(path, name, encoding, delimiter)
    table = _read_csv(path, name, encoding, delimiter, header, known)
    table, rows = _without_blank_rows(table)
    if delimiter != "," and "OBS_VALUE" in table.column_names:
        table = table.set_column(
            table.column_names.index("OBS_VALUE"),
            "OBS_VALUE",
            decimal_comma(table.column("OBS_VALUE").combine_chunks(), schema),
        )
    return to_raw(table, None, schema, rows)


def _without_blank_rows(table: pa.Table) -> tuple[pa.Table, pa.Array]:
    """The rows with some value, and their row numbers as a spreadsheet shows them (header = row
    1, blank lines counted: the CSV reader keeps them as rows of empty cells)."""
    rows = pa.array(range(2, table.num_rows + 2), pa.int64())
    if table.num_columns == 0:
        return table, rows
    names = sorted(table.column_names, key=lambda n: n != "REF_AREA")  # required: the cheap test
    keep = pc.not_equal(pc.utf8_trim_whitespace(table.column(names[0])), "")
    if pc.all(keep).as_py():
        return table, rows
    for name in names[1:]:
        keep = pc.or_(keep, pc.not_equal(pc.utf8_trim_whitespace(table.column(name)), ""))
    return table.filter(keep), rows.filter(keep)


def _check_quotes_closed(path: Path, name: str, encoding: str, delimiter: str) -> None:
    """Refuse a quote that opens a cell and is never closed: the CSV reader would take every
    row after it into that one cell. Counting the file's quotes is the cheap test; an odd count
    is read row by row to find the row (a quote inside an unquoted cell is only a character)."""
    odd = False
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            odd ^= chunk.count(b'"') % 2 == 1
    if not odd:
        return
    row = 0
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            for row, _ in enumerate(reader, start=1):  # noqa: B007 (row is read after the loop)
                pass
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return  # another quirk, for the CSV reader to take or report
            raise MidexError(
                f'{name}: row {row + 1}: a quote (") opens a cell that is never closed, so '
                "every row after it would be read into that one cell; close the quote (or "
                "remove it) and resubmit"
            ) from None


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


def to_raw(
    table: pa.Table, sheet: str | None, schema: Schema, rows: pa.Array | None = None
) -> pa.Table:
    """Add lineage (SOURCE_ROW as a spreadsheet user sees it: header = row 1, or `rows`, each
    row's number) and absent columns (the template columns of `schema`)."""
    n = table.num_rows
    columns: dict[str, pa.Array] = {}
    for col in schema.template_columns:
        if col.name in table.column_names:
            columns[col.name] = table.column(col.name).combine_chunks()
        else:
            columns[col.name] = pa.nulls(n, pa.string())
    columns["SOURCE_ROW"] = pa.array(range(2, n + 2), pa.int64()) if rows is None else rows
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
