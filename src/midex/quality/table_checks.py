"""Validation of the impact tables before release, with Great Expectations.

One suite per table in expectations/tables/<table>.yaml, in the same shape as the submission
suites (rule, severity, type, kwargs or for_each_column, message). Values starting with "$" are
filled in when the suite is loaded:
  $table:columns   the table's columns, in order, from schemas/tables/<table>.yaml
  $table:grain     the table's grain (the columns that identify a row)
  $codelist:areas  ISO 3166-1 alpha-3 codes (and reviewed overrides)
  $codelist:NAME   the codes of schemas/codelists/NAME
  $groups:codes    the codes of every group in schemas/groups/
An error-level failure stops the release; warnings are recorded in the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from midex.contract import periods
from midex.contract.areas import area_codes
from midex.contract.errors import MidexError
from midex.contract.groups import load_groups
from midex.contract.schema import Schema

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class TableExpectation:
    rule: str
    severity: str
    type: str
    kwargs: dict[str, Any]
    message: str


@dataclass(frozen=True)
class TableCheck:
    """A failed table expectation."""

    table: str
    rule: str
    severity: str
    column: str | None
    unexpected: int | None
    examples: list[Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        where = f" column {self.column}" if self.column else ""
        count = f" ({self.unexpected} row(s)" if self.unexpected else ""
        if count:
            count += f", e.g. {', '.join(map(str, self.examples[:3]))})" if self.examples else ")"
        return f"{self.table}{where}: {self.message} [{self.rule}]{count}"


def _reference(ref: str, table: str, schema: Schema) -> Any:
    kind, _, name = ref[1:].partition(":")
    if kind == "periods" and name == "year":
        return periods.YEAR
    if kind == "table":
        definition = schema.table(table)
        if name.startswith("parameters."):  # a table's parameter, from its definition
            parameter = name.removeprefix("parameters.")
            if parameter in (definition.get("parameters") or {}):
                return definition["parameters"][parameter]
        if name == "columns":
            return [c["name"] for c in definition["columns"]]
        if name == "grain":
            return list(definition["grain"])
    if kind == "codelist":
        if name == "areas":
            return sorted(area_codes(schema))
        return sorted(schema.codelist(name).code_set())
    if kind == "groups" and name == "codes":
        return sorted(g.code for g in load_groups(schema))
    raise MidexError(f"unknown reference {ref!r} in expectations/tables/{table}.yaml")


def _expand(value: Any, table: str, schema: Schema) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return _reference(value, table, schema)
    if isinstance(value, dict):
        return {k: _expand(v, table, schema) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, table, schema) for v in value]
    return value


def suite_path(expectations: Path, table: str) -> Path:
    return Path(expectations) / "tables" / f"{table}.yaml"


def load_table_suite(path: Path, table: str, schema: Schema) -> list[TableExpectation]:
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MidexError(f"cannot read table suite {path}: {exc}") from exc
    if doc.get("table") != table:
        raise MidexError(f"{path}: says table {doc.get('table')!r}, expected {table!r}")
    out: list[TableExpectation] = []
    for entry in doc["expectations"]:
        severity = entry.get("severity", "error")
        if severity not in ("error", "warning"):
            raise MidexError(f"{path}: rule {entry['rule']}: severity must be error or warning")
        kwargs = _expand(entry.get("kwargs") or {}, table, schema)
        columns = entry.get("for_each_column")
        kwarg_sets = [{"column": c, **kwargs} for c in columns] if columns else [kwargs]
        for kw in kwarg_sets:
            out.append(
                TableExpectation(
                    rule=entry["rule"],
                    severity=severity,
                    type=entry["type"],
                    kwargs=kw,
                    message=entry.get("message", entry["rule"]),
                )
            )
    return out


def check_tables(
    tables: dict[str, DataFrame | pd.DataFrame], schema: Schema, expectations: Path
) -> list[TableCheck]:
    """Run each table's suite on a Spark or pandas DataFrame (a table without a suite file is an
    error: every published table is validated) and return every failed expectation."""
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from midex.quality.validate import broken, gx_expectation

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    sources: dict[str, Any] = {}
    failures: list[TableCheck] = []
    for table, df in tables.items():
        path = suite_path(expectations, table)
        if not path.exists():
            raise MidexError(f"table {table} has no suite {path}; every published table needs one")
        suite_entries = load_table_suite(path, table, schema)
        # impact tables are small (countries × years): pandas runs a suite without Spark jobs
        kind = "pandas" if isinstance(df, pd.DataFrame) else "spark"
        if kind not in sources:
            add = (
                context.data_sources.add_pandas
                if kind == "pandas"
                else context.data_sources.add_spark
            )
            sources[kind] = add(f"midex_tables_{kind}")
        batch = (
            sources[kind]
            .add_dataframe_asset(table)
            .add_batch_definition_whole_dataframe(table)
            .get_batch(batch_parameters={"dataframe": df})
        )
        suite = gx.ExpectationSuite(name=f"table_{table}")
        for i, exp in enumerate(suite_entries):
            suite.add_expectation(
                gx_expectation(gx, exp.type, exp.kwargs, i, f"{path}: rule {exp.rule}")
            )
        result = batch.validate(suite, result_format={"result_format": "SUMMARY"})
        for res in result.results:
            if res.success:
                continue
            exp = suite_entries[int(res.expectation_config.meta["index"])]
            reason = broken(res)
            if reason is not None:
                raise MidexError(f"table {table}: rule {exp.rule} could not run: {reason}")
            detail = res.result or {}
            failures.append(
                TableCheck(
                    table=table,
                    rule=exp.rule,
                    severity=exp.severity,
                    column=exp.kwargs.get("column"),
                    unexpected=detail.get("unexpected_count"),
                    examples=list(detail.get("partial_unexpected_list") or [])[:5],
                    message=exp.message,
                )
            )
    return failures
