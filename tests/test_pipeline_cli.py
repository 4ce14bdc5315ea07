"""End to end through the `midex` CLI: submit, run, status, report, publish, tables, export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import DEMO, write

pytestmark = pytest.mark.spark

AGENCY_FILE = """REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT
MEX,BX.TRF.PWKR.CD.DT,2020,40000,6
MEX,NY.GDP.MKTP.CD,2020,1000000,6
GTM,REMIT_IN,2020,11396,6
GTM,GDP,2020,77605,6
NPL,REMIT_IN,2021,8250,6
"""
NATIONAL_REVISION = """REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT,OBS_STATUS
Mexico,REMIT_IN,2020,42.88,9,P
"""


def _setup(cli) -> None:
    assert cli("init").code == 0
    assert cli("init").code == 0  # idempotent
    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    r = cli("provider", "add", "MX", "--name", "INEGI", "--kind", "national", "--areas", "MEX")
    assert r.code == 0


def test_submission_travels_to_a_published_table(spark, midex_home: Path, tmp_path: Path, cli):
    _setup(cli)
    first = cli(
        "submit", str(write(tmp_path / "wb.csv", AGENCY_FILE)), "--provider", "WB", "--json"
    )
    assert first.code == 0, first.err
    sub = first.json()
    assert sub["status"] == "received" and len(sub["sha256"]) == 64
    landed = next((midex_home / "landing").rglob("wb.csv"))
    assert landed.read_text() == AGENCY_FILE  # kept unchanged

    assert cli("run").code == 0
    second = cli(
        "submit", str(write(tmp_path / "mx.csv", NATIONAL_REVISION)), "--provider", "MX", "--json"
    ).json()
    ran = cli("run", "--json")
    assert ran.code == 0, ran.err
    assert [s["status"] for s in ran.json()["processed"]] == ["accepted"]

    status = cli("status", str(second["id"]), "--json").json()
    assert status["status"] == "accepted" and status["rows_harmonised"] == 1
    assert [s["stage"] for s in status["stages"]] == ["parse", "harmonise", "validate"]
    assert status["resolved_at"] is not None

    published = cli("publish", "--json")
    assert published.code == 0, published.err
    release = published.json()
    assert release["release"] == 1 and release["tables"]["remittances_gdp"] == 3
    assert sorted(release["submissions"]) == [first.json()["id"], second["id"]]

    manifest = json.loads((Path(release["path"]) / "manifest.json").read_text())
    assert manifest["tables"]["remittances_gdp"]["columns"] == [
        "REF_AREA", "TIME_PERIOD", "REMIT_IN_USD", "REMIT_OUT_USD", "GDP_USD",
        "REMIT_IN_PCT_GDP", "REPORTED_REMIT_IN_PCT_GDP",
    ]  # fmt: skip

    exported = cli("export", "remittances_gdp", "--format", "csv", "--output", "-")
    assert exported.code == 0
    rows = {r["REF_AREA"]: r for r in csv.DictReader(io.StringIO(exported.out))}
    # the national revision (42.88 bn) replaced the agency's 40 bn: the latest accepted wins
    assert float(rows["MEX"]["REMIT_IN_USD"]) == pytest.approx(42.88e9)
    assert float(rows["MEX"]["REMIT_IN_PCT_GDP"]) == pytest.approx(42.88e9 / 1e12 * 100)
    assert float(rows["GTM"]["REMIT_IN_PCT_GDP"]) == pytest.approx(11396 / 77605 * 100)
    assert rows["NPL"]["GDP_USD"] == "" and rows["NPL"]["REMIT_IN_PCT_GDP"] == ""

    out = tmp_path / "obs.parquet"
    assert cli("export", "observations", "--format", "parquet", "--output", str(out)).code == 0
    obs = pq.read_table(out).to_pylist()
    assert len(obs) == 5
    mex = next(o for o in obs if o["REF_AREA"] == "MEX" and o["INDICATOR"] == "REMIT_IN")
    assert (mex["PROVIDER"], mex["SOURCE_VALUE"], mex["SOURCE_ROW"]) == ("MX", "42.88", 2)

    tables = cli("tables", "--json").json()
    assert {"observations", "remittances_gdp", "oda_target", "aggregates", "coverage"} <= {
        t["table"] for t in tables["tables"]
    }


def test_rejected_submission_reports_findings_and_contributes_nothing(
    spark, midex_home: Path, tmp_path: Path, cli
):
    _setup(cli)
    bad = write(
        tmp_path / "bad.csv",
        "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n"
        "MEX,REMIT_IN,2020,5\n"
        "USA,REMIT_IN,2020,7\n"
        "MEX,POP,2020,-3\n"
        "MEX,REMIT_IN,2020,6\n",
    )
    sub = cli("submit", str(bad), "--provider", "MX", "--json").json()
    assert cli("run").code == 0
    status = cli("status", str(sub["id"]), "--json").json()
    assert status["status"] == "rejected"
    report = cli("report", str(sub["id"]), "--format", "json").json()
    found = sorted((f["row"], f["rule"], f["severity"]) for f in report["findings"])
    assert found == [
        (2, "series_key_unique", "error"),
        (3, "area_out_of_scope", "error"),
        (4, "value_not_negative", "error"),
        (5, "series_key_unique", "error"),
    ]
    negative = next(f for f in report["findings"] if f["rule"] == "value_not_negative")
    assert negative["value"] == "-3" and negative["column"] == "OBS_VALUE"
    assert negative["series_key"] == "MEX._Z.POP._T._T.2020"
    # nothing of a rejected file reaches the observations
    assert cli("publish").code == 1
    assert "no submission was accepted" in cli("publish").err


def test_unreadable_file_is_rejected_with_the_reason_and_kept(
    spark, midex_home: Path, tmp_path: Path, cli
):
    _setup(cli)
    path = write(tmp_path / "notes.csv", "hello,world\n1,2\n")
    sub = cli("submit", str(path), "--provider", "WB", "--json").json()
    assert cli("run").code == 0
    status = cli("status", str(sub["id"]), "--json").json()
    assert status["status"] == "rejected"
    assert (
        "required column(s) REF_AREA, INDICATOR, TIME_PERIOD, OBS_VALUE missing" in status["error"]
    )
    assert Path(next((midex_home / "landing").rglob("notes.csv"))).exists()


def test_exit_codes_and_one_line_errors(midex_home: Path, tmp_path: Path, cli):
    assert cli("init").code == 0
    usage = cli("submit")  # missing argument
    assert usage.code == 2
    unknown = cli("submit", str(tmp_path / "missing.csv"), "--provider", "XX")
    assert unknown.code == 1
    assert unknown.err.strip().count("\n") == 0 and "unknown provider 'XX'" in unknown.err
    assert "Traceback" not in unknown.err
    nat = cli("provider", "add", "ZZ", "--name", "Z", "--kind", "national")
    assert nat.code == 2 and "--areas" in nat.err
    assert cli("export", "remittances_gdp").code == 1  # nothing published yet
    assert cli("status", "99").code == 1


def test_demo_prints_the_published_remittances_table(spark, midex_home: Path, cli):
    result = cli("demo")
    assert result.code == 0, result.err
    assert "remittances_gdp" in result.out
    lines = [line.split() for line in result.out.splitlines()]
    mex_2020 = next(p for p in lines if p[:2] == ["MEX", "2020"])
    # Banco de México's 42.88 bn against INEGI's 1,120.74 bn GDP
    assert mex_2020[-1] == f"{42.88 / 1120.74 * 100:.2f}"
    assert any("rejected" in line for line in result.out.splitlines())
    again = cli("demo")  # rerunning submits nothing twice and publishes a second release
    assert again.code == 0 and "release 2 published" in again.out


def test_demo_readme_describes_each_file_midex_demo_submits() -> None:
    """demo/README.md is where a reader learns what each sample file shows: its table names
    every file of demo/, each with the provider `midex demo` submits it as (kind and areas as
    registered), and no file that is not there."""
    import re

    from midex.demo import PROVIDERS, SUBMISSIONS

    text = (DEMO / "README.md").read_text("utf-8")
    cells = [[c.strip() for c in line.strip().strip("|").split("|")]
             for line in text.splitlines() if re.match(r"\| \S+\.csv \|", line)]  # fmt: skip
    described = {row[0]: row[1] for row in cells}
    assert set(described) == {p.name for p in DEMO.glob("*.csv")} == {f for f, _ in SUBMISSIONS}
    registered = {code: (str(kind), areas) for code, _, kind, areas in PROVIDERS}
    for file, provider in SUBMISSIONS:
        said = re.fullmatch(r"(\w+)(?: \((\w+)(?:, (\w+))?\))?", described[file])
        assert said and said[1] == provider, (file, described[file])
        if said[2]:  # "(agency)" or "(national, MEX)" where the provider first appears
            assert (said[2], [said[3]] if said[3] else []) == registered[provider], file
