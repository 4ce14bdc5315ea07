"""Validation end to end: each kind of problem planted at a known row comes back as a finding
with that row, rule and severity; warnings accept the file and flag the value in the lake; the
previous period comes from the same file or from the lake; `midex report` in every format."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import write

pytestmark = pytest.mark.spark

HEADER = "REF_AREA,COUNTERPART_AREA,INDICATOR,SEX,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"

# (row as the provider sees it, the line, the finding it must give or None)
PLANTED = [
    (2, "MEX,,REMIT_IN,,2020,5,", None),
    (3, "Narnia,,GDP,,2020,5,", ("unknown_area", "error")),
    (4, "MEX,,FOO,,2020,1,", ("unknown_indicator", "error")),
    (5, "MEX,,POP,,2020x,1,", ("bad_period", "error")),
    (6, "MEX,,GDP,,2019,abc,", ("bad_number", "error")),
    (7, "USA,,GDP,,2020,1,", ("area_out_of_scope", "error")),
    (8, "MEX,,MIG_STOCK,,2020,-4,", ("value_not_negative", "error")),
    (9, "MEX,,REMIT_COST_IN,,2020,150,", ("percentage_out_of_range", "error")),
    (10, "MEX,,POP,,2020,0,", ("value_not_positive", "error")),
    (11, "MEX,,EXCHANGE_RATE,,2020,0,", ("value_not_positive", "error")),
    (12, "MEX,,MIG_STOCK,M,2021,10,", None),
    (13, "MEX,,MIG_STOCK,F,2021,10,", None),
    (14, "MEX,,MIG_STOCK,_T,2021,30,", ("sex_breakdown", "warning")),
    (15, "MEX,,REMIT_IN,,2021,5,", ("series_key_unique", "error")),
    (16, "MEX,,REMIT_IN,,2021,6,", ("series_key_unique", "error")),
    (17, "MEX,,GDP,,2022,100,", None),
    (18, "MEX,,REMIT_IN,,2022,5,", None),
    (19, "MEX,,REMIT_IN_PCT_GDP,,2022,9,", ("ratio_coherence", "warning")),
    (20, "MEX,,GDP,,2023,1000,", ("change_from_previous", "warning")),
    (21, "MEX,,POP,X,2019,5,", ("unknown_code", "error")),
    (22, "MEX,USA,MIG_STOCK,,2022,10,", None),
    (23, "MEX,Other South,MIG_STOCK,,2022,10,", None),  # a residual partner (XOS) is a part
    (24, "MEX,,MIG_STOCK,,2022,50,", ("partner_breakdown", "warning")),
]


def planted_file(path: Path) -> Path:
    return write(path, HEADER + "".join(line + "\n" for _, line, _ in PLANTED))


def expected_findings() -> list[tuple[int, str, str]]:
    return sorted((row, *f) for row, _, f in PLANTED if f is not None)


def _setup(cli) -> None:
    assert cli("init").code == 0
    assert cli("provider", "add", "MX", "--name", "INEGI", "--kind", "national",
               "--areas", "MEX").code == 0  # fmt: skip


def _run(cli, path: Path) -> dict:
    sub = cli("submit", str(path), "--provider", "MX", "--json").json()
    assert cli("run", "--submission", str(sub["id"])).code == 0
    return cli("report", str(sub["id"]), "--format", "json").json()


def test_every_planted_problem_is_found_at_its_row(
    spark, midex_home: Path, tmp_path: Path, cli
) -> None:
    _setup(cli)
    report = _run(cli, planted_file(tmp_path / "planted.csv"))
    assert report["status"] == "rejected"
    assert set(report) == {"submission", "status", "findings"}
    found = sorted((f["row"], f["rule"], f["severity"]) for f in report["findings"])
    assert found == expected_findings()
    for f in report["findings"]:
        assert set(f) == {"severity", "rule", "row", "sheet", "column", "value", "series_key",
                          "message"}  # fmt: skip
        assert f["message"]
    by_rule = {f["rule"]: f for f in report["findings"]}
    sex = by_rule["sex_breakdown"]
    assert (sex["column"], sex["value"], sex["series_key"]) == (
        "OBS_VALUE", "30", "MEX._Z.MIG_STOCK._T._T.2021")  # fmt: skip
    assert "male 10 + female 10 = 20" in sex["message"]
    assert "which gives 5" in by_rule["ratio_coherence"]["message"]
    change = by_rule["change_from_previous"]
    assert "10 times the value for 2022 (100)" in change["message"]
    partner = by_rule["partner_breakdown"]
    assert "total over all partners 50 is not the sum of the 2 partner rows" in partner["message"]
    assert ", 20 (relative tolerance 0.01)" in partner["message"]
    assert by_rule["bad_number"]["value"] == "abc"
    assert by_rule["unknown_area"]["column"] == "REF_AREA"
    # status shows counts by severity; a rejected file contributes nothing
    status = cli("status", str(report["submission"]), "--json").json()
    assert (status["errors"], status["warnings"]) == (12, 4)
    assert not (midex_home / "lake" / "resolved" / "observations").exists()

    # the other report formats carry the same findings
    text = cli("report", str(report["submission"])).out
    assert "WARNING sex_breakdown: 1 finding(s)" in text
    assert "WARNING change_from_previous: 1 finding(s)" in text
    assert "row 14, column OBS_VALUE, value '30'" in text
    lines = list(csv.DictReader(io.StringIO(cli("report", str(report["submission"]),
                                                "--format", "csv").out)))  # fmt: skip
    assert sorted((int(r["row"]), r["rule"], r["severity"]) for r in lines) == found
    page = tmp_path / "report.html"
    assert cli("report", str(report["submission"]), "--format", "html",
               "--output", str(page)).code == 0  # fmt: skip
    html = page.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "sex_breakdown" in html
    assert "<script" not in html and "http" not in html and "<link" not in html
    assert cli("report", str(report["submission"]), "--format", "xml").code == 2


def test_warnings_accept_and_flag_values_and_previous_period_comes_from_the_lake(
    spark, midex_home: Path, tmp_path: Path, cli
) -> None:
    _setup(cli)
    first = write(
        tmp_path / "first.csv",
        HEADER + "MEX,,GDP,,2022,100,\nMEX,,GDP,,2023,1000,\nMEX,,REMIT_IN,,2023,5,\n",
    )
    report = _run(cli, first)
    assert report["status"] == "accepted"
    assert [(f["row"], f["rule"], f["severity"]) for f in report["findings"]] == [
        (3, "change_from_previous", "warning")
    ]
    harmonised = pq.read_table(
        midex_home / "lake" / "harmonised" / f"submission={report['submission']}"
    ).to_pylist()
    flags = {(r["INDICATOR"], r["TIME_PERIOD"]): r["VALIDATION_FLAGS"] for r in harmonised}
    assert flags == {
        ("GDP", "2022"): None,
        ("GDP", "2023"): ["change_from_previous"],
        ("REMIT_IN", "2023"): None,
    }
    observations = pq.read_table(midex_home / "lake" / "resolved" / "observations").to_pylist()
    flagged = {(o["INDICATOR"], o["TIME_PERIOD"]): o["VALIDATION_FLAGS"] for o in observations}
    assert flagged[("GDP", "2023")] == ["change_from_previous"]

    # a later file: REMIT_IN 2024 is compared with 2023 from the lake's observations
    second = write(tmp_path / "second.csv", HEADER + "MEX,,REMIT_IN,,2024,50,\n")
    later = _run(cli, second)
    assert later["status"] == "accepted"
    assert [(f["row"], f["rule"], f["severity"]) for f in later["findings"]] == [
        (2, "change_from_previous", "warning")
    ]
    assert "10 times the value for 2023 (5)" in later["findings"][0]["message"]
