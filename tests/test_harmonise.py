"""The harmonisation transform on tiny inline tables, compared with expected frames."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyspark.testing import assertDataFrameEqual

from midex.contract.schema import load_schema
from midex.formats.template import to_raw
from midex.transforms.harmonise import SubmissionContext, build_mappings, harmonise

pytestmark = pytest.mark.spark

COLUMNS = ["REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "TIME_PERIOD", "OBS_VALUE",
           "UNIT_MEASURE", "UNIT_MULT", "OBS_STATUS"]  # fmt: skip


def _raw(spark, rows: list[tuple]):
    table = pa.table(
        {c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(COLUMNS)}
    )
    return spark.createDataFrame(to_raw(table, sheet=None, schema=load_schema()).to_pandas())


def _run(spark, rows, allowed=()):
    schema = load_schema()
    raw = _raw(spark, rows)
    ctx = SubmissionContext("P1", "C", 7, "f" * 64, schema.mapping_version, tuple(allowed))
    return harmonise(raw, build_mappings(spark, schema, raw), ctx, schema)


def test_codes_aliases_multiplier_and_defaults(spark) -> None:
    good, bad = _run(
        spark,
        [
            ("Mexico", "", "BX.TRF.PWKR.CD.DT", "", "2020", "40.5", "USD", "9", ""),
            ("PH", None, "gdp", "total", "2021", "361,5".replace(",", "."), "", "6", "e"),
            ("608", "USA", "MIG_STOCK", "Female", "2020-q3", "12", "persons", "3", "P"),
            ("DEU", "", "POP", "M", "2019", "..", "", "", ""),
        ],
    )
    assert bad.count() == 0
    expected = spark.createDataFrame(
        [
            ("MEX", "_Z", "REMIT_IN", "_T", "_T", "2020", 40.5e9, "USD", "A", "40.5", 2),
            ("PHL", "_Z", "GDP", "_T", "_T", "2021", 361.5e6, "USD", "E", "361.5", 3),
            ("PHL", "USA", "MIG_STOCK", "F", "_T", "2020-Q3", 12000.0, "PERSONS", "P", "12", 4),
            ("DEU", "_Z", "POP", "M", "_T", "2019", None, "PERSONS", "M", "..", 5),
        ],
        "REF_AREA string, COUNTERPART_AREA string, INDICATOR string, SEX string, AGE string, "
        "TIME_PERIOD string, OBS_VALUE double, UNIT_MEASURE string, OBS_STATUS string, "
        "SOURCE_VALUE string, SOURCE_ROW long",
    )
    assertDataFrameEqual(good.select(*expected.columns), expected, rtol=1e-12)
    lineage = good.select("PROVIDER", "SUBMISSION_ID", "SOURCE_FILE_SHA256", "NATURE").distinct()
    assert lineage.collect() == [("P1", 7, "f" * 64, "C")]
    assert (
        good.select("MAPPING_VERSION").distinct().collect()[0][0] == load_schema().mapping_version
    )


def test_rows_that_cannot_be_harmonised_are_quarantined_with_reasons(spark) -> None:
    good, bad = _run(
        spark,
        [
            ("MEX", "", "REMIT_IN", "", "2020", "1", "", "", ""),
            ("Narnia", "", "REMIT_IN", "", "2020", "1", "", "", ""),
            ("MEX", "", "NOT.AN.INDICATOR", "", "2020", "1", "", "", ""),
            ("MEX", "", "GDP", "", "20x0", "1,000", "", "", ""),
            ("MEX", "USA", "GDP", "X", "2020", "1", "EUR", "k", "Z"),
            ("WLD", "", "GDP", "", "2020", "1", "PCT", "", ""),
        ],
    )
    assert [r.SOURCE_ROW for r in good.collect()] == [2]
    problems = {r.SOURCE_ROW: sorted((p.rule, p.column) for p in r.PROBLEMS) for r in bad.collect()}
    assert problems == {
        3: [("unknown_area", "REF_AREA")],
        4: [("unknown_indicator", "INDICATOR")],
        5: [("bad_number", "OBS_VALUE"), ("bad_period", "TIME_PERIOD")],
        6: sorted(
            [
                ("not_bilateral", "COUNTERPART_AREA"),
                ("unknown_code", "SEX"),
                ("unknown_code", "OBS_STATUS"),
                ("bad_unit_mult", "UNIT_MULT"),
                ("unknown_unit", "UNIT_MEASURE"),
            ]
        ),
        7: sorted([("unknown_area", "REF_AREA"), ("unit_mismatch", "UNIT_MEASURE")]),
    }
    narnia = next(r for r in bad.collect() if r.SOURCE_ROW == 3).PROBLEMS[0]
    assert narnia.value == "Narnia" and "ISO 3166" in narnia.message
    wld = next(r for r in bad.collect() if r.SOURCE_ROW == 7).PROBLEMS
    assert any("aggregate" in p.message for p in wld)


def test_national_provider_may_only_report_its_areas(spark) -> None:
    good, bad = _run(
        spark,
        [
            ("MEX", "", "GDP", "", "2020", "1", "", "", ""),
            ("USA", "", "GDP", "", "2020", "1", "", "", ""),
        ],
        allowed=["MEX"],
    )
    assert [r.REF_AREA for r in good.collect()] == ["MEX"]
    (row,) = bad.collect()
    assert row.SOURCE_ROW == 3 and row.PROBLEMS[0].rule == "area_out_of_scope"
