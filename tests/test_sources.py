"""Competing sources and provider scope through the real pipeline: the national value beats the
agency's by default (exchange rates: the agency's), the loser is kept in `observations_all`,
disagreements beyond the tolerance are published side by side, and a national provider's row for
another country rejects its whole file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.testing import assertDataFrameEqual

from midex.contract.errors import MidexError
from midex.contract.findings import read_findings
from midex.contract.resolution import IndicatorRule, ResolutionRules, load_rules
from midex.contract.schema import load_schema
from midex.stages import publish, run, submit
from midex.storage.catalog import ProviderKind, SubmissionStatus
from midex.transforms.resolve import annotate_versions, resolve_versions, rules_frame
from tests.conftest import write

pytestmark = pytest.mark.spark

HEADER = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"
NATIONAL = HEADER + (
    "MEX,REMIT_IN,2020,42,9\n"  # agency 40: 4.8% apart, within the 5% tolerance
    "MEX,REMIT_IN,2021,60,9\n"  # agency 50: 16.7% apart -> a disagreement
    "MEX,EXCHANGE_RATE,2020,19,0\n"  # agency 20 wins (rules); 5% apart > 1% -> a disagreement
    "MEX,POP,2020,,0\n"  # missing: the agency's number wins over it
)
AGENCY = HEADER + (
    "MEX,REMIT_IN,2020,40,9\nMEX,REMIT_IN,2021,50,9\nMEX,EXCHANGE_RATE,2020,20,0\n"
    "MEX,POP,2020,126,6\nGTM,REMIT_IN,2020,11.4,9\n"
)
OUT_OF_SCOPE = HEADER + "MEX,GDP,2020,1100,9\nGuatemala,GDP,2020,77,9\n"


def test_national_wins_loser_kept_disagreements_published(spark, ctx, tmp_path: Path) -> None:
    ctx.catalog.add_provider("MX", "INEGI", ProviderKind.national, ["MEX"])
    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    national = submit(ctx, write(tmp_path / "mx.csv", NATIONAL), "MX")
    # the agency comes later: "latest wins" alone would pick it
    agency = submit(ctx, write(tmp_path / "wb.csv", AGENCY), "WB")
    scope = submit(ctx, write(tmp_path / "mx-gtm.csv", OUT_OF_SCOPE), "MX")
    results, failures = run(ctx, spark)
    assert not failures
    assert [s.status for s in results] == [
        SubmissionStatus.accepted, SubmissionStatus.accepted, SubmissionStatus.rejected,
    ]  # fmt: skip

    # provider scope: the row for Guatemala is an error naming the row; nothing of the file
    # (not even its MEX row) reaches the observations
    findings = read_findings(ctx.lake.findings_file(scope.id))
    out = [f for f in findings if f.rule == "area_out_of_scope"]
    assert [(f.severity, f.row, f.column) for f in out] == [("error", 3, "REF_AREA")]
    assert "may only report MEX, not GTM" in out[0].message

    release = publish(ctx, spark)
    folder = Path(release.path)
    assert {"observations", "observations_all", "source_disagreements"} <= set(release.tables)
    obs = pq.read_table(folder / "observations.parquet").to_pylist()
    key = ("REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "AGE", "TIME_PERIOD")
    assert len(obs) == len({tuple(r[k] for k in key) for r in obs}) == 5
    won = {(r["REF_AREA"], r["INDICATOR"], r["TIME_PERIOD"]): r for r in obs}
    assert [(r["OBS_VALUE"], r["PROVIDER"], r["NATURE"]) for r in won.values()] == [
        (11.4e9, "WB", "G"),  # GTM: only the agency reports it
        (20.0, "WB", "G"),  # EXCHANGE_RATE: agency first, per schemas/resolution.yaml
        (126e6, "WB", "G"),  # POP: a number beats the national missing value
        (42e9, "MX", "C"),
        (60e9, "MX", "C"),
    ]
    assert all(r["SUBMISSION_ID"] != scope.id for r in obs)

    every = pq.read_table(folder / "observations_all.parquet").to_pylist()
    assert sorted((r["INDICATOR"], r["TIME_PERIOD"], r["PROVIDER"], r["WON"]) for r in every) == [
        ("EXCHANGE_RATE", "2020", "MX", False), ("EXCHANGE_RATE", "2020", "WB", True),
        ("POP", "2020", "MX", False), ("POP", "2020", "WB", True),
        ("REMIT_IN", "2020", "MX", True), ("REMIT_IN", "2020", "WB", False),
        ("REMIT_IN", "2020", "WB", True),  # GTM
        ("REMIT_IN", "2021", "MX", True), ("REMIT_IN", "2021", "WB", False),
    ]  # fmt: skip
    assert sum(r["WON"] for r in every) == len(obs)

    disagreements = spark.read.parquet(str(folder / "source_disagreements.parquet"))
    expected = spark.createDataFrame(
        [
            (
                "EXCHANGE_RATE",
                "2020",
                "WB",
                20.0,
                "G",
                agency.id,
                "MX",
                19.0,
                "C",
                national.id,
                0.05,
                0.01,
            ),
            (
                "REMIT_IN",
                "2021",
                "MX",
                60e9,
                "C",
                national.id,
                "WB",
                50e9,
                "G",
                agency.id,
                10 / 60,
                0.05,
            ),
        ],  # fmt: skip
        "INDICATOR string, TIME_PERIOD string, WINNER_PROVIDER string, WINNER_OBS_VALUE double, "
        "WINNER_NATURE string, WINNER_SUBMISSION_ID long, OTHER_PROVIDER string, "
        "OTHER_OBS_VALUE double, OTHER_NATURE string, OTHER_SUBMISSION_ID long, "
        "RELATIVE_DIFFERENCE double, TOLERANCE double",
    )
    assertDataFrameEqual(disagreements.select(*expected.columns), expected, rtol=1e-9)
    assert disagreements.columns[:6] == list(key)


def test_priority_and_tolerance_are_configurable_per_indicator(spark, tmp_path: Path) -> None:
    schema = load_schema()
    obs = spark.createDataFrame(
        [
            (1, "MX", "MEX", "_Z", "REMIT_IN", "_T", "_T", "2020", 42.0, "C"),
            (2, "WB", "MEX", "_Z", "REMIT_IN", "_T", "_T", "2020", 40.0, "G"),
            (1, "MX", "MEX", "_Z", "GDP", "_T", "_T", "2020", 100.0, "C"),
            (2, "WB", "MEX", "_Z", "GDP", "_T", "_T", "2020", 90.0, "G"),
        ],
        "SUBMISSION_ID long, PROVIDER string, REF_AREA string, COUNTERPART_AREA string, "
        "INDICATOR string, SEX string, AGE string, TIME_PERIOD string, OBS_VALUE double, "
        "NATURE string",
    )
    subs = spark.createDataFrame(
        [
            (1, datetime(2026, 1, 1, tzinfo=UTC), "merge", "national"),
            (2, datetime(2026, 1, 2, tzinfo=UTC), "merge", "agency"),
        ],
        "SUBMISSION_ID long, ACCEPTED_AT timestamp, SUBMISSION_MODE string, PROVIDER_KIND string",
    )
    default = IndicatorRule(("national", "agency"), 0.05)
    rules = ResolutionRules(
        {"national": "own_areas", "agency": "any"},
        default,
        {"REMIT_IN": IndicatorRule(("agency", "national"), 0.01)},
    )
    frame = rules_frame(spark, rules, ["REMIT_IN", "GDP"])
    res = resolve_versions(
        annotate_versions(obs, subs, frame, schema.series_key), obs.columns, schema.series_key
    )
    assert sorted((r.INDICATOR, r.PROVIDER) for r in res.observations.collect()) == [
        ("GDP", "MX"),
        ("REMIT_IN", "WB"),
    ]
    # REMIT_IN: 5% apart > 1%; GDP: 10% apart > 5%
    assert sorted(
        (r.INDICATOR, r.OTHER_PROVIDER, r.TOLERANCE) for r in res.source_disagreements.collect()
    ) == [("GDP", "WB", 0.05), ("REMIT_IN", "MX", 0.01)]
    assert rules.allowed_areas("national", ["MEX"]) == ("MEX",)
    assert rules.allowed_areas("agency", ["MEX"]) == ()

    # the shipped file loads and is checked
    shipped = load_rules(schema)
    assert shipped.rule("GDP") == IndicatorRule(("national", "agency"), 0.05, True)
    assert shipped.rule("MIG_STOCK") == IndicatorRule(("national", "agency"), 0.05, False)
    assert shipped.rule("EXCHANGE_RATE").priority == ("agency", "national")
    bad = tmp_path / "schemas"
    import shutil

    shutil.copytree(schema.root, bad)
    (bad / "resolution.yaml").write_text(
        "default: {priority: [national, agency]}\nindicators:\n  GDP: {priority: [ministry]}\n"
    )
    with pytest.raises(MidexError, match="indicators.GDP: priority must list provider kinds"):
        load_rules(load_schema(bad))


def test_a_zero_against_a_real_value_loses_where_the_rule_says_so(spark) -> None:
    """prefer_non_zero (schemas/resolution.yaml): a national 0 against an agency's figure. REMIT_IN
    (on): the agency's non-zero value wins despite the priority; MIG_STOCK (off): the 0 wins. Both
    pairs are in source_disagreements with RELATIVE_DIFFERENCE 1.0 (a 0 differs by all of it)."""
    schema = load_schema()
    obs = spark.createDataFrame(
        [
            (1, "MX", "MEX", "_Z", "REMIT_IN", "_T", "_T", "2005", 0.0, "C"),
            (2, "WB", "MEX", "_Z", "REMIT_IN", "_T", "_T", "2005", 21_000.0, "G"),
            (1, "MX", "MEX", "_Z", "MIG_STOCK", "_T", "_T", "2005", 0.0, "C"),
            (2, "WB", "MEX", "_Z", "MIG_STOCK", "_T", "_T", "2005", 700.0, "G"),
            (1, "MX", "MEX", "_Z", "GDP", "_T", "_T", "2005", 0.0, "C"),
            (2, "WB", "MEX", "_Z", "GDP", "_T", "_T", "2005", 0.0, "G"),
        ],
        "SUBMISSION_ID long, PROVIDER string, REF_AREA string, COUNTERPART_AREA string, "
        "INDICATOR string, SEX string, AGE string, TIME_PERIOD string, OBS_VALUE double, "
        "NATURE string",
    )
    subs = spark.createDataFrame(
        [
            (1, datetime(2026, 1, 1, tzinfo=UTC), "merge", "national"),
            (2, datetime(2026, 1, 2, tzinfo=UTC), "merge", "agency"),
        ],
        "SUBMISSION_ID long, ACCEPTED_AT timestamp, SUBMISSION_MODE string, PROVIDER_KIND string",
    )
    frame = rules_frame(spark, load_rules(schema), ["REMIT_IN", "MIG_STOCK", "GDP"])
    res = resolve_versions(
        annotate_versions(obs, subs, frame, schema.series_key), obs.columns, schema.series_key
    )
    won = {r.INDICATOR: (r.PROVIDER, r.OBS_VALUE) for r in res.observations.collect()}
    assert won == {"REMIT_IN": ("WB", 21_000.0), "MIG_STOCK": ("MX", 0.0), "GDP": ("MX", 0.0)}
    pairs = {
        r.INDICATOR: (r.WINNER_OBS_VALUE, r.OTHER_OBS_VALUE, r.RELATIVE_DIFFERENCE)
        for r in res.source_disagreements.collect()
    }
    # two zeros agree: no pair for GDP
    assert pairs == {"REMIT_IN": (21_000.0, 0.0, 1.0), "MIG_STOCK": (0.0, 700.0, 1.0)}
