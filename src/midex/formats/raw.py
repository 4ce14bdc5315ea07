"""Building the raw table the readers return (see midex.formats): template columns as strings
plus lineage, and the small notations every non-template reader needs (numbers as the file
writes them, cells as text)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from midex.contract.schema import CELL_LINEAGE, CELL_LINEAGE_TYPES, Schema


class RawRows:
    """Collects observations column by column; `table()` gives the raw pyarrow table (the shape
    of `schema`, the one the reader was given)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.names = [c.name for c in self.schema.template_columns]
        self.columns: dict[str, list[str | None]] = {n: [] for n in self.names}
        self.rows: list[int] = []
        self.sheets: list[str | None] = []
        self.source_columns: list[str | None] = []

    def add(
        self,
        values: Mapping[str, str | None],
        row: int,
        sheet: str | None = None,
        column: str | None = None,
    ) -> None:
        for name in self.names:
            self.columns[name].append(values.get(name))
        self.rows.append(row)
        self.sheets.append(sheet)
        self.source_columns.append(column)

    def __len__(self) -> int:
        return len(self.rows)

    def table(self) -> pa.Table:
        data: dict[str, list[Any]] = {n: self.columns[n] for n in self.names}
        data.update(zip(CELL_LINEAGE, (self.rows, self.sheets, self.source_columns), strict=True))
        return pa.table(data, schema=raw_arrow_schema(self.schema))


def raw_arrow_schema(schema: Schema) -> pa.Schema:
    """The one shape of a raw table: template columns as strings, then the lineage columns."""
    return pa.schema(
        [pa.field(c.name, pa.string()) for c in schema.template_columns]
        + [
            pa.field(name, pa.type_for_alias(kind))
            for name, kind in zip(CELL_LINEAGE, CELL_LINEAGE_TYPES, strict=True)
        ]
    )


def conform(table: pa.Table, schema: Schema) -> pa.Table:
    """`table` in the raw shape: missing columns null, types cast, other columns left out, so
    the raw partitions of many submissions read as one frame."""
    target = raw_arrow_schema(schema)
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a user sees: 2000.0 -> '2000', None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def normalise_number(text: str, decimal: str = ".", thousands: str | None = None) -> str:
    """A number in the file's notation -> the point-decimal notation harmonisation parses.

    Only notation changes: '1 234,5' with decimal ',' and thousands ' ' -> '1234.5'. Text that
    is not a number is returned stripped, for harmonisation to report.
    """
    value = text.strip()
    if thousands:
        if thousands.isspace():
            value = re.sub(r"(?<=\d)\s+(?=\d{3}\b)", "", value)
        else:
            value = value.replace(thousands, "")
    if decimal != ".":
        value = value.replace(decimal, ".")
    return value


def count_note(what: str, values: list[str], limit: int = 12) -> str:
    """'12 rows of aggregates left out: World (3), Low income, …' for a provider's report."""
    counts = Counter(values)
    shown = [f"{v} ({n})" if n > 1 else v for v, n in sorted(counts.items())[:limit]]
    more = f" and {len(counts) - limit} more" if len(counts) > limit else ""
    return f"{len(values)} {what}: {', '.join(shown)}{more}"
