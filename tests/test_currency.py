"""Local-currency values converted to US dollars with the agency's EXCHANGE_RATE series."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.testing import assertDataFrameEqual

from midex.contract.findings import read_findings
from midex.contract.schema import load_schema
from midex.formats.template import to_raw
from midex.stages import Context, init, reprocess, run, submit
from midex.storage.catalog import ProviderKind, SubmissionStatus
from midex.transforms.harmonise import SubmissionContext, build_mappings, harmonise
from tests.conftest import REPO, write

pytestmark = pytest.mark.spark

COLUMNS = ["REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "UNIT_MEASURE", "UNIT_MULT"]


def test_conversion_rules_in_the_transform(spark) -> None:
    schema = load_schema()
    rows = [
        ("MEX", "REMIT_IN", "2020", "400", "LCU", "9"),  # 400 bn pesos / 20 = 20 bn USD
        ("MEX", "GDP", "2020", "2,5".replace(",", "."), "local_currency", "12"),  # alias
        ("MEX", "REMIT_IN", "2020-Q1", "90", "LCU", "9"),  # no quarterly rate
        ("MEX", "POP", "2020", "126", "LCU", "6"),  # persons are not money
        ("MEX", "REMIT_IN", "2021", "..", "LCU", "9"),  # missing: nothing to convert
    ]
    table = pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(COLUMNS)})
    raw = spark.createDataFrame(to_raw(table, sheet=None, schema=schema).to_pandas())
    rates = spark.createDataFrame(
        [("MEX", "2020", 20.0)], "REF_AREA string, TIME_PERIOD string, RATE double"
    )
    ctx = SubmissionContext("MX", "C", 1, "0" * 64, schema.mapping_version)
    good, bad = harmonise(raw, build_mappings(spark, schema, raw, rates), ctx, schema)
    expected = spark.createDataFrame(
        [
            ("REMIT_IN", "2020", 20e9, "USD", "400", "LCU"),
            ("GDP", "2020", 125e9, "USD", "2.5", "local_currency"),
            ("REMIT_IN", "2021", None, "USD", "..", "LCU"),
        ],
        "INDICATOR string, TIME_PERIOD string, OBS_VALUE double, UNIT_MEASURE string, "
        "SOURCE_VALUE string, SOURCE_UNIT string",
    )
    assertDataFrameEqual(good.select(*expected.columns), expected, rtol=1e-12)
    problems = sorted(
        (r.SOURCE_ROW, r.p.rule)
        for r in bad.selectExpr("SOURCE_ROW", "explode(PROBLEMS) p").collect()
    )
    assert problems == [(4, "no_exchange_rate"), (5, "unit_mismatch")]


NATIONAL = (
    "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT\n"
    "MEX,REMIT_IN,2020,400,LCU,9\n"
    "MEX,REMIT_IN,2021,440,LCU,9\n"
)
RATES_2020 = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,PA.NUS.FCRF,2020,20\n"
RATES_2021 = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,EXCHANGE_RATE,2021,22\n"


def test_lcu_waits_for_the_rate_then_converts(
    spark, midex_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    # a private copy of schemas/: the mapping version must not move under the test
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    monkeypatch.setenv("MIDEX_SCHEMAS", str(tmp_path / "schemas"))
    ctx = Context.open()
    init(ctx)
    ctx.catalog.add_provider("MX", "Banxico", ProviderKind.national, ["MEX"])
    ctx.catalog.add_provider("IMF", "IMF", ProviderKind.agency)
    # the LCU file comes first, with the 2020 rate in the same run: the 2021 rate is missing
    lcu = submit(ctx, write(tmp_path / "mx.csv", NATIONAL), "MX")
    submit(ctx, write(tmp_path / "rates2020.csv", RATES_2020), "IMF")
    run(ctx, spark)
    waiting = ctx.catalog.submission(lcu.id)
    assert (
        waiting.status == SubmissionStatus.rejected
    )  # reprocessed after the rate came, still 2021
    findings = [f for f in read_findings(ctx.lake.findings_file(lcu.id)) if f.severity == "error"]
    assert [(f.rule, f.row) for f in findings] == [("no_exchange_rate", 3)]
    assert "no exchange rate for MEX 2021" in findings[0].message
    published = pq.read_table(ctx.lake.observations_dir()).to_pylist()  # the rates, at least
    assert published and all(r["SUBMISSION_ID"] != lcu.id for r in published)

    # the 2021 rate arrives: the waiting submission is reprocessed and converted by `midex run`
    submit(ctx, write(tmp_path / "rates2021.csv", RATES_2021), "IMF")
    run(ctx, spark)
    converted = ctx.catalog.submission(lcu.id)
    assert converted.status == SubmissionStatus.accepted
    obs = {
        r["TIME_PERIOD"]: r
        for r in pq.read_table(ctx.lake.observations_dir()).to_pylist()
        if r["INDICATOR"] == "REMIT_IN"
    }
    assert obs["2020"]["OBS_VALUE"] == pytest.approx(20e9)
    assert obs["2021"]["OBS_VALUE"] == pytest.approx(20e9)
    assert (obs["2021"]["UNIT_MEASURE"], obs["2021"]["SOURCE_VALUE"], obs["2021"]["SOURCE_UNIT"]) == (
        "USD", "440", "LCU",
    )  # fmt: skip
    # nothing is stale any more: reprocessing changes nothing
    assert reprocess(ctx, spark, all_=True) == []
    again = cli("reprocess", "--all", "--json")
    assert again.code == 0 and again.json()["reprocessed"] == []
