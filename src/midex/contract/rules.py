"""The rules a submission is checked against: their names and the messages providers read.

One place for every message template, used by both paths that check a file:
- on the server, harmonisation (Spark, `spark_message`) and the Great Expectations suite
  (midex.quality.validate, `message`);
- offline, `midex check` (midex.cli.commands.check, `message`), which needs neither Spark nor lake.

A template names its fields (`{value}`, `{indicator}` …); both paths fill the same fields with
the same formatting (`number`), so a rule gives the same message wherever it runs.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column

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
    "bad_period": "TIME_PERIOD '{value}' is not a period; write YYYY, YYYY-Qn or YYYY-MM",
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


def spark_message(rule: str, **values: Column | str) -> Column:
    """The same message as a Spark column (string fields only; pass literals or columns)."""
    from pyspark.sql import functions as F

    template = TEMPLATES[rule]
    printf = re.sub(r"{(\w+)}", "%s", template.replace("%", "%%"))
    args = [values[name] for name in fields(rule)]
    return F.format_string(printf, *[a if not isinstance(a, str) else F.lit(a) for a in args])


def cell_column(column: str | None, source_column: str | None) -> str | None:
    """The column a provider sees: for a value, the sheet's column (e.g. a year) when the format
    has one (wide files); otherwise the template column the rule is about."""
    if column == "OBS_VALUE" and source_column:
        return source_column
    return column
