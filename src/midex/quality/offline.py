"""The offline engine behind `midex check`: the server's rules over a file's rows, with neither
Spark nor lake.

Nothing here restates a rule. Harmonisation's problems (midex.contract.rules.PROBLEMS) and the
validation suite (expectations/*.yaml) are declared once, in Spark SQL; the server runs them in
its Spark plan, and this module runs the same declarations in DuckDB, translated by sqlglot from
Spark's dialect to DuckDB's. What each engine builds on its own is the frame the rules read: here
the code lookups are made once per distinct value with pyarrow (the same Schema lookups and area
resolution as harmonisation's broadcast joins), and a parity test (tests/test_check.py) holds both
engines to the same findings for every rule.

What is not checked offline, by construction: problems that read the lake (SERVER_ONLY columns:
a local-currency value's exchange rate), the previous period when it is only in the lake, and
the suite's table-level expectations (the structure of the server's own harmonised table).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp as sqlexp

from midex.contract import periods, rules
from midex.contract.areas import resolve_areas
from midex.contract.findings import Finding, sort_findings
from midex.contract.rules import PROBLEMS, SERVER_ONLY, Problem
from midex.contract.schema import CELL_LINEAGE, CELL_LINEAGE_TYPES, Schema
from midex.quality.validate import (
    Suite,
    SuiteExpectation,
    codelist_codes,
    derive_steps,
    finding_for,
    sql_literal,
)

ROW = "_ROW"  # the row's position in the frame
_INTEGER = re.compile(r"[+-]?[0-9]+")


@cache
def duckdb_sql(spark_sql: str) -> str:
    """A Spark SQL expression in DuckDB's dialect."""
    return sqlglot.transpile(spark_sql, read="spark", write="duckdb")[0]


@cache
def columns_read(spark_sql: str) -> frozenset[str]:
    """The columns a Spark SQL expression reads."""
    tree = sqlglot.parse_one(spark_sql, read="spark")
    return frozenset(c.name for c in tree.find_all(sqlexp.Column))


def offline_problems(scoped: bool) -> list[Problem]:
    """The problems `midex check` evaluates: all but those reading the lake; the scoped ones only
    for a provider limited to its areas."""
    return [
        p
        for p in PROBLEMS
        if not (p.scoped and not scoped)
        and not any(columns_read(sql) & SERVER_ONLY for sql in (p.when, *p.fields.values()))
    ]


def find_problems(frame: pa.Table, problems: Sequence[Problem]) -> list[tuple[int, Problem, str]]:
    """(row, problem, message) for every problem of every row of `frame` (FRAME_COLUMNS), in the
    order of `problems` within a row."""
    con = duckdb.connect()
    con.register("frame", frame.append_column(ROW, pa.array(range(frame.num_rows), pa.int64())))
    found: list[tuple[int, int, Problem, str]] = []
    for order, p in enumerate(problems):
        fields = p.message_fields()
        selected = [f"{duckdb_sql(sql)} AS f{i}" for i, sql in enumerate(fields.values())]
        if p.message_column is not None:
            selected.append(f"{p.message_column} AS whole")
        query = f"SELECT {', '.join([ROW, *selected])} FROM frame WHERE {duckdb_sql(p.when)}"
        for hit in con.sql(query).fetchall():
            values = dict(zip(fields, hit[1 : 1 + len(fields)], strict=True))
            whole = hit[-1] if p.message_column is not None else None
            found.append((hit[0], order, p, whole or rules.message(p.rule, **values)))
    con.close()
    return [(row, p, text) for row, _, p, text in sorted(found, key=lambda f: f[:2])]


