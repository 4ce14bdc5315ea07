"""Validation with Great Expectations, from the suite files in expectations/.

A suite file lists expectations with a rule name and a severity; `$` references are filled from
schemas/. Each failing row becomes a Finding (row, column, value, series key, what to do); any
error finding rejects the submission.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from midex.countries import NOT_APPLICABLE, iso3_codes
from midex.errors import MidexError
from midex.findings import Finding
from midex.schema import Schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

INDEX_COLUMNS = ["SOURCE_ROW", "SOURCE_SHEET", "SOURCE_VALUE"]


@dataclass(frozen=True)
class SuiteExpectation:
    rule: str
    severity: str
    type: str
    kwargs: dict[str, Any]
    message: str
    report_column: str | None  # the column named in findings (default: the checked column)
    value_column: str | None  # the index column whose value findings show (default: checked)


@dataclass(frozen=True)
class Suite:
    name: str
    derive: dict[str, str]
    expectations: tuple[SuiteExpectation, ...]


def _reference(ref: str, schema: Schema) -> Any:
    kind, _, name = ref[1:].partition(":")
    if kind == "codelist":
        if name == "areas":
            return sorted(iso3_codes() | set(schema.area_overrides.values()) | {NOT_APPLICABLE})
        return sorted(schema.codelist(name).code_set())
    if kind == "observation" and name == "columns":
        return [c.name for c in schema.observation_columns]
    if kind == "observation" and name == "series_key":
        return list(schema.series_key)
    if kind == "indicators":
        return [c.code for c in schema.indicators.codes if c.attrs.get(name)]
    raise MidexError(f"unknown reference {ref!r} in an expectations/ suite")


def _expand(value: Any, schema: Schema) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return _reference(value, schema)
    if isinstance(value, dict):
        return {k: _expand(v, schema) for k, v in value.items()}
    return value


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def load_suite(path: Path, schema: Schema) -> Suite:
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MidexError(f"cannot read suite {path}: {exc}") from exc
    derive = {
        name: re.sub(r"\$[a-z_]+:[a-z_]+", lambda m: _sql_list(_reference(m.group(0), schema)), e)
        for name, e in (doc.get("derive") or {}).items()
    }
    expectations: list[SuiteExpectation] = []
    for entry in doc["expectations"]:
        severity = entry.get("severity", "error")
        if severity not in ("error", "warning"):
            raise MidexError(f"{path}: rule {entry['rule']}: severity must be error or warning")
        per_column = entry.get("for_each_column")
        if per_column is None:
            kwarg_sets = [_expand(entry.get("kwargs") or {}, schema)]
        elif isinstance(per_column, list):
            kwarg_sets = [{"column": c, **(entry.get("kwargs") or {})} for c in per_column]
        else:
            kwarg_sets = [
                {"column": c, "value_set": _expand(v, schema)} for c, v in per_column.items()
            ]
        for kwargs in kwarg_sets:
            expectations.append(
                SuiteExpectation(
                    rule=entry["rule"],
                    severity=severity,
                    type=entry["type"],
                    kwargs=kwargs,
                    message=entry.get("message", entry["rule"]),
                    report_column=entry.get("report_column"),
                    value_column=entry.get("value_column"),
                )
            )
    return Suite(name=doc["suite"], derive=derive, expectations=tuple(expectations))


def _gx_expectation(gx: Any, exp: SuiteExpectation, index: int) -> Any:
    class_name = "".join(part.capitalize() for part in exp.type.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        raise MidexError(f"suite rule {exp.rule}: unknown expectation type {exp.type}")
    return cls(**exp.kwargs, meta={"index": index})


def _series_key(row: dict[str, Any], key: tuple[str, ...]) -> str | None:
    if not all(k in row for k in key):
        return None
    return ".".join(str(row[k]) for k in key)


def run_suite(df: DataFrame, suite: Suite, schema: Schema) -> list[Finding]:
    """Validate `df` (one submission's harmonised rows) and return every failing row as a Finding."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from pyspark.sql import functions as F

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    for name, expression in suite.derive.items():
        df = df.withColumn(name, F.expr(expression))
    df = df.cache()
    try:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_spark("midex").add_dataframe_asset(suite.name)
        batch = asset.add_batch_definition_whole_dataframe("submission").get_batch(
            batch_parameters={"dataframe": df}
        )
        gx_suite = gx.ExpectationSuite(name=suite.name)
        for i, exp in enumerate(suite.expectations):
            gx_suite.add_expectation(_gx_expectation(gx, exp, i))
        index_columns = [*INDEX_COLUMNS, *schema.series_key]
        result = batch.validate(
            gx_suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": index_columns,
                "return_unexpected_index_query": False,
            },
        )
    finally:
        df.unpersist()
    findings: list[Finding] = []
    for res in result.results:
        if res.success:
            continue
        exp = suite.expectations[int(res.expectation_config.meta["index"])]
        column = exp.kwargs.get("column")
        report_column = exp.report_column or column
        rows = res.result.get("unexpected_index_list")
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise MidexError(
                f"validation rule {exp.rule} could not run: "
                f"{res.exception_info.get('exception_message')}"
            )
        if not rows:
            findings.append(
                Finding(exp.severity, exp.rule, None, None, report_column, None, None, exp.message)
            )
            continue
        for row in rows:
            value = row.get(exp.value_column or column) if column else None
            text = None if value is None else str(value)
            findings.append(
                Finding(
                    severity=exp.severity,
                    rule=exp.rule,
                    row=row.get("SOURCE_ROW"),
                    sheet=row.get("SOURCE_SHEET"),
                    column=report_column,
                    value=text,
                    series_key=_series_key(row, schema.series_key),
                    message=exp.message.format(column=report_column, value=text),
                )
            )
    return findings


def quarantine_findings(quarantine: DataFrame) -> list[Finding]:
    """Every problem of every quarantined row, as an error finding."""
    from pyspark.sql import functions as F

    rows = (
        quarantine.select("SOURCE_ROW", "SOURCE_SHEET", F.explode("PROBLEMS").alias("p"))
        .orderBy("SOURCE_ROW")
        .collect()
    )
    return [
        Finding(
            severity="error",
            rule=r.p.rule,
            row=r.SOURCE_ROW,
            sheet=r.SOURCE_SHEET,
            column=r.p.column,
            value=r.p.value,
            series_key=None,
            message=r.p.message,
        )
        for r in rows
    ]
