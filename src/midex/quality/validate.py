"""Validation with Great Expectations, from the suite files in expectations/.

A suite file lists expectations with a rule name and a severity, the derived columns they look at
(Spark SQL, windows allowed: duplicates, sex breakdowns, reported ratios, the previous period) and
the codelist joins that say whether a code is known. `$` references are filled from schemas/.
Each failing row becomes a Finding (row, column, value, series key, what to do; the message is the
rule's template in midex.contract.rules); any error finding rejects the submission.

Speed: every derived column is computed in one Spark plan, cached once, then Great Expectations
evaluates the whole suite in two passes over the cached frame: counts for every expectation
(aggregates bundled by Great Expectations), then the failing rows, only for the expectations
that failed.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from midex.contract import periods, rules
from midex.contract.areas import NOT_APPLICABLE, area_codes
from midex.contract.errors import MidexError
from midex.contract.findings import Finding
from midex.contract.schema import CELL_AND_TEXT, CELL_LINEAGE, Schema

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

CONTEXT_COLUMN = "IS_CONTEXT"
SUBMISSION_COLUMN = "SUBMISSION_ID"  # true on lake rows that only serve as the previous period
FLAGS_COLUMN = "VALIDATION_FLAGS"
_REF = re.compile(r"\$[a-z_]+:[A-Za-z_]+")


@dataclass(frozen=True)
class SuiteExpectation:
    rule: str
    severity: str
    type: str
    kwargs: dict[str, Any]
    report_column: str | None  # the column named in findings
    fields: dict[str, Any]  # message field -> derived column (str) or a literal (number)

    @property
    def field_columns(self) -> set[str]:
        """The (derived) columns its findings' messages read."""
        return {s for s in self.fields.values() if isinstance(s, str)}


@dataclass(frozen=True)
class Suite:
    name: str
    params: dict[str, Any]
    codelist_joins: dict[str, str]  # column -> codelist name; gives CL_<column>
    derive: dict[str, str]  # derived column -> Spark SQL expression, applied in order
    expectations: tuple[SuiteExpectation, ...]

    def severity(self, rule: str) -> str | None:
        """The severity the suite gives `rule`, or None when the suite does not check it."""
        for exp in self.expectations:
            if exp.rule == rule:
                return exp.severity
        return None


def codelist_codes(name: str, schema: Schema) -> list[str]:
    if name == "areas":
        return sorted(area_codes(schema) | {NOT_APPLICABLE})
    return sorted(schema.codelist(name).code_set())


def sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"CAST({value!r} AS double)"
    return "'" + str(value).replace("'", "''") + "'"


def _sql_list(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values) or "NULL"


def _indicator_case(attribute: str, schema: Schema) -> str:
    whens = [
        f"WHEN {sql_literal(c.code)} THEN {sql_literal(c.attrs[attribute])}"
        for c in schema.indicators.codes
        if c.attrs.get(attribute) is not None
    ]
    return f"(CASE INDICATOR {' '.join(whens)} END)" if whens else "NULL"


def ratio_indicators(schema: Schema) -> dict[str, tuple[str, str]]:
    """Reported ratios -> (numerator, denominator) indicators, from the indicator attributes."""
    return {
        c.code: (str(c.attrs["ratio_numerator"]), str(c.attrs["ratio_denominator"]))
        for c in schema.indicators.codes
        if c.attrs.get("ratio_numerator") and c.attrs.get("ratio_denominator")
    }


# The coherence rules compare rows of one submission, area, partner, age and period: a total
# with its sex breakdown, a reported ratio with its components. One window aggregate gathers,
# per such partition, the values that can take part (breakdowns by sex, ratio components) as
# (indicator, sex, value) entries, and each row picks the entries it needs from that short list:
# one unordered window, where a lag per sex and a max per ratio component and sex took 34.
# Partner first: Spark's sort compares the first key as a prefix, and a submission's rows all
# share SUBMISSION_ID (the time-series windows in the suite file do the same).
COHERENCE_KEYS = "COUNTERPART_AREA, TIME_PERIOD, REF_AREA, AGE, SUBMISSION_ID"
COHERENCE_COLUMN = "COHERENCE_VALUES"  # the suite's derived column holding those entries


