"""Consumer queries over a release's Parquet tables with pyarrow.dataset: filters, paging, and
provenance. Filter values are checked against their shape and codelists and applied as pyarrow
expressions, never pasted into a query language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from midex.contract.errors import MidexError
from midex.contract.periods import WRITE, is_canonical
from midex.contract.schema import Schema
from midex.release.bundle import read_manifest
from midex.storage.catalog import Release

_ISO3 = re.compile(r"^[A-Z]{3}$")
_CODE = re.compile(r"^[A-Z0-9_]{1,40}$")
MAX_LIMIT = 10_000


class BadFilter(MidexError):
    """A filter value that is not a code, period or group midex knows (a 400, not a 500)."""


def _shown(value: str) -> str:
    return repr(value[:40] + ("…" if len(value) > 40 else ""))


@dataclass
class TableQuery:
    areas: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    period_from: str | None = None
    period_to: str | None = None
    group: str | None = None
    limit: int = 100
    offset: int = 0


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_query(
    schema: Schema,
    area: str | None,
    indicator: str | None,
    period_from: str | None,
    period_to: str | None,
    group: str | None,
    limit: int,
    offset: int,
) -> TableQuery:
    areas = [a.upper() for a in _split(area)]
    for a in areas:
        if not _ISO3.match(a):
            raise BadFilter(f"area {_shown(a)} is not an ISO 3166 alpha-3 code (e.g. MEX)")
    lookup = schema.indicators.lookup()
    indicators = []
    for i in _split(indicator):
        code = lookup.get(i.upper())
        if code is None:
            raise BadFilter(f"indicator {_shown(i)} is not an indicator code or alias")
        indicators.append(code)
    for name, p in (("period_from", period_from), ("period_to", period_to)):
        if p is not None and not is_canonical(p):
            raise BadFilter(f"{name} {_shown(p)} is not a period; write {WRITE}")
    if group is not None and not _CODE.match(group):
        raise BadFilter(f"group {_shown(group)} is not a group code (e.g. WB_LMC)")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFilter(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise BadFilter("offset must be 0 or more")
    return TableQuery(areas, indicators, period_from, period_to, group, limit, offset)


def group_members(schema: Schema, code: str) -> list[str]:
    from midex.contract.groups import load_groups

    for g in load_groups(schema):
        if g.code == code:
            return list(g.members)
    raise BadFilter(f"unknown group {_shown(code)}; GET /api/groups lists them")


def table_path(release: Release, table: str) -> Path:
    manifest = read_manifest(release)
    if table not in manifest["tables"]:
        raise KeyError(table)
    return Path(release.path) / manifest["tables"][table]["file"]


def _expression(q: TableQuery, columns: list[str], schema: Schema, table: str) -> Any:
    def need(column: str, what: str) -> None:
        if column not in columns:
            raise BadFilter(
                f"table {table} has no {column} column; it cannot be filtered by {what}"
            )

    expr = None

    def both(e: Any) -> None:
        nonlocal expr
        expr = e if expr is None else expr & e

    if q.areas:
        need("REF_AREA", "area")
        both(ds.field("REF_AREA").isin(q.areas))
    if q.group:
        members = group_members(schema, q.group)
        column = "REF_AREA" if "REF_AREA" in columns else "GROUP_CODE"
        need(column, "group")
        both(
            ds.field(column).isin(members) if column == "REF_AREA" else ds.field(column) == q.group
        )
    if q.indicators:
        need("INDICATOR", "indicator")
        both(ds.field("INDICATOR").isin(q.indicators))
    if q.period_from:
        need("TIME_PERIOD", "period")
        both(ds.field("TIME_PERIOD") >= q.period_from)
    if q.period_to:
        need("TIME_PERIOD", "period")
        # "2020" also takes 2020-Q4 and 2020-12
        both(ds.field("TIME_PERIOD") <= q.period_to + "\uffff")
    return expr


def query_table(release: Release, table: str, q: TableQuery, schema: Schema) -> dict[str, Any]:
    dataset = ds.dataset(table_path(release, table), format="parquet")
    columns = list(dataset.schema.names)
    expr = _expression(q, columns, schema, table)
    data = dataset.to_table(filter=expr)
    page = data.slice(q.offset, q.limit)
    return {
        "release": release.number,
        "table": table,
        "columns": [{"name": f.name, "type": str(f.type)} for f in data.schema],
        "total": data.num_rows,
        "offset": q.offset,
        "limit": q.limit,
        "rows": _json_rows(page),
    }


def _json_rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, datetime):
                row[k] = v.astimezone(UTC).isoformat() if v.tzinfo else v.isoformat()
            elif isinstance(v, float) and v != v:  # NaN is not JSON
                row[k] = None
    return rows


def filtered_table(release: Release, table: str, q: TableQuery, schema: Schema) -> pa.Table:
    dataset = ds.dataset(table_path(release, table), format="parquet")
    return dataset.to_table(filter=_expression(q, list(dataset.schema.names), schema, table))


def export_filtered(release: Release, table: str, q: TableQuery, schema: Schema, fmt: str) -> bytes:
    """The filtered rows as CSV (as `midex export` writes CSV) or Parquet."""
    from midex.release.bundle import _csv_bytes

    data = filtered_table(release, table, q, schema)
    if fmt == "csv":
        return _csv_bytes(data)
    buffer = pa.BufferOutputStream()
    pq.write_table(data, buffer)
    return buffer.getvalue().to_pybytes()


_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.\- ]{1,60}$")
_COLUMN = re.compile(r"^[A-Z][A-Z0-9_]{0,40}$")


def check_where(where: dict[str, str]) -> None:
    """explain's COLUMN=VALUE pairs: column names and plain values only."""
    for column, value in where.items():
        if not _COLUMN.match(column):
            raise BadFilter(f"{_shown(column)} is not a column name (e.g. REF_AREA)")
        if not _SAFE_VALUE.match(value):
            raise BadFilter(f"{column} {_shown(value)} is not a plain value")
    check_key({k: v for k, v in where.items() if k in _KEYED})


_KEYED = ("REF_AREA", "COUNTERPART_AREA", "TIME_PERIOD")


def check_key(key: dict[str, str]) -> None:
    for c, v in key.items():
        if c in ("REF_AREA", "COUNTERPART_AREA"):
            if not (_ISO3.match(v) or v == "_Z"):
                raise BadFilter(f"{c} {_shown(v)} is not an ISO3 code")
        elif c == "TIME_PERIOD":
            if not is_canonical(v):
                raise BadFilter(f"TIME_PERIOD {_shown(v)} is not a period")
        elif not _CODE.match(v):
            raise BadFilter(f"{c} {_shown(v)} is not a code")
