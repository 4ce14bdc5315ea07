"""TIME_PERIOD's grammar, in one place: regular expressions that Spark (Java) and Python read
alike, for the Spark plan (transforms.harmonise), the offline checker and the service's filters.

Accepted: YYYY, YYYY-Qn (also YYYYQn), YYYY-MM (also YYYYMmm), and a spreadsheet's 2019.0.
Canonical: YYYY, YYYY-Qn, YYYY-MM.
"""

from __future__ import annotations

import re

WRITE = "YYYY, YYYY-Qn or YYYY-MM"  # how to write a period, for messages
YEAR = r"^\d{4}$"
YEAR_FLOAT = r"^\d{4}\.0+$"  # a year a spreadsheet stored as a number
QUARTER = r"^(\d{4})-?Q([1-4])$"
MONTH = r"^(\d{4})(?:-|M)(0[1-9]|1[0-2])$"
CANONICAL = r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"

_YEAR, _YEAR_FLOAT = re.compile(YEAR), re.compile(YEAR_FLOAT)
_QUARTER, _MONTH, _CANONICAL = re.compile(QUARTER), re.compile(MONTH), re.compile(CANONICAL)


def normalise_period(value: str | None) -> str | None:
    """An accepted period in its canonical form; None if it is not one."""
    if value is None:
        return None
    v = value.strip(" ").upper()
    if _YEAR.match(v):
        return v
    if _YEAR_FLOAT.match(v):
        return v[:4]
    if m := _QUARTER.match(v):
        return f"{m.group(1)}-Q{m.group(2)}"
    if m := _MONTH.match(v):
        return f"{m.group(1)}-{m.group(2)}"
    return None


def is_canonical(value: str) -> bool:
    return _CANONICAL.match(value) is not None


# previous_period as Spark SQL over the column TIME_PERIOD (canonical periods), for the
# validation suite's change-from-the-previous-period rule ("$periods:previous" in
# expectations/harmonised.yaml); a test holds the two to the same answers
PREVIOUS_PERIOD_SQL = (
    "CASE WHEN length(TIME_PERIOD) = 4 THEN cast(cast(TIME_PERIOD AS int) - 1 AS string) "
    "WHEN substr(TIME_PERIOD, 6, 1) = 'Q' THEN "
    "CASE WHEN substr(TIME_PERIOD, 7, 1) = '1' "
    "THEN concat(cast(cast(substr(TIME_PERIOD, 1, 4) AS int) - 1 AS string), '-Q4') "
    "ELSE concat(substr(TIME_PERIOD, 1, 6), "
    "cast(cast(substr(TIME_PERIOD, 7, 1) AS int) - 1 AS string)) END "
    "ELSE date_format(add_months(to_date(concat(TIME_PERIOD, '-01')), -1), 'yyyy-MM') END"
)


def previous_period(period: str) -> str:
    """The period before a canonical period: 2020 -> 2019, 2020-Q1 -> 2019-Q4, 2020-01 -> 2019-12."""
    year = int(period[:4])
    if len(period) == 4:
        return str(year - 1)
    if period[5] == "Q":
        q = int(period[6])
        return f"{year - 1}-Q4" if q == 1 else f"{year}-Q{q - 1}"
    month = int(period[5:7])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
