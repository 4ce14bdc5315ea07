"""The long submission template (DESIGN.md), as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from midex.errors import MidexError
from midex.schema import load_schema

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


def read(path: Path, name: str) -> pa.Table:
    """Read a template CSV into the raw table: every column as the submitted string."""
    schema = load_schema()
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    encoding = _detect_encoding(head, name)
    text_head = head.decode(encoding, errors="replace")
    first_line = text_head.splitlines()[0] if text_head else ""
    delimiter = _detect_delimiter(first_line)
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    header = [h.strip().upper() for h in header]
    known = [c.name for c in schema.template_columns]
    missing = [c.name for c in schema.template_columns if c.required and c.name not in header]
    if missing:
        raise MidexError(
            f"{name}: row 1: required column(s) {', '.join(missing)} missing "
            f"(found: {', '.join(h for h in header if h) or 'nothing'}); "
            "start from the template (`midex template`)"
        )
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise MidexError(f"{name}: row 1: column(s) {', '.join(dupes)} appear twice; keep one")
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
    return to_raw(table, sheet=None)


def _ragged_rows(path: Path, encoding: str, delimiter: str, expected: int) -> list[str]:
    """Find the rows whose field count differs from the header's (error path only)."""
    found = []
    with path.open(encoding=encoding, newline="") as fh:
        for row_number, fields in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
            if row_number > 1 and fields and len(fields) != expected:
                found.append(f"row {row_number} has {len(fields)} fields, expected {expected}")
    return found


def to_raw(table: pa.Table, sheet: str | None) -> pa.Table:
    """Add lineage (SOURCE_ROW as a spreadsheet user sees it: header = row 1) and absent columns."""
    schema = load_schema()
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
