"""Every impact table on small inline observations, against values computed by hand."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from midex.contract.groups import load_groups
from midex.contract.schema import load_schema
from midex.transforms.tables import aggregate_groups, build_table

pytestmark = pytest.mark.spark

OBS = (
    "PROVIDER string, SUBMISSION_ID long, REF_AREA string, COUNTERPART_AREA string, "
    "INDICATOR string, SEX string, AGE string, TIME_PERIOD string, OBS_VALUE double, "
    "ACCEPTED_AT timestamp"
)
T1 = datetime(2026, 1, 1)
T2 = datetime(2026, 3, 1)


def _obs(spark, rows):
    """rows: (REF_AREA, COUNTERPART_AREA, INDICATOR, TIME_PERIOD, OBS_VALUE[, PROVIDER, ACCEPTED])."""
    full = []
    for r in rows:
        area, cp, ind, period, value = r[:5]
        provider = r[5] if len(r) > 5 else "WB"
        accepted = r[6] if len(r) > 6 else T1
        full.append((provider, 1, area, cp, ind, "_T", "_T", period, value, accepted))
    return spark.createDataFrame(full, OBS)


def _schema_of(table: str) -> str:
    definition = load_schema().table(table)
    return ", ".join(f"{c['name']} {c['type']}" for c in definition["columns"])


def test_every_defined_table_has_the_contract_columns() -> None:
    schema = load_schema()
    contract = {
        "remittances_gdp": "REF_AREA TIME_PERIOD REMIT_IN_USD REMIT_OUT_USD GDP_USD "
        "REMIT_IN_PCT_GDP REPORTED_REMIT_IN_PCT_GDP",
        "development_finance": "REF_AREA TIME_PERIOD REMIT_IN_USD ODA_RECEIVED_USD FDI_IN_USD "
        "GDP_USD REMIT_PCT_GDP ODA_PCT_GDP FDI_PCT_GDP REMIT_TO_ODA_RATIO",
        "oda_target": "REF_AREA TIME_PERIOD ODA_GIVEN_USD GNI_USD ODA_PCT_GNI TARGET_PCT "
        "GAP_TO_TARGET_USD TARGET_MET",
        "migration_profile": "REF_AREA TIME_PERIOD POP MIG_STOCK MIG_STOCK_PCT_POP EMIG_STOCK "
        "EMIG_STOCK_MIRROR EMIGRATION_RATE_PCT MIG_NET NET_MIGRATION_PER_1000 REFUGEES_ORIGIN "
        "REFUGEES_ORIGIN_PER_100K REFUGEES_ASYLUM",
        "corridors": "ORIGIN DESTINATION TIME_PERIOD STOCK_REPORTED_BY_DESTINATION "
        "STOCK_REPORTED_BY_ORIGIN STOCK_ASYMMETRY REMIT_REPORTED_BY_RECEIVER "
        "REMIT_REPORTED_BY_SENDER REMIT_ASYMMETRY ASYMMETRY_FLAG",
        "remittance_cost": "REF_AREA TIME_PERIOD REMIT_COST_IN_PCT REMIT_COST_OUT_PCT "
        "ABOVE_3PCT_TARGET ABOVE_5PCT REMIT_IN_USD SAVINGS_AT_TARGET_USD",
        "aggregates": "GROUP_TYPE GROUP_CODE GROUP_NAME TIME_PERIOD MEASURE VALUE MEMBERS_TOTAL "
        "MEMBERS_REPORTING COVERAGE_SHARE SUPPRESSED",
        "coverage": "PROVIDER REF_AREA INDICATOR FIRST_PERIOD LAST_PERIOD N_PERIODS "
        "LAST_ACCEPTED_AT",
    }
    assert set(schema.table_names()) == set(contract)
    for name, columns in contract.items():
        definition = schema.table(name)
        assert [c["name"] for c in definition["columns"]] == columns.split(), name
        assert set(definition["grain"]) <= set(columns.split()), name
        assert definition.get("lineage"), f"{name} says where its values come from"
        for c in definition["columns"]:
            if c["name"] not in definition["grain"]:
                assert c.get("from_indicator") or c.get("formula"), (name, c["name"])


def test_remittances_gdp_adds_paid_and_reported_ratio(spark) -> None:
    obs = _obs(
        spark,
        [
            ("PHL", "_Z", "REMIT_IN", "2020", 34.9e9),
            ("PHL", "_Z", "REMIT_OUT", "2020", 0.3e9),
            ("PHL", "_Z", "GDP", "2020", 361.5e9),
            ("PHL", "_Z", "REMIT_IN_PCT_GDP", "2020", 9.6),
            ("USA", "_Z", "GDP", "2020", 21e12),  # GDP alone makes no row
            ("USA", "_Z", "REMIT_OUT", "2021", 73e9),
        ],
    )
    table = build_table("remittances_gdp", obs, load_schema())
    expected = spark.createDataFrame(
        [
            ("PHL", "2020", 34.9e9, 0.3e9, 361.5e9, 34.9 / 361.5 * 100, 9.6),
            ("USA", "2021", None, 73e9, None, None, None),
        ],
        _schema_of("remittances_gdp"),
    )
    assertDataFrameEqual(table, expected, rtol=1e-12)


def test_development_finance_by_hand(spark) -> None:
    obs = _obs(
        spark,
        [
            ("NPL", "_Z", "REMIT_IN", "2019", 8.2e9),
            ("NPL", "_Z", "ODA_RECEIVED", "2019", 1.4e9),
            ("NPL", "_Z", "FDI_IN", "2019", 0.2e9),
            ("NPL", "_Z", "GDP", "2019", 34.2e9),
            ("CHN", "_Z", "ODA_RECEIVED", "2019", -0.5e9),  # net ODA negative: no ratio
            ("CHN", "_Z", "REMIT_IN", "2019", 18e9),
        ],
    )
    table = build_table("development_finance", obs, load_schema())
    expected = spark.createDataFrame(
        [
            ("CHN", "2019", 18e9, -0.5e9, None, None, None, None, None, None),
            (
                "NPL",
                "2019",
                8.2e9,
                1.4e9,
                0.2e9,
                34.2e9,
                8.2 / 34.2 * 100,
                1.4 / 34.2 * 100,
                0.2 / 34.2 * 100,
                8.2 / 1.4,
            ),
        ],  # fmt: skip
        _schema_of("development_finance"),
    )
    assertDataFrameEqual(table, expected, rtol=1e-12)


def test_oda_target_reported_or_derived_and_the_gap(spark) -> None:
    obs = _obs(
        spark,
        [
            # Sweden reports USD and GNI: 5.9 bn of 540 bn GNI = 1.0926% -> met, no gap
            ("SWE", "_Z", "ODA_GIVEN", "2020", 5.9e9),
            ("SWE", "_Z", "GNI", "2020", 540e9),
            # Italy reports only the ratio 0.22% and GNI 1,900 bn -> ODA 4.18 bn; gap 13.3 - 4.18
            ("ITA", "_Z", "ODA_GIVEN_PCT_GNI", "2020", 0.22),
            ("ITA", "_Z", "GNI", "2020", 1900e9),
            # Korea reports the ratio only, no GNI: ratio kept, no USD, no gap
            ("KOR", "_Z", "ODA_GIVEN_PCT_GNI", "2020", 0.14),
            ("DEU", "_Z", "GNI", "2020", 3900e9),  # GNI alone: not a donor row
        ],
    )
    table = build_table("oda_target", obs, load_schema())
    expected = spark.createDataFrame(
        [
            ("ITA", "2020", 4.18e9, 1900e9, 0.22, 0.7, 13.3e9 - 4.18e9, False),
            ("KOR", "2020", None, None, 0.14, 0.7, None, False),
            ("SWE", "2020", 5.9e9, 540e9, 5.9 / 540 * 100, 0.7, 0.0, True),
        ],
        _schema_of("oda_target"),
    )
    assertDataFrameEqual(table, expected, rtol=1e-9)


def test_migration_profile_rates_and_the_mirror(spark) -> None:
    obs = _obs(
        spark,
        [
            ("MEX", "_Z", "POP", "2020", 126e6),
            ("MEX", "_Z", "MIG_STOCK", "2020", 1.2e6),
            ("MEX", "_Z", "MIG_NET", "2020", -60e3),
            ("MEX", "_Z", "REFUGEES_ORIGIN", "2020", 14e3),
            ("MEX", "_Z", "REFUGEES_ASYLUM", "2020", 40e3),
            # Mexico reports no emigrant total: the mirror (USA + CAN report Mexicans) is used
            ("USA", "MEX", "MIG_STOCK", "2020", 10.9e6),
            ("CAN", "MEX", "MIG_STOCK", "2020", 0.1e6),
            ("USA", "_Z", "MIG_STOCK", "2020", 50.6e6),
            ("USA", "_Z", "POP", "2020", 331e6),
            # the Philippines reports its own emigrant total: it wins over the mirror
            ("PHL", "_Z", "EMIG_STOCK", "2020", 6.1e6),
            ("PHL", "_Z", "POP", "2020", 110e6),
            ("USA", "PHL", "MIG_STOCK", "2020", 2.0e6),
        ],
    )
    table = build_table("migration_profile", obs, load_schema())
    expected = spark.createDataFrame(
        [
            (
                "MEX",
                "2020",
                126e6,
                1.2e6,
                1.2 / 126 * 100,
                None,
                11e6,
                11 / 137 * 100,
                -60e3,
                -60e3 / 126e6 * 1000,
                14e3,
                14e3 / (126e6 + 14e3) * 1e5,
                40e3,
            ),
            (
                "PHL",
                "2020",
                110e6,
                None,
                None,
                6.1e6,
                2.0e6,
                6.1 / 116.1 * 100,
                None,
                None,
                None,
                None,
                None,
            ),
            (
                "USA",
                "2020",
                331e6,
                50.6e6,
                50.6 / 331 * 100,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ),
        ],  # fmt: skip
        _schema_of("migration_profile"),
    )
    assertDataFrameEqual(table, expected, rtol=1e-9)


def test_corridors_mirror_both_sides(spark) -> None:
    obs = _obs(
        spark,
        [
            # Mexico -> USA: the US counts 10.9 m Mexicans, Mexico says 12 m emigrants there
            ("USA", "MEX", "MIG_STOCK", "2020", 10.9e6),
            ("MEX", "USA", "EMIG_STOCK", "2020", 12.0e6),
            # Mexico receives 40.6 bn from the US; the US reports paying 30 bn to Mexico
            ("MEX", "USA", "REMIT_IN", "2020", 40.6e9),
            ("USA", "MEX", "REMIT_OUT", "2020", 30.0e9),
            # one side only: no asymmetry, no flag
            ("ARE", "IND", "MIG_STOCK", "2020", 3.5e6),
            ("IND", "_Z", "REMIT_IN", "2020", 83e9),  # a total: not a corridor
        ],
    )
    table = build_table("corridors", obs, load_schema())
    stock = (10.9 - 12.0) / ((10.9 + 12.0) / 2)
    remit = (40.6 - 30.0) / ((40.6 + 30.0) / 2)
    expected = spark.createDataFrame(
        [
            ("IND", "ARE", "2020", 3.5e6, None, None, None, None, None, False),
            ("MEX", "USA", "2020", 10.9e6, 12.0e6, stock, 40.6e9, 30.0e9, remit, True),
        ],
        _schema_of("corridors"),
    )
    assertDataFrameEqual(table, expected, rtol=1e-9)
    assert abs(stock) < 0.2 < remit  # the flag comes from the remittance side


def test_remittance_cost_targets_and_savings(spark) -> None:
    obs = _obs(
        spark,
        [
            ("GTM", "_Z", "REMIT_COST_IN", "2020", 4.5),
            ("GTM", "_Z", "REMIT_IN", "2020", 11.4e9),
            ("MEX", "_Z", "REMIT_COST_IN", "2020", 2.5),
            ("MEX", "_Z", "REMIT_IN", "2020", 40e9),
            ("ZAF", "_Z", "REMIT_COST_OUT", "2020", 14.1),
            ("AGO", "_Z", "REMIT_COST_IN", "2020", 9.0),  # no remittance figure
        ],
    )
    table = build_table("remittance_cost", obs, load_schema())
    expected = spark.createDataFrame(
        [
            ("AGO", "2020", 9.0, None, True, True, None, None),
            ("GTM", "2020", 4.5, None, True, False, 11.4e9, 11.4e9 * 1.5 / 100),
            ("MEX", "2020", 2.5, None, False, False, 40e9, 0.0),
            ("ZAF", "2020", None, 14.1, None, None, None, None),
        ],
        _schema_of("remittance_cost"),
    )
    assertDataFrameEqual(table, expected, rtol=1e-9)


def test_coverage_per_provider_area_indicator(spark) -> None:
    obs = _obs(
        spark,
        [
            ("MEX", "_Z", "REMIT_IN", "2018", 1.0, "MX", T1),
            ("MEX", "_Z", "REMIT_IN", "2020", 1.0, "MX", T2),
            ("MEX", "_Z", "REMIT_IN", "2019", None, "MX", T2),  # missing: not supplied
            ("MEX", "_Z", "GDP", "2020", 1.0, "WB", T1),
        ],
    )
    table = build_table("coverage", obs, load_schema())
    expected = spark.createDataFrame(
        [
            ("MX", "MEX", "REMIT_IN", "2018", "2020", 2, T2),
            ("WB", "MEX", "GDP", "2020", "2020", 1, T1),
        ],
        _schema_of("coverage"),
    )
    assertDataFrameEqual(table, expected)


def test_aggregates_sums_ratios_weights_and_suppression(spark) -> None:
    panel = spark.createDataFrame(
        [
            ("AAA", "2020", 10.0, 100.0),
            ("BBB", "2020", 5.0, 50.0),
            ("CCC", "2020", None, 850.0),  # GDP known, remittances not reported
            ("AAA", "2021", 12.0, None),
            ("BBB", "2021", 6.0, 60.0),
        ],
        "REF_AREA string, TIME_PERIOD string, REMIT_IN double, GDP double",
    )
    members = spark.createDataFrame(
        [("t", "G3", "Three", m, "") for m in ("AAA", "BBB", "CCC")]
        + [("t", "G2", "Two", m, "") for m in ("AAA", "BBB")],
        "GROUP_TYPE string, GROUP_CODE string, GROUP_NAME string, REF_AREA string, SOURCE string",
    )
    measures = [
        {"measure": "SUM", "numerator": "REMIT_IN", "weight": "GDP"},
        {"measure": "PCT", "numerator": "REMIT_IN", "denominator": "GDP", "scale": 100,
         "weight": "GDP"},
    ]  # fmt: skip
    table = aggregate_groups(panel, members, measures, threshold=2 / 3).select(
        "GROUP_CODE", "TIME_PERIOD", "MEASURE", "VALUE", "MEMBERS_TOTAL",
        "MEMBERS_REPORTING", "COVERAGE_SHARE", "SUPPRESSED",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            # G3 2020: AAA+BBB report, GDP weight 150 of 1000 -> 0.15 < 2/3: suppressed
            ("G3", "2020", "SUM", None, 3, 2, 0.15, True),
            ("G3", "2020", "PCT", None, 3, 2, 0.15, True),
            # G3 2021: CCC's GDP unknown -> weights by member count: 2/3 is not below 2/3
            ("G3", "2021", "SUM", 18.0, 3, 2, 2 / 3, False),
            ("G3", "2021", "PCT", None, 3, 1, 1 / 3, True),
            ("G2", "2020", "SUM", 15.0, 2, 2, 1.0, False),
            ("G2", "2020", "PCT", 10.0, 2, 2, 1.0, False),
            # G2 2021: AAA's GDP unknown -> by count; the ratio uses only BBB (both parts)
            ("G2", "2021", "SUM", 18.0, 2, 2, 1.0, False),
            ("G2", "2021", "PCT", None, 2, 1, 0.5, True),
        ],
        "GROUP_CODE string, TIME_PERIOD string, MEASURE string, VALUE double, "
        "MEMBERS_TOTAL long, MEMBERS_REPORTING long, COVERAGE_SHARE double, SUPPRESSED boolean",
    )
    assertDataFrameEqual(table, expected, rtol=1e-12)


def test_aggregates_table_over_real_groups(spark) -> None:
    schema = load_schema()
    groups = {g.code: g for g in load_groups(schema)}
    puebla = groups["RCP_PUEBLA"]
    # every Puebla member reports GDP; all but one remittances
    rows = []
    for i, m in enumerate(puebla.members):
        rows.append((m, "_Z", "GDP", "2020", 100.0 * (i + 1)))
        if m != "USA":
            rows.append((m, "_Z", "REMIT_IN", "2020", 1.0 * (i + 1)))
    table = build_table("aggregates", _obs(spark, rows), schema)
    got = table.where("GROUP_CODE = 'RCP_PUEBLA' AND MEASURE = 'REMIT_IN_PCT_GDP'").collect()
    assert len(got) == 1
    usa = puebla.members.index("USA") + 1
    total = len(puebla.members) * (len(puebla.members) + 1) / 2
    share = (total - usa) / total
    assert got[0].MEMBERS_TOTAL == 11 and got[0].MEMBERS_REPORTING == 10
    coverage, value = got[0].COVERAGE_SHARE, got[0].VALUE
    assert coverage == pytest.approx(share)
    assert value == pytest.approx(1.0) and got[0].SUPPRESSED is False

    # the same rows through the income groups and M49 regions, by hand from schemas/groups/:
    # the reporting members (USA reports no remittances) of each group a Puebla member is in
    remit = {m: i + 1 for i, m in enumerate(puebla.members) if m != "USA"}
    reporting = {
        "WB_HIC": ["CAN"],
        "WB_UMC": ["CRI", "DOM", "GTM", "MEX", "PAN"],
        "WB_LMC": ["BLZ", "HND", "NIC", "SLV"],
        "M49_019": [m for m in puebla.members if m != "USA"],  # Americas
        "M49_021": ["CAN"],  # Northern America
        "M49_029": ["DOM"],  # Caribbean
        "M49_013": ["BLZ", "CRI", "GTM", "HND", "MEX", "NIC", "PAN", "SLV"],  # Central America
    }
    expected = []
    for code, members in reporting.items():
        total = len(groups[code].members)
        if code == "M49_013":  # every member is a Puebla member: GDP known for all, all report
            usd = float(sum(remit[m] for m in members))
            pct = usd / sum(100.0 * remit[m] for m in members) * 100  # GDP is 100 x remittances
            expected += [(code, "REMIT_IN_USD", usd, total, len(members), 1.0, False),
                         (code, "REMIT_IN_PCT_GDP", pct, total, len(members), 1.0, False)]  # fmt: skip
        else:  # GDP unknown for the other members: coverage by count, far below 2/3
            share = len(members) / total
            expected += [(code, measure, None, total, len(members), share, True)
                         for measure in ("REMIT_IN_USD", "REMIT_IN_PCT_GDP")]  # fmt: skip
    others = table.where("GROUP_TYPE IN ('income', 'm49_region')").select(
        "GROUP_CODE", "MEASURE", "VALUE", "MEMBERS_TOTAL", "MEMBERS_REPORTING",
        "COVERAGE_SHARE", "SUPPRESSED",
    )  # fmt: skip
    assertDataFrameEqual(others, spark.createDataFrame(expected, others.schema), rtol=1e-12)


def test_formulas_edge_cases_by_hand(spark) -> None:
    from pyspark.sql import functions as F

    from midex.transforms import formulas as fx

    df = spark.createDataFrame(
        [(0.0, 0.0, 3.0, 100.0), (10.0, 30.0, 3.5, 200.0), (None, 5.0, None, 1.0)],
        "a double, b double, cost double, remit double",
    )
    a, b, cost, remit = F.col("a"), F.col("b"), F.col("cost"), F.col("remit")
    got = df.select(
        fx.mirror_asymmetry(a, b).alias("asym"),
        fx.asymmetry_flag(fx.mirror_asymmetry(a, b), threshold=0.2).alias("flag"),
        fx.savings_at_target_usd(remit, cost, target_pct=3.0).alias("savings"),
        fx.gap_to_target_usd(a, remit, target_pct=0.7).alias("gap"),
        fx.share_of_population_and_group(a, b, 100).alias("share"),
        fx.positive_ratio(b, a).alias("ratio"),
    )
    expected = spark.createDataFrame(
        [
            (None, False, 0.0, 0.7, None, None),  # both sides 0: no asymmetry; cost at 3%: 0
            (-1.0, True, 1.0, 0.0, 25.0, 3.0),  # (10-30)/20; 200 * 0.5%; 1.4 - 10 -> 0
            (None, False, None, None, None, None),
        ],
        "asym double, flag boolean, savings double, gap double, share double, ratio double",
    )
    assertDataFrameEqual(got, expected, rtol=1e-12)
