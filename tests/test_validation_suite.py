"""The suite file and the Great Expectations path on small harmonised frames: rules that files
cannot reach through harmonisation (codes outside a codelist, empty required values), per-
indicator thresholds and periods other than years."""

from __future__ import annotations

import pytest

from midex.contract import periods, rules
from midex.contract.schema import load_schema
from midex.contract.settings import get_settings
from midex.quality.validate import load_suite


def _suite():
    schema = load_schema()
    return schema, load_suite(get_settings().expectations / "harmonised.yaml", schema)


def test_every_rule_has_a_message_and_codes_are_checked_by_join() -> None:
    schema, suite = _suite()
    for exp in suite.expectations:
        assert exp.rule in rules.TEMPLATES
        # never a giant isin: codelists are joined (CL_<column>), value sets stay tiny
        assert len(exp.kwargs.get("value_set") or []) < 10, exp.rule
    assert set(suite.codelist_joins) >= {"REF_AREA", "INDICATOR", "SEX", "UNIT_MEASURE"}
    assert suite.severity("ratio_coherence") == "warning"
    assert suite.severity("change_from_previous") == "warning"
    assert suite.severity("series_key_unique") == "error"
    assert suite.severity("sex_breakdown") == "warning"  # a source's total is kept (issue 19)


def test_suite_that_reads_the_coherence_entries_before_deriving_them_is_refused(tmp_path) -> None:
    """A suite author who writes $sex_value without the COHERENCE_VALUES column it reads gets
    told which derive to add, when the suite is loaded, not a Spark error mid-validation."""
    from midex.contract.errors import MidexError

    schema = load_schema()
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "suite: s\n"
        "derive:\n"
        "  SEX_MALE: \"CASE WHEN SEX = '_T' THEN $sex_value:M END\"\n"
        "expectations: []\n",
        "utf-8",
    )
    with pytest.raises(
        MidexError, match=r"derive SEX_MALE .*COHERENCE_VALUES: \"\$coherence:values\""
    ):
        load_suite(suite, schema)
    text = suite.read_text("utf-8").replace(
        "derive:\n", 'derive:\n  COHERENCE_VALUES: "$coherence:values"\n'
    )
    suite.write_text(text, "utf-8")
    derive = load_suite(suite, schema).derive
    assert list(derive) == ["COHERENCE_VALUES", "SEX_MALE"]
    assert "COHERENCE_VALUES" in derive["SEX_MALE"] and "OVER" in derive["COHERENCE_VALUES"]


def test_periods() -> None:
    assert periods.previous_period("2020") == "2019"
    assert periods.previous_period("2020-Q1") == "2019-Q4"
    assert periods.previous_period("2020-Q3") == "2020-Q2"
    assert periods.previous_period("2020-01") == "2019-12"
    assert periods.previous_period("2020-10") == "2020-09"
    assert periods.normalise_period(" 2019.0") == "2019"
    assert periods.normalise_period("2019q2") == "2019-Q2"
    assert periods.normalise_period("2019M07") == "2019-07"
    assert periods.normalise_period("2019-13") is None


@pytest.mark.spark
def test_the_previous_period_in_spark_is_the_previous_period(spark) -> None:
    """The suite's SQL ($periods:previous) gives what periods.previous_period gives, for every
    kind of period and each boundary (a year, the first and other quarters and months)."""
    from pyspark.sql import functions as F

    cases = ["2020", "1990", "2020-Q1", "2020-Q2", "2020-Q4", "2020-01", "2020-02", "2020-12"]
    rows = spark.createDataFrame([(p,) for p in cases], "TIME_PERIOD string")
    got = rows.select("TIME_PERIOD", F.expr(periods.PREVIOUS_PERIOD_SQL).alias("P")).collect()
    assert {r.TIME_PERIOD: r.P for r in got} == {p: periods.previous_period(p) for p in cases}
    suite = load_suite(get_settings().expectations / "harmonised.yaml", load_schema())
    assert periods.PREVIOUS_PERIOD_SQL in suite.derive["PREVIOUS_PERIOD_EXPECTED"]


COLUMNS = (
    "REF_AREA string, COUNTERPART_AREA string, INDICATOR string, SEX string, AGE string, "
    "TIME_PERIOD string, OBS_VALUE double, UNIT_MEASURE string, OBS_STATUS string, "
    "SOURCE_ROW long, SOURCE_VALUE string"
)


@pytest.mark.spark
def test_gx_rules_on_a_harmonised_frame(spark) -> None:
    from pyspark.sql import functions as F

    schema, suite = _suite()
    rows = [
        ("XXX", "_Z", "GDP", "_T", "_T", "2020", 1.0, "USD", "A", 2, "1"),
        ("MEX", "_Z", "GDP", "_T", "_T", "2020", 1.0, None, "A", 3, "1"),
        # EXCHANGE_RATE may move x10 (indicator attribute change_factor), GDP only x3
        ("MEX", "_Z", "EXCHANGE_RATE", "_T", "_T", "2019", 10.0, "LCU_PER_USD", "A", 4, "10"),
        ("MEX", "_Z", "EXCHANGE_RATE", "_T", "_T", "2020", 50.0, "LCU_PER_USD", "A", 5, "50"),
        ("MEX", "_Z", "GDP", "_T", "_T", "2019-Q4", 100.0, "USD", "A", 6, "100"),
        ("MEX", "_Z", "GDP", "_T", "_T", "2020-Q1", 20.0, "USD", "A", 7, "20"),
        # not consecutive: 2017 -> 2019 is no "previous period"
        ("MEX", "_Z", "POP", "_T", "_T", "2017", 1.0, "PERSONS", "A", 8, "1"),
        ("MEX", "_Z", "POP", "_T", "_T", "2019", 100.0, "PERSONS", "A", 9, "100"),
    ]
    df = spark.createDataFrame(rows, COLUMNS)
    for c in schema.observation_columns:
        if c.name not in df.columns:
            df = df.withColumn(c.name, F.lit(None).cast(c.type))
    from midex.quality.validate import run_suite

    found = sorted(
        (f.row, f.rule, f.severity, f.column, f.value) for f in run_suite(df, suite, schema)
    )
    assert found == [
        (2, "code_in_codelist", "error", "REF_AREA", "XXX"),
        (3, "required_value", "error", "UNIT_MEASURE", None),
        (7, "change_from_previous", "warning", "OBS_VALUE", "20"),
    ]