def failing_condition(exp: SuiteExpectation) -> str:
    """The Spark SQL condition a row fails a column expectation by (Great Expectations' own
    semantics: a null passes every expectation but not_be_null)."""
    column = str(exp.kwargs["column"])
    kwargs = exp.kwargs
    if exp.type == "expect_column_values_to_not_be_null":
        return f"{column} IS NULL"
    if exp.type == "expect_column_values_to_be_in_set":
        values = ", ".join(sql_literal(v) for v in kwargs["value_set"])
        return f"{column} IS NOT NULL AND {column} NOT IN ({values})"
    if exp.type == "expect_column_values_to_be_between":
        outside = []
        if kwargs.get("min_value") is not None:
            below = "<=" if kwargs.get("strict_min") else "<"
            outside.append(f"{column} {below} {sql_literal(kwargs['min_value'])}")
        if kwargs.get("max_value") is not None:
            above = ">=" if kwargs.get("strict_max") else ">"
            outside.append(f"{column} {above} {sql_literal(kwargs['max_value'])}")
        return f"{column} IS NOT NULL AND ({' OR '.join(outside) or 'false'})"
    raise ValueError(
        f"rule {exp.rule}: `midex check` cannot evaluate {exp.type} offline; "
        "teach midex.quality.offline.failing_condition its condition"
    )


def suite_failures(
    observations: pa.Table, suite: Suite, schema: Schema
) -> list[tuple[SuiteExpectation, dict[str, Any]]]:
    """Every (expectation, failing row) of `suite`'s column expectations over harmonised rows
    of one submission (no lake rows), the derived columns computed as the suite declares."""
    con = duckdb.connect()
    con.register("observations", observations)
    names = sorted(set(suite.codelist_joins.values()))
    con.register(
        "codes",
        pa.table(
            {
                "CODE": [c for n in names for c in codelist_codes(n, schema)],
                "LIST": [n for n in names for _ in codelist_codes(n, schema)],
            }
        ),
    )
    joins = " ".join(
        f"LEFT JOIN codes AS j{i} ON j{i}.LIST = {sql_literal(name)} AND j{i}.CODE = o.{column}"
        for i, (column, name) in enumerate(suite.codelist_joins.items())
    )
    coded = "".join(f", j{i}.CODE AS CL_{column}" for i, column in enumerate(suite.codelist_joins))
    query = (
        "SELECT o.*, false AS IS_CONTEXT, "
        f"CAST(0 AS BIGINT) AS SUBMISSION_ID{coded} FROM observations AS o {joins}"
    )
    for step in derive_steps(suite.derive):  # the columns that read only earlier ones, at once
        added = ", ".join(f"{duckdb_sql(e)} AS {name}" for name, e in step.items())
        query = f"SELECT *, {added} FROM ({query})"
    con.execute(f"CREATE TEMP TABLE derived AS {query}")  # once: every expectation reads it
    failures: list[tuple[SuiteExpectation, dict[str, Any]]] = []
    for exp in suite.expectations:
        if "column" not in exp.kwargs:
            continue  # the server's table structure, not the file's rows
        rows = con.sql(
            f"SELECT * FROM derived WHERE {duckdb_sql(failing_condition(exp))}"
        ).to_arrow_table()
        failures.extend((exp, row) for row in rows.to_pylist())
    con.close()
    return failures


# --- the frame: the same lookups as midex.transforms.harmonise, per distinct value ------------