def _coherence_values(schema: Schema) -> str:
    components = sorted({c for pair in ratio_indicators(schema).values() for c in pair})
    return (
        f"collect_list(CASE WHEN NOT {CONTEXT_COLUMN} AND (SEX <> '_T' OR INDICATOR IN "
        f"({_sql_list(components)})) THEN named_struct('i', INDICATOR, 's', SEX, 'v', OBS_VALUE) "
        f"END) OVER (PARTITION BY {COHERENCE_KEYS})"
    )


def _entry(indicator: str, sex: str) -> str:
    """The value of (indicator, sex) among the row's coherence entries (SQL expressions)."""
    return (
        f"array_max(transform(filter({COHERENCE_COLUMN}, e -> e.i = {indicator} AND e.s = {sex}), "
        "e -> e.v))"
    )


def _ratios_expected(schema: Schema) -> str:
    """100 x numerator / denominator of the row's reported ratio, same sex, same submission."""
    whens = [
        f"WHEN {sql_literal(ratio)} THEN 100.0 * {_entry(sql_literal(num), 'SEX')} "
        f"/ nullif({_entry(sql_literal(den), 'SEX')}, 0)"
        for ratio, (num, den) in ratio_indicators(schema).items()
    ]
    return f"(CASE INDICATOR {' '.join(whens)} END)" if whens else "CAST(NULL AS double)"


def _sex_value(sex: str, schema: Schema) -> str:
    """The value for `sex` of the row's indicator (same submission, area, partner, age, period)."""
    if sex not in schema.sex.code_set():
        raise MidexError(f"$sex_value:{sex}: {sex} is not a code of the sex codelist")
    return _entry("INDICATOR", sql_literal(sex))


def _reference(ref: str, schema: Schema, params: dict[str, Any]) -> Any:
    kind, _, name = ref[1:].partition(":")
    if kind == "codelist":
        return codelist_codes(name, schema)
    if kind == "observation" and name == "columns":
        return [c.name for c in schema.observation_columns]
    if kind == "observation" and name == "series_key":
        return list(schema.series_key)
    if kind == "indicators":  # an indicator attribute, or an attribute of its unit
        return [
            c.code
            for c in schema.indicators.codes
            if c.attrs.get(name) or schema.units.get(str(c.attrs["unit"])).attrs.get(name)
        ]
    if kind == "param" and name in params:
        return params[name]
    raise MidexError(f"unknown reference {ref!r} in an expectations/ suite")


def _sql_reference(ref: str, schema: Schema, params: dict[str, Any]) -> str:
    kind, _, name = ref[1:].partition(":")
    if kind == "indicator_value":
        return _indicator_case(name, schema)
    if kind == "coherence" and name == "values":
        return _coherence_values(schema)
    if kind == "ratios" and name == "expected":
        return _ratios_expected(schema)
    if kind == "periods" and name == "previous":
        return f"({periods.PREVIOUS_PERIOD_SQL})"
    if kind == "sex_value" and name in schema.sex.code_set():
        return _sex_value(name, schema)
    value = _reference(ref, schema, params)
    return _sql_list(value) if isinstance(value, list) else sql_literal(value)


