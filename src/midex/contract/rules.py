"""The rules a submission is checked against, each declared once: its name, the message
providers read and, for harmonisation's problems, its condition.

Two kinds of rule, one declaration each:
- harmonisation's problems (`PROBLEMS`, below): a row that has one is quarantined. Each names the
  template column it is about, its condition and its message fields, as Spark SQL over the
  harmonisation frame (`FRAME_COLUMNS`);
- validation's rules: the suites in expectations/ (rule, severity, the columns, the condition as a
  Great Expectations expectation, the message fields).

Both are evaluated by two engines generated from these declarations, so they cannot drift: on
the server by Spark (midex.transforms.harmonise, Great Expectations in midex.quality.validate),
offline by `midex check` (midex.quality.offline: the same SQL, translated for DuckDB). Every
message template lives here; both engines fill the same fields with the same formatting
(`number`), so a rule gives the same message wherever it runs.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from midex.contract import periods
from midex.contract.areas import NOT_APPLICABLE
from midex.contract.schema import LCU, UNIT_MULT_RANGE

# Parsing and mapping problems (harmonisation quarantines the row) and validation rules (the
# suites in expectations/ name these rules; their severity is set there).
TEMPLATES: dict[str, str] = {
    # parsing and mapping
    "file_unreadable": "{reason}",
    "required_value": "{column} is empty; {fix}",
    "unknown_area": "unknown country '{value}'",
    "unknown_indicator": (
        "unknown indicator '{value}'; use a code from the template's INDICATOR list "
        "(canonical codes or WDI/SDG aliases)"
    ),
    "not_bilateral": "{indicator} is not a bilateral indicator; leave COUNTERPART_AREA blank",
    "unknown_code": "unknown {column} '{value}'; {fix}",
    "bad_period": "TIME_PERIOD '{value}' is not a period; write " + periods.WRITE,
    "bad_number": (
        "OBS_VALUE '{value}' is not a number; write digits with a point for decimals, "
        "no thousands separators, or leave blank if missing"
    ),
    "bad_unit_mult": "UNIT_MULT '{value}' is not a power of ten such as 0, 3, 6 or 9",
    "unknown_unit": "unknown UNIT_MEASURE '{value}'; leave blank for the indicator's unit",
    "unit_mismatch": (
        "{indicator} is measured in {unit}, not {given}; "
        "convert the value or leave UNIT_MEASURE blank"
    ),
    "no_exchange_rate": (
        "no exchange rate for {area} {period} to convert this local-currency value to US "
        "dollars; the row is converted when an agency's EXCHANGE_RATE for that area and period "
        "is accepted (`midex reprocess`), or submit the value in USD"
    ),
    "area_out_of_scope": (
        "provider {provider} may only report {areas}, not {area}; "
        "remove the row or ask an agency to submit it"
    ),
    # structure
    "required_columns": (
        "the harmonised table lacks columns of the common schema (an internal error; report it)"
    ),
    "code_in_codelist": (
        "{column} '{value}' is not in the {column} codelist; use a code from the template"
    ),
    "series_key_unique": (
        "the same series (country, partner, indicator, sex, age, period) appears on more than "
        "one row; keep one"
    ),
    # values
    "value_not_negative": (
        "'{value}' is negative, but {indicator} counts persons or money and cannot be; "
        "check the sign"
    ),
    "value_not_positive": (
        "'{value}' is not above zero, but {indicator} must be; check the value and its sign"
    ),
    "percentage_out_of_range": (
        "'{value}' is not between 0 and 100, but {indicator} is a percentage; "
        "give it in percent (2.5 for 2.5%, not 0.025)"
    ),
    # coherence
    "sex_breakdown": (
        "the total {total} is not male {male} + female {female} = {sum} (relative tolerance "
        "{tolerance}); correct the total or one of the two rows"
    ),
    "partner_breakdown": (
        "the total over all partners {total} is not the sum of the {partners} partner rows of "
        "the same submission, {sum} (relative tolerance {tolerance}); if the file lists only some "
        "partners this is expected, otherwise correct the total or a partner row (a residual "
        "such as 'Other South' or 'Unknown' is a partner too)"
    ),
    "ratio_coherence": (
        "{indicator} '{value}' disagrees with {numerator} / {denominator} in the same "
        "submission, which gives {expected}; check the ratio or its components"
    ),
    # time series
    "change_from_previous": (
        "the value {current} is {factor} times the value for {previous_period} ({previous}), "
        "beyond the ×{limit} expected for {indicator}; check it, or explain it in COMMENT"
    ),
}

# What to do, per column, for rules whose advice depends on the column.
FIXES: dict[str, dict[str, str]] = {
    "required_value": {
        "REF_AREA": "give the reporting country as an ISO3 code",
        "INDICATOR": "give a code from the template's INDICATOR list",
    },
    "unknown_code": {
        "SEX": "use _T (total), M or F",
        "AGE": "use _T or an SDMX age range such as Y15T64",
        "OBS_STATUS": "use A, E, P, B, F, I or M (or leave blank)",
    },
}


def fix(rule: str, column: str) -> str:
    return FIXES.get(rule, {}).get(column, "fill it in")


def fields(rule: str) -> list[str]:
    return re.findall(r"{(\w+)}", TEMPLATES[rule])


def number(value: Any) -> str:
    """A number as messages show it: integers with thousands separators, else up to 4 decimals."""
    if value is None:
        return ""
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == int(x) and abs(x) < 1e18:
        return f"{int(x):,}"
    text = f"{x:,.4f}".rstrip("0").rstrip(".")
    return text if text not in ("0", "-0") else f"{x:.3g}"


def message(rule: str, **values: Any) -> str:
    """The message of `rule`; floats are shown with `number`, None as an empty string."""
    if "fix" in fields(rule) and "fix" not in values:
        values["fix"] = fix(rule, str(values.get("column") or ""))
    shown = {
        k: (number(v) if isinstance(v, float) else "" if v is None else str(v))
        for k, v in values.items()
    }
    # a field the caller could not know (a file-level finding has no value) shows as empty
    return TEMPLATES[rule].format_map(defaultdict(str, shown))


def cell_column(column: str | None, source_column: str | None) -> str | None:
    """The column a provider sees: for a value, the sheet's column (e.g. a year) when the format
    has one (wide files); otherwise the template column the rule is about."""
    if column == "OBS_VALUE" and source_column:
        return source_column
    return column


# --- harmonisation's problems ---------------------------------------------------------------

# The harmonisation frame: what a problem's condition and fields may read. Each engine builds it
# its own way (Spark joins; pyarrow lookups per distinct value offline) and a parity test holds
# them to the same values; the problems themselves are written once, here.
FRAME_COLUMNS: dict[str, str] = {
    # the template columns, as submitted (strings)
    "REF_AREA": "as submitted",
    "COUNTERPART_AREA": "as submitted",
    "INDICATOR": "as submitted",
    "SEX": "as submitted",
    "AGE": "as submitted",
    "TIME_PERIOD": "as submitted",
    "OBS_VALUE": "as submitted",
    "UNIT_MEASURE": "as submitted",
    "UNIT_MULT": "as submitted",
    "OBS_STATUS": "as submitted",
    # the code lookups (null: not found)
    "RA_ISO3": "REF_AREA's ISO3 code",
    "RA_PROBLEM": "why REF_AREA is not a country, in the area list's words",
    "CA_ISO3": "COUNTERPART_AREA's ISO3 code",
    "CA_PROBLEM": "why COUNTERPART_AREA is not a country",
    "IND_INDICATOR": "the canonical indicator code",
    "IND_CANONICAL_UNIT": "the indicator's unit",
    "IND_BILATERAL": "whether the indicator has partners",
    "UNIT_CODE": "UNIT_MEASURE's code",
    "SEX_CODE": "SEX's code (blank: the default)",
    "AGE_CODE": "AGE's code (blank: the default)",
    "ST_CODE": "OBS_STATUS's code (blank: M for a missing value, else the default)",
    # the parsed values
    "_VALUE": "OBS_VALUE trimmed, blank as null",
    "_MISSING": "OBS_VALUE is blank or a missing-value marker",
    "_NUMBER": "OBS_VALUE as a number (null when it is not one)",
    "_MULT": "UNIT_MULT as an integer, blank as 0 (null when it is not one)",
    "_PERIOD": "TIME_PERIOD in its canonical form (null when it is not a period)",
    # the submission
    "CTX_PROVIDER": "the provider's code",
    "CTX_ALLOWED": "the areas a national provider may report (empty: any)",
    "CTX_ALLOWED_TEXT": "the same, as text",
    # the lake: known on the server only, so problems that read them are not checked offline
    "FX_RATE": "the accepted exchange rate (LCU per USD) for the row's area and period",
}
SERVER_ONLY = frozenset({"FX_RATE"})


def check_frame(columns: Iterable[str], engine: str, server: bool) -> None:
    """Each engine's frame holds every column of FRAME_COLUMNS (offline: but SERVER_ONLY), so a
    problem written over the declaration reads the same columns in both: a column added to one
    engine and not the other fails here, on the first row checked, not in a parity test."""
    wanted = set(FRAME_COLUMNS) if server else set(FRAME_COLUMNS) - SERVER_ONLY
    missing = sorted(wanted - set(columns))
    if missing:
        raise RuntimeError(
            f"the {engine} harmonisation frame lacks {', '.join(missing)} "
            "(midex.contract.rules.FRAME_COLUMNS): build them in both engines"
        )


@dataclass(frozen=True)
class Problem:
    """A harmonisation problem: `when` (Spark SQL over FRAME_COLUMNS) holds for a row that has it;
    the finding names `column` and its value as submitted, and the message fills the rule's
    template from `fields` (field -> Spark SQL). `message_column`: a column holding the whole
    message when it is not null (the area list's own explanation). `scoped`: only checked for
    providers limited to their own areas."""

    rule: str
    column: str
    when: str
    fields: dict[str, str] = field(default_factory=dict)
    message_column: str | None = None
    scoped: bool = False

    def message_fields(self) -> dict[str, str]:
        """Every field of the template as Spark SQL: `column` and `fix` are literals."""
        given = {"column": _sql_text(self.column), "fix": _sql_text(fix(self.rule, self.column))}
        given.update(self.fields)
        return {name: given[name] for name in fields(self.rule)}


def _sql_text(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _given(column: str) -> str:
    return f"nullif(trim({column}), '') IS NOT NULL"


def _blank(column: str) -> str:
    return f"nullif(trim({column}), '') IS NULL"


# a value in local currency for a US-dollar indicator: converted with an exchange rate (both
# engines read this condition: the quarantine rules below, harmonisation's output, the checker's)
IN_LCU = f"UNIT_CODE = '{LCU}' AND IND_CANONICAL_UNIT = 'USD'"

# In the order a row's problems are listed.
PROBLEMS: tuple[Problem, ...] = (
    Problem("required_value", "REF_AREA", _blank("REF_AREA")),
    Problem(
        "unknown_area",
        "REF_AREA",
        f"{_given('REF_AREA')} AND RA_ISO3 IS NULL",
        {"value": "trim(REF_AREA)"},
        message_column="RA_PROBLEM",
    ),
    Problem(
        "unknown_area",
        "COUNTERPART_AREA",
        f"{_given('COUNTERPART_AREA')} AND CA_ISO3 IS NULL",
        {"value": "trim(COUNTERPART_AREA)"},
        message_column="CA_PROBLEM",
    ),
    Problem("required_value", "INDICATOR", _blank("INDICATOR")),
    Problem(
        "unknown_indicator",
        "INDICATOR",
        f"{_given('INDICATOR')} AND IND_INDICATOR IS NULL",
        {"value": "trim(INDICATOR)"},
    ),
    Problem(
        "not_bilateral",
        "COUNTERPART_AREA",
        f"{_given('COUNTERPART_AREA')} AND coalesce(CA_ISO3, '{NOT_APPLICABLE}') "
        f"<> '{NOT_APPLICABLE}' AND IND_BILATERAL = false",
        {"indicator": "IND_INDICATOR"},
    ),
    *(
        Problem("unknown_code", column, f"{code} IS NULL", {"value": f"trim({column})"})
        for code, column in (("SEX_CODE", "SEX"), ("AGE_CODE", "AGE"), ("ST_CODE", "OBS_STATUS"))
    ),
    Problem(
        "bad_period", "TIME_PERIOD", "_PERIOD IS NULL", {"value": "coalesce(trim(TIME_PERIOD), '')"}
    ),
    Problem(
        "bad_number",
        "OBS_VALUE",
        "NOT _MISSING AND (_NUMBER IS NULL OR isnan(_NUMBER) "
        "OR abs(_NUMBER) = CAST('Infinity' AS DOUBLE))",
        {"value": "_VALUE"},
    ),
    Problem(
        "bad_unit_mult",
        "UNIT_MULT",
        f"_MULT IS NULL OR _MULT < {UNIT_MULT_RANGE[0]} OR _MULT > {UNIT_MULT_RANGE[1]}",
        {"value": "coalesce(nullif(trim(UNIT_MULT), ''), '0')"},
    ),
    Problem(
        "unknown_unit",
        "UNIT_MEASURE",
        f"{_given('UNIT_MEASURE')} AND UNIT_CODE IS NULL",
        {"value": "trim(UNIT_MEASURE)"},
    ),
    Problem(
        "unit_mismatch",
        "UNIT_MEASURE",
        f"{_given('UNIT_MEASURE')} AND UNIT_CODE IS NOT NULL AND IND_CANONICAL_UNIT IS NOT NULL "
        f"AND UNIT_CODE <> IND_CANONICAL_UNIT AND NOT ({IN_LCU})",
        {"indicator": "IND_INDICATOR", "unit": "IND_CANONICAL_UNIT", "given": "UNIT_CODE"},
    ),
    Problem(
        "no_exchange_rate",
        "UNIT_MEASURE",
        f"{IN_LCU} AND NOT _MISSING AND FX_RATE IS NULL AND RA_ISO3 IS NOT NULL "
        "AND _PERIOD IS NOT NULL",
        {"area": "RA_ISO3", "period": "_PERIOD"},
    ),
    Problem(
        "area_out_of_scope",
        "REF_AREA",
        "RA_ISO3 IS NOT NULL AND size(CTX_ALLOWED) > 0 AND NOT array_contains(CTX_ALLOWED, RA_ISO3)",
        {"provider": "CTX_PROVIDER", "areas": "CTX_ALLOWED_TEXT", "area": "RA_ISO3"},
        scoped=True,
    ),
)

# The observation a row without a problem becomes: each value column as Spark SQL over the frame,
# evaluated by both engines (Spark on the server, DuckDB offline, where FX_RATE is null: a value
# in local currency is converted on the server only). Lineage and the submission's own columns
# are each engine's.
_SCALED = "_NUMBER * power(10.0, _MULT)"
OBSERVATION_SQL: dict[str, str] = {
    "REF_AREA": "RA_ISO3",
    "COUNTERPART_AREA": f"coalesce(CA_ISO3, '{NOT_APPLICABLE}')",
    "INDICATOR": "IND_INDICATOR",
    "SEX": "SEX_CODE",
    "AGE": "AGE_CODE",
    "TIME_PERIOD": "_PERIOD",
    "OBS_VALUE": (
        f"CASE WHEN _MISSING THEN CAST(NULL AS DOUBLE) WHEN {IN_LCU} THEN {_SCALED} / FX_RATE "
        f"ELSE {_SCALED} END"
    ),
    "UNIT_MEASURE": (
        f"CASE WHEN {IN_LCU} THEN IND_CANONICAL_UNIT ELSE coalesce(UNIT_CODE, IND_CANONICAL_UNIT) END"
    ),
    "OBS_STATUS": "ST_CODE",
}