def _trim(arr: pa.Array) -> pa.Array:
    """Spark's trim (spaces only), then '' -> null, like harmonise's _blank_to_null."""
    trimmed = pc.utf8_trim(arr, characters=" ")
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _map(arr: pa.Array, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
    """fn applied once per distinct value of `arr`, spread back over the rows."""
    uniq = pc.unique(arr)
    mapped = pa.array([fn(v) for v in uniq.to_pylist()], type=type_)
    return mapped.take(pc.index_in(arr, value_set=uniq))


def _upper_lookup(table: dict[str, Any]) -> Callable[[str | None], Any]:
    return lambda v: None if v is None else table.get(v.upper())


def _number(v: str | None) -> float | None:
    """Spark's try_cast(string as double) for a trimmed value: None when it is not a number."""
    if v is None or "_" in v:
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def _integer(v: str | None) -> int | None:
    """Spark's try_cast(string as int) for a trimmed UNIT_MULT (blank is 0)."""
    text = "0" if v is None else v
    return int(text) if _INTEGER.fullmatch(text) and abs(int(text)) < 2**31 else None


def _column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    return table.column(name).combine_chunks().cast(pa.string())


def frame(
    table: pa.Table, schema: Schema, provider: str | None, allowed_areas: tuple[str, ...]
) -> pa.Table:
    """The harmonisation frame (midex.contract.rules.FRAME_COLUMNS, but the lake's) of raw rows."""
    raw = {c.name: _column(table, c.name) for c in schema.template_columns}
    t = {c: _trim(a) for c, a in raw.items()}
    areas = pa.struct([("iso3", pa.string()), ("problem", pa.string())])
    resolved: dict[str, tuple[str | None, str | None]] = {}
    values = set(pc.drop_null(t["REF_AREA"]).to_pylist())
    values |= set(pc.drop_null(t["COUNTERPART_AREA"]).to_pylist())
    for r in resolve_areas(sorted(values), schema):
        resolved.setdefault(r.value.strip().upper(), (r.iso3, r.problem))
    ra = _map(t["REF_AREA"], _upper_lookup(resolved), areas)
    ca = _map(t["COUNTERPART_AREA"], _upper_lookup(resolved), areas)
    indicator = _map(t["INDICATOR"], _upper_lookup(schema.indicators.lookup()), pa.string())
    entry = {c.code: c.attrs for c in schema.indicators.codes}
    markers = frozenset(m.lower() for m in schema.missing_markers if m)
    missing = pc.or_kleene(
        pc.is_null(t["OBS_VALUE"]),
        pc.is_in(pc.utf8_lower(t["OBS_VALUE"]), value_set=pa.array(sorted(markers), pa.string())),
    )
    status_key = pc.if_else(
        pc.is_null(t["OBS_STATUS"]),
        pc.if_else(missing, "M", schema.obs_status.default),
        t["OBS_STATUS"],
    )
    columns: dict[str, pa.Array] = {
        **raw,
        "RA_ISO3": pc.struct_field(ra, "iso3"),
        "RA_PROBLEM": pc.struct_field(ra, "problem"),
        "CA_ISO3": pc.struct_field(ca, "iso3"),
        "CA_PROBLEM": pc.struct_field(ca, "problem"),
        "IND_INDICATOR": indicator,
        "IND_CANONICAL_UNIT": _map(
            indicator, lambda c: None if c is None else str(entry[c]["unit"]), pa.string()
        ),
        "IND_BILATERAL": _map(
            indicator, lambda c: None if c is None else bool(entry[c].get("bilateral")), pa.bool_()
        ),
        "UNIT_CODE": _map(t["UNIT_MEASURE"], _upper_lookup(schema.units.lookup()), pa.string()),
        "SEX_CODE": _map(
            pc.fill_null(t["SEX"], schema.sex.default),
            _upper_lookup(schema.sex.lookup()),
            pa.string(),
        ),
        "AGE_CODE": _map(
            pc.fill_null(t["AGE"], schema.age.default),
            _upper_lookup(schema.age.lookup()),
            pa.string(),
        ),
        "ST_CODE": _map(status_key, _upper_lookup(schema.obs_status.lookup()), pa.string()),
        "_VALUE": t["OBS_VALUE"],
        "_MISSING": missing,
        "_NUMBER": _map(t["OBS_VALUE"], _number, pa.float64()),
        "_MULT": _map(t["UNIT_MULT"], _integer, pa.int32()),
        "_PERIOD": _map(raw["TIME_PERIOD"], periods.normalise_period, pa.string()),
        "CTX_PROVIDER": pa.array([provider] * table.num_rows, pa.string()),
        "CTX_ALLOWED": pa.array([list(allowed_areas)] * table.num_rows, pa.list_(pa.string())),
        "CTX_ALLOWED_TEXT": pa.array([", ".join(allowed_areas)] * table.num_rows, pa.string()),
    }
    rules.check_frame(columns, "offline", server=False)
    return pa.table(columns)


# --- the checker --------------------------------------------------------------------------------


def check_table(
    table: pa.Table,
    schema: Schema,
    suite: Suite,
    provider: str | None = None,
    allowed_areas: tuple[str, ...] = (),
) -> tuple[list[Finding], list[str]]:
    """Every finding the server would report for these raw rows without a lake, and notes."""
    if table.num_rows == 0:
        empty = "the file has a header but no data rows"
        return [Finding("error", "file_unreadable", None, None, None, None, None, empty)], []
    rows = frame(table, schema, provider, allowed_areas)
    lineage = {c: _column(table, c).to_pylist() for c in ("SOURCE_SHEET", "SOURCE_COLUMN")}
    source_row = table.column("SOURCE_ROW").to_pylist()
    raw = {c.name: rows.column(c.name).to_pylist() for c in schema.template_columns}
    findings: list[Finding] = []
    bad: set[int] = set()
    for i, p, message in find_problems(rows, offline_problems(bool(allowed_areas))):
        bad.add(i)
        findings.append(
            Finding(
                "error",
                p.rule,
                source_row[i],
                lineage["SOURCE_SHEET"][i],
                rules.cell_column(p.column, lineage["SOURCE_COLUMN"][i]),
                raw[p.column][i],
                None,
                message,
            )
        )
    good = pa.array([i not in bad for i in range(table.num_rows)], pa.bool_())
    observations, lcu_rows = _observations(rows, table, good)
    notes = []
    if lcu_rows:
        notes.append(
            f"{lcu_rows} value(s) in local currency are converted to US dollars on the server "
            "with the exchange-rate series; their values are not checked here"
        )
    for exp, row in suite_failures(observations, suite, schema):
        findings.append(finding_for(exp, row, schema))
    return sort_findings(findings), notes


def _evaluate(table: pa.Table, expressions: dict[str, str]) -> dict[str, pa.Array]:
    """Expressions of the rules (Spark SQL over the frame) per row of `table`, in DuckDB, by
    name, in the table's row order."""
    con = duckdb.connect()
    con.register("frame", table.append_column(ROW, pa.array(range(table.num_rows), pa.int64())))
    selected = ", ".join(f"{duckdb_sql(sql)} AS {name}" for name, sql in expressions.items())
    result = con.sql(f"SELECT {selected} FROM frame ORDER BY {ROW}").arrow()
    con.close()
    found = result if isinstance(result, pa.Table) else result.read_all()
    return {name: found.column(name).combine_chunks() for name in expressions}


def _observations(rows: pa.Table, table: pa.Table, good: pa.Array) -> tuple[pa.Table, int]:
    """The rows without a problem (`good`) as harmonisation writes them (a local-currency value,
    which the server converts with the lake's exchange rates, without its value), and how many
    of them are in local currency."""
    kept, source = rows.filter(good), table.filter(good)
    # as harmonisation declares it, with no exchange rate here (FX_RATE null); one query
    unconverted = kept.append_column("FX_RATE", pa.nulls(kept.num_rows, pa.float64()))
    lcu = f"coalesce({rules.IN_LCU}, false)"
    evaluated = _evaluate(unconverted, {**rules.OBSERVATION_SQL, "IN_LCU": lcu})
    in_lcu = evaluated.pop("IN_LCU")
    columns = {
        **evaluated,
        "SOURCE_ROW": source.column("SOURCE_ROW"),
        "SOURCE_SHEET": _column(source, "SOURCE_SHEET"),
        "SOURCE_COLUMN": _column(source, "SOURCE_COLUMN"),
        "SOURCE_VALUE": kept.column("OBS_VALUE"),
    }
    observations = pa.table(
        {name: pc.cast(columns[name], type_) for name, type_ in OBSERVATION_COLUMNS.items()}
    )
    return observations, pc.sum(in_lcu.cast(pa.int64())).as_py() or 0


OBSERVATION_COLUMNS: dict[str, pa.DataType] = {
    **{c: pa.string() for c in ("REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "AGE")},
    "TIME_PERIOD": pa.string(),
    "OBS_VALUE": pa.float64(),
    "UNIT_MEASURE": pa.string(),
    "OBS_STATUS": pa.string(),
    **{c: pa.type_for_alias(t) for c, t in zip(CELL_LINEAGE, CELL_LINEAGE_TYPES, strict=True)},
    "SOURCE_VALUE": pa.string(),
}