def _expand(value: Any, schema: Schema, params: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return _reference(value, schema, params)
    if isinstance(value, dict):
        return {k: _expand(v, schema, params) for k, v in value.items()}
    return value


def load_suite(path: Path, schema: Schema) -> Suite:
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MidexError(f"cannot read suite {path}: {exc}") from exc
    params = dict(doc.get("params") or {})
    joins = {str(k): str(v) for k, v in (doc.get("codelist_joins") or {}).items()}
    derive: dict[str, str] = {}
    for name, e in (doc.get("derive") or {}).items():
        if re.search(r"\$(sex_value|ratios):", str(e)) and COHERENCE_COLUMN not in derive:
            raise MidexError(
                f"{path}: derive {name} uses the coherence entries; derive "
                f'{COHERENCE_COLUMN}: "$coherence:values" before it'
            )
        derive[name] = _REF.sub(lambda m: _sql_reference(m.group(0), schema, params), str(e))
    expectations: list[SuiteExpectation] = []
    for entry in doc["expectations"]:
        rule = entry["rule"]
        if rule not in rules.TEMPLATES:
            raise MidexError(f"{path}: rule {rule} has no message in midex/rules.py; add one")
        severity = entry.get("severity", "error")
        if severity not in ("error", "warning"):
            raise MidexError(f"{path}: rule {rule}: severity must be error or warning")
        base = _expand(entry.get("kwargs") or {}, schema, params)
        per_column = entry.get("for_each_column")
        suffix = entry.get("column_suffix", "")
        targets: list[tuple[dict[str, Any], str | None]]
        if per_column is None:
            targets = [(base, entry.get("report_column", base.get("column")))]
        else:
            targets = [({"column": f"{c}{suffix}", **base}, c) for c in per_column]
        fields = {
            k: _expand(v, schema, params) if str(v).startswith("$param:") else v
            for k, v in (entry.get("fields") or {}).items()
        }
        for kwargs, report in targets:
            expectations.append(
                SuiteExpectation(rule, severity, entry["type"], kwargs, report, fields)
            )
    return Suite(doc["suite"], params, joins, derive, tuple(expectations))


def gx_expectation(gx: Any, type_: str, kwargs: dict[str, Any], index: int, where: str) -> Any:
    """A Great Expectations expectation from a suite file's `type` (snake case) and kwargs,
    with its position in the suite in meta["index"]."""
    class_name = "".join(part.capitalize() for part in type_.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        raise MidexError(f"{where}: unknown expectation type {type_}")
    return cls(**kwargs, meta={"index": index})


def _gx_expectation(gx: Any, exp: SuiteExpectation, index: int) -> Any:
    return gx_expectation(gx, exp.type, exp.kwargs, index, f"suite rule {exp.rule}")


def series_key_text(values: list[Any]) -> str | None:
    if any(v is None for v in values):
        return None
    return ".".join(str(v) for v in values)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def finding_for(exp: SuiteExpectation, row: dict[str, Any], schema: Schema) -> Finding:
    """The finding for one failing row (a dict of the row's columns), as both paths build it."""
    report = exp.report_column
    if report == "OBS_VALUE":
        value = row.get("SOURCE_VALUE")
    elif report is not None:
        value = row.get(report)
    else:
        value = None
    text = None if value is None else str(value)
    values: dict[str, Any] = {
        "column": report,
        "value": text,
        "indicator": row.get("INDICATOR"),
        "fix": rules.fix(exp.rule, report or ""),
    }
    for name, source in exp.fields.items():
        values[name] = _plain(row.get(source)) if isinstance(source, str) else source
    return Finding(
        severity=exp.severity,
        rule=exp.rule,
        row=row.get("SOURCE_ROW"),
        sheet=row.get("SOURCE_SHEET"),
        column=rules.cell_column(report, row.get("SOURCE_COLUMN")),
        value=text,
        series_key=series_key_text([row.get(k) for k in schema.series_key]),
        message=rules.message(exp.rule, **values),
    )


def import_in_background() -> None:
    """Start importing Great Expectations (6 s of pure Python) in a thread, so that it overlaps
    the Spark work that comes before validation instead of adding to it. Idempotent."""
    if "great_expectations" in sys.modules or any(
        t.name == "midex-import-gx" for t in threading.enumerate()
    ):
        return

    def load() -> None:
        try:
            import great_expectations  # noqa: F401
        except Exception:  # the import that needs it reports the error
            log.debug("importing Great Expectations in the background failed", exc_info=True)

    threading.Thread(target=load, name="midex-import-gx", daemon=True).start()


def prepare(
    df: DataFrame, suite: Suite, schema: Schema, context: DataFrame | None = None
) -> DataFrame:
    """The submissions' rows with every derived column of the suite (one Spark plan).

    `df` may hold several submissions (SUBMISSION_ID): every window of the suite partitions by
    it, so rules never compare rows of different submissions.
    `context`: observations from the lake (resolved) that may supply the previous period; for
    each submission, the rows of its areas and indicators whose series key it does not have
    itself (and that are not its own earlier values); they are dropped after deriving."""
    from pyspark.sql import functions as F

    spark = df.sparkSession
    key = list(schema.series_key)
    if SUBMISSION_COLUMN not in df.columns:
        df = df.withColumn(SUBMISSION_COLUMN, F.lit(0).cast("long"))
    # Only the columns the rules read travel through the shuffle, the sorts and the cache.
    needed = {*key, SUBMISSION_COLUMN, "OBS_VALUE", *CELL_AND_TEXT, *suite.codelist_joins}
    needed |= {str(e.kwargs["column"]) for e in suite.expectations if "column" in e.kwargs}
    df = df.select(*[c for c in df.columns if c in needed])
    df = df.withColumn(CONTEXT_COLUMN, F.lit(False))
    if context is not None:
        pairs = df.select(
            F.col(SUBMISSION_COLUMN).alias("_FOR"), "REF_AREA", "INDICATOR"
        ).distinct()
        ctx_rows = (
            context.select(*key, "OBS_VALUE", F.col(SUBMISSION_COLUMN).alias("_FROM"))
            .join(F.broadcast(pairs), ["REF_AREA", "INDICATOR"])
            .where(F.col("_FROM") != F.col("_FOR"))
            .select(*key, "OBS_VALUE", F.col("_FOR").alias(SUBMISSION_COLUMN))
            .join(df.select(SUBMISSION_COLUMN, *key), [SUBMISSION_COLUMN, *key], "left_anti")
            .withColumn(CONTEXT_COLUMN, F.lit(True))
        )
        df = df.unionByName(ctx_rows, allowMissingColumns=True)
    # One small frame of every code with the codelists it belongs to, broadcast once and joined
    # once per coded column (Spark reuses the same broadcast for every join).
    lists: dict[str, list[str]] = {}
    for name in sorted(set(suite.codelist_joins.values())):
        for code in codelist_codes(name, schema):
            lists.setdefault(code, []).append(name)
    # Written out as SQL literals, as the suite's $codelist lists are (the codes come from the
    # schema files, quoted by sql_literal): local_frame binds each value as a parameter, one
    # round trip to the JVM each (0.6 s for these ~300 rows, at every validation).
    rows = ", ".join(
        f"({sql_literal(code)}, array({_sql_list(names)}))" for code, names in sorted(lists.items())
    )
    codes = spark.sql(f"SELECT * FROM VALUES {rows or '(NULL, NULL)'} AS codes(CODE, LISTS)")
    coded = []
    for i, (column, codelist) in enumerate(suite.codelist_joins.items()):
        found = codes.select(F.col("CODE").alias(f"_CODE{i}"), F.col("LISTS").alias(f"_LISTS{i}"))
        df = df.join(F.broadcast(found), df[column] == F.col(f"_CODE{i}"), "left")
        coded.append(
            F.when(F.array_contains(f"_LISTS{i}", codelist), F.col(f"_CODE{i}")).alias(
                f"CL_{column}"
            )
        )
    df = df.select(*[c for c in df.columns if not c.startswith(("_CODE", "_LISTS"))], *coded)
    # Columns computed row by row go before the shuffle, so that what only they read (the CL_
    # codes) is pruned there; the windows come after it. One shuffle for every window of the
    # suite: they all partition by these (and more). Each step adds at once the columns that
    # read only earlier ones: one plan analysis per step rather than one per column.
    windowed = windowed_columns(suite.derive)
    steps = derive_steps(suite.derive)
    for step in steps:
        df = df.withColumns({n: F.expr(e) for n, e in step.items() if n not in windowed})
    df = df.repartition(SUBMISSION_COLUMN, "REF_AREA")
    for step in steps:
        df = df.withColumns({n: F.expr(e) for n, e in step.items() if n in windowed})
    # Only what the expectations check and the findings name travels on into the sorts' output
    # and the cache (Spark prunes the rest, the CL_ codes and window helpers, where it can).
    kept = {*key, SUBMISSION_COLUMN, *CELL_AND_TEXT}
    for exp in suite.expectations:
        kept |= {str(exp.kwargs["column"])} if "column" in exp.kwargs else set()
        kept |= exp.field_columns
    df = df.where(~F.col(CONTEXT_COLUMN))
    return df.select(*[c for c in df.columns if c in kept])


def _reads(expression: str, column: str) -> bool:
    return re.search(rf"\b{re.escape(column)}\b", expression) is not None


def derive_steps(derive: dict[str, str]) -> list[dict[str, str]]:
    """The derived columns in steps: a column goes in the step after the last one holding a
    column it reads (suite order), so each step's expressions read only what came before."""
    level: dict[str, int] = {}
    for name, expression in derive.items():
        level[name] = 1 + max((level[c] for c in level if _reads(expression, c)), default=-1)
    steps: list[dict[str, str]] = [{} for _ in range(max(level.values(), default=-1) + 1)]
    for name, expression in derive.items():
        steps[level[name]][name] = expression
    return steps


def windowed_columns(derive: dict[str, str]) -> set[str]:
    """The derived columns that need a window: those whose expression has one (OVER) or reads
    such a column. The others are computed row by row, wherever in the plan."""
    windowed: set[str] = set()
    for name, expression in derive.items():
        if re.search(r"\bOVER\s*\(", expression, re.IGNORECASE) or any(
            _reads(expression, w) for w in windowed
        ):
            windowed.add(name)
    return windowed


def run_suite(
    df: DataFrame, suite: Suite, schema: Schema, context: DataFrame | None = None
) -> list[Finding]:
    """Validate `df` (one submission's harmonised rows) and return every failing row as a Finding."""
    found = run_suite_by_submission(df, suite, schema, context)
    return [f for findings in found.values() for f in findings]


def _gx_suite(gx: Any, suite: Suite, indexes: list[int], name: str) -> Any:
    """A GX suite of the suite file's expectations at `indexes`, each carrying its index."""
    gx_suite = gx.ExpectationSuite(name=name)
    for i in indexes:
        gx_suite.add_expectation(_gx_expectation(gx, suite.expectations[i], i))
    return gx_suite


def _spark_asset(gx: Any, suite: Suite) -> Any:
    """A dataframe asset for `suite` in an ephemeral GX context (no progress bars)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context_gx = gx.get_context(mode="ephemeral")
    context_gx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context_gx.data_sources.add_spark("midex").add_dataframe_asset(suite.name)


def _failing_table_expectations(
    gx: Any, asset: Any, suite: Suite, df: DataFrame, table_level: list[int]
) -> list[SuiteExpectation]:
    """The table-level expectations (the columns present) that fail on the submissions' own
    frame; they need its schema only, no pass over the rows."""
    whole = asset.add_batch_definition_whole_dataframe("columns").get_batch(
        batch_parameters={"dataframe": df}
    )
    gx_suite = _gx_suite(gx, suite, table_level, f"{suite.name}_table")
    failing = []
    for res in whole.validate(gx_suite, result_format="BOOLEAN_ONLY").results:
        exp = suite.expectations[int(res.expectation_config.meta["index"])]
        _raise_if_broken(res, exp)
        if not res.success:
            failing.append(exp)
    return failing


def _failing_expectations(gx: Any, batch: Any, suite: Suite, indexes: list[int]) -> list[int]:
    """Pass 1: the indexes of the expectations that do not hold (counts only, aggregates
    bundled)."""
    summary = batch.validate(
        _gx_suite(gx, suite, indexes, suite.name), result_format={"result_format": "BOOLEAN_ONLY"}
    )
    failed: list[int] = []
    for res in summary.results:
        index = int(res.expectation_config.meta["index"])
        _raise_if_broken(res, suite.expectations[index])
        if not res.success:
            failed.append(index)
    return failed


def _failing_rows(gx: Any, batch: Any, suite: Suite, schema: Schema, failed: list[int]) -> Any:
    """Pass 2: the results naming every failing row, for the failed expectations only."""
    needed = {
        *CELL_AND_TEXT,
        SUBMISSION_COLUMN,
        *schema.series_key,
        *(c for i in failed for c in suite.expectations[i].field_columns),
    }
    return batch.validate(
        _gx_suite(gx, suite, failed, suite.name),
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": sorted(needed),
            "return_unexpected_index_query": False,
        },
    ).results


def _to_all(found: dict[int, list[Finding]], everyone: list[int], finding: Finding) -> None:
    for sid in everyone:
        found.setdefault(sid, []).append(finding)


def _add_row_findings(
    found: dict[int, list[Finding]],
    results: Any,
    suite: Suite,
    schema: Schema,
    everyone: list[int],
) -> None:
    """A finding per failing row, to its submission; a rule that failed without rows to name
    gives one finding for the whole file, to every submission."""
    for res in results:
        exp = suite.expectations[int(res.expectation_config.meta["index"])]
        _raise_if_broken(res, exp)
        if res.success:
            continue
        rows = res.result.get("unexpected_index_list")
        if not rows:
            _to_all(found, everyone, _file_finding(exp))
            continue
        for row in rows:
            sid = row.get(SUBMISSION_COLUMN)
            sid = everyone[0] if sid is None else int(sid)
            found.setdefault(sid, []).append(finding_for(exp, row, schema))


def run_suite_by_submission(
    df: DataFrame,
    suite: Suite,
    schema: Schema,
    context: DataFrame | None = None,
    submissions: list[int] | None = None,
) -> dict[int, list[Finding]]:
    """Validate `df` (the harmonised rows of one or more submissions, SUBMISSION_ID) and return
    every failing row as a Finding, by submission. A finding about the whole frame (a missing
    column) goes to every submission of `submissions`."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    prepared = prepare(df, suite, schema, context).cache()
    everyone = list(submissions or [0])
    found: dict[int, list[Finding]] = {}
    try:
        asset = _spark_asset(gx, suite)
        batch = asset.add_batch_definition_whole_dataframe("submission").get_batch(
            batch_parameters={"dataframe": prepared}
        )
        table_level = [i for i, e in enumerate(suite.expectations) if "column" not in e.kwargs]
        if table_level:
            for exp in _failing_table_expectations(gx, asset, suite, df, table_level):
                _to_all(found, everyone, _file_finding(exp))
        column_level = [i for i in range(len(suite.expectations)) if i not in table_level]
        failed = _failing_expectations(gx, batch, suite, column_level)
        if not failed:
            return found
        results = _failing_rows(gx, batch, suite, schema, failed)
    finally:
        prepared.unpersist()
    _add_row_findings(found, results, suite, schema, everyone)
    return found


def _file_finding(exp: SuiteExpectation) -> Finding:
    """A finding about the whole file (a rule that failed without rows to name)."""
    message = rules.message(exp.rule, column=exp.report_column)
    return Finding(exp.severity, exp.rule, None, None, exp.report_column, None, None, message)


def broken(res: Any) -> str | None:
    """Why a rule could not be evaluated (its error message), or None when it ran.

    GX 1.x gives exception_info either flat ({"raised_exception": …}) or keyed by metric
    ({metric_id: {"raised_exception": …}}); both are checked."""
    info = res.exception_info or {}
    entries = [info, *(v for v in info.values() if isinstance(v, dict))]
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None


def _raise_if_broken(res: Any, exp: SuiteExpectation) -> None:
    """A rule that could not be evaluated is an internal failure, never a finding."""
    reason = broken(res)
    if reason is not None:
        raise RuntimeError(f"validation rule {exp.rule} could not run: {reason}")


def quarantine_findings(quarantine: DataFrame, by_submission: bool = False) -> Any:
    """Every problem of every quarantined row, as an error finding (a list; by submission id,
    a dict of lists)."""
    from pyspark.sql import functions as F

    rows = quarantine.select(
        "SUBMISSION_ID",
        *CELL_LINEAGE,
        F.explode("PROBLEMS").alias("p"),
    ).collect()
    found: dict[int, list[Finding]] = {}
    for r in rows:
        found.setdefault(int(r.SUBMISSION_ID), []).append(
            Finding(
                severity="error",
                rule=r.p.rule,
                row=r.SOURCE_ROW,
                sheet=r.SOURCE_SHEET,
                column=rules.cell_column(r.p.column, r.SOURCE_COLUMN),
                value=r.p.value,
                series_key=None,
                message=r.p.message,
            )
        )
    return found if by_submission else [f for fs in found.values() for f in fs]


def flag_warnings(harmonised: DataFrame, findings: list[Finding], schema: Schema) -> DataFrame:
    """The harmonised rows with VALIDATION_FLAGS: the warning rules each row's value raised.

    Only an accepted submission is flagged, and its series keys are unique, so the key finds the
    row."""
    from pyspark.sql import functions as F

    flags: dict[str, set[str]] = {}
    for f in findings:
        if f.severity == "warning" and f.series_key is not None:
            flags.setdefault(f.series_key, set()).add(f.rule)
    spark = harmonised.sparkSession
    table = spark.createDataFrame(
        [(k, sorted(v)) for k, v in sorted(flags.items())] or [("", [])],
        "FLAG_KEY string, FLAGS array<string>",
    )
    base = harmonised.drop(FLAGS_COLUMN) if FLAGS_COLUMN in harmonised.columns else harmonised
    return (
        base.join(
            F.broadcast(table),
            F.concat_ws(".", *[F.col(k) for k in schema.series_key]) == F.col("FLAG_KEY"),
            "left",
        )
        .withColumn(FLAGS_COLUMN, F.col("FLAGS"))
        .drop("FLAG_KEY", "FLAGS")
    )
