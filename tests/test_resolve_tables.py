"""Resolution and the remittances_gdp formula on hand-computed inputs."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from midex.contract.resolution import load_rules
from midex.contract.schema import load_schema
from midex.transforms.resolve import (
    SUBMISSIONS_SCHEMA,
    annotate_versions,
    resolve_versions,
    rules_frame,
)
from midex.transforms.tables import build_table

pytestmark = pytest.mark.spark

OBS = (
    "SUBMISSION_ID long, REF_AREA string, COUNTERPART_AREA string, INDICATOR string, "
    "SEX string, AGE string, TIME_PERIOD string, OBS_VALUE double"
)


def test_latest_accepted_submission_wins_and_others_are_ignored(spark) -> None:
    harmonised = spark.createDataFrame(
        [
            (1, "MEX", "_Z", "GDP", "_T", "_T", "2020", 100.0),
            (2, "MEX", "_Z", "GDP", "_T", "_T", "2020", 110.0),  # later revision
            (3, "MEX", "_Z", "GDP", "_T", "_T", "2020", 999.0),  # not accepted
            (1, "MEX", "_Z", "GDP", "_T", "_T", "2021", 120.0),
        ],
        OBS,
    )
    accepted = spark.createDataFrame(
        [
            (1, datetime(2026, 1, 1), "merge", "agency"),
            (2, datetime(2026, 2, 1), "merge", "agency"),
        ],
        SUBMISSIONS_SCHEMA,
    )
    schema = load_schema()
    harmonised = harmonised.selectExpr("*", "'WB' AS PROVIDER", "'G' AS NATURE")
    versions = annotate_versions(
        harmonised, accepted, rules_frame(spark, load_rules(schema), ["GDP"]), schema.series_key
    )
    resolved = resolve_versions(versions, harmonised.columns, schema.series_key).observations
    assertDataFrameEqual(
        resolved.select("TIME_PERIOD", "OBS_VALUE", "SUBMISSION_ID"),
        spark.createDataFrame(
            [("2020", 110.0, 2), ("2021", 120.0, 1)],
            "TIME_PERIOD string, OBS_VALUE double, SUBMISSION_ID long",
        ),
    )


def test_remittances_gdp_by_hand(spark) -> None:
    observations = spark.createDataFrame(
        [
            (1, "GTM", "_Z", "REMIT_IN", "_T", "_T", "2020", 11_396e6),
            (1, "GTM", "_Z", "GDP", "_T", "_T", "2020", 77_605e6),
            (1, "NPL", "_Z", "REMIT_IN", "_T", "_T", "2021", 8_250e6),  # no GDP
            (1, "SLV", "_Z", "GDP", "_T", "_T", "2021", 0.0),  # zero GDP
            (1, "SLV", "_Z", "REMIT_IN", "_T", "_T", "2021", 5.0),
            (1, "MEX", "USA", "REMIT_IN", "_T", "_T", "2020", 1.0),  # bilateral: not the total
            (1, "MEX", "_Z", "REMIT_IN", "F", "_T", "2020", 1.0),  # a breakdown
            (1, "MEX", "_Z", "REMIT_IN", "_T", "_T", "2020-Q1", 1.0),  # not annual
            (1, "MEX", "_Z", "POP", "_T", "_T", "2020", 1.0),  # another indicator
        ],
        OBS,
    )
    table = build_table("remittances_gdp", observations, load_schema())
    expected = spark.createDataFrame(
        [
            ("GTM", "2020", 11_396e6, None, 77_605e6, 11_396 / 77_605 * 100, None),
            ("NPL", "2021", 8_250e6, None, None, None, None),
            ("SLV", "2021", 5.0, None, 0.0, None, None),
        ],
        "REF_AREA string, TIME_PERIOD string, REMIT_IN_USD double, REMIT_OUT_USD double, "
        "GDP_USD double, REMIT_IN_PCT_GDP double, REPORTED_REMIT_IN_PCT_GDP double",
    )
    assertDataFrameEqual(table, expected, rtol=1e-12)
    assert table.columns == expected.columns
