"""Releases end to end through the CLI: publish (manifest, bundle, report, checks, embargo),
export in every format, explain back to the submitted rows, diff between releases."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, write

pytestmark = pytest.mark.spark

AGENCY = """REF_AREA,COUNTERPART_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT
MEX,,REMIT_IN,2020,40600,6
MEX,,GDP,2020,1090000,6
MEX,,ODA_RECEIVED,2020,300,6
MEX,,FDI_IN,2020,28000,6
MEX,,REMIT_COST_IN,2020,4.5,0
MEX,USA,EMIG_STOCK,2020,12000000,0
MEX,USA,REMIT_IN,2020,40000,6
USA,MEX,MIG_STOCK,2020,10900000,0
USA,MEX,REMIT_OUT,2020,30000,6
SWE,,ODA_GIVEN,2020,6300,6
SWE,,GNI,2020,550000,6
ITA,,ODA_GIVEN_PCT_GNI,2020,0.22,0
ITA,,GNI,2020,1900000,6
"""
REVISION = """REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT
Mexico,REMIT_IN,2020,42.88,9
"""
CONTRACT = {
    "remittances_gdp": [
        "REF_AREA", "TIME_PERIOD", "REMIT_IN_USD", "REMIT_OUT_USD", "GDP_USD",
        "REMIT_IN_PCT_GDP", "REPORTED_REMIT_IN_PCT_GDP",
    ],
    "coverage": [
        "PROVIDER", "REF_AREA", "INDICATOR", "FIRST_PERIOD", "LAST_PERIOD", "N_PERIODS",
        "LAST_ACCEPTED_AT",
    ],
}  # fmt: skip


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_publish_export_explain_diff_and_embargo(
    spark, midex_home: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("init").code == 0
    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    r = cli("provider", "add", "MX", "--name", "INEGI", "--kind", "national", "--areas", "MEX")
    assert r.code == 0
    sub = cli("submit", str(write(tmp_path / "wb.csv", AGENCY)), "--provider", "WB", "--json")
    ran = cli("run", "--json")
    assert ran.code == 0, ran.err
    assert [s["status"] for s in ran.json()["processed"]] == ["accepted"], ran.out

    first = cli("publish", "--json")
    assert first.code == 0, first.err
    release = first.json()
    folder = Path(release["path"])
    manifest = json.loads((folder / "manifest.json").read_text())
    impact = {n for n, t in manifest["tables"].items() if t["kind"] == "impact"}
    assert impact == {
        "remittances_gdp", "development_finance", "oda_target", "migration_profile",
        "corridors", "remittance_cost", "aggregates", "coverage",
    }  # fmt: skip
    for name, columns in CONTRACT.items():
        assert manifest["tables"][name]["columns"] == columns
    for entry in manifest["tables"].values():  # every checksum is the file's
        assert hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["source_submissions"][0]["id"] == sub.json()["id"]
    assert manifest["source_submissions"][0]["provider"] == "WB"
    assert manifest["mapping_versions"] and manifest["embargo_until"] is None

    with zipfile.ZipFile(folder / f"release-{release['release']}.zip") as bundle:
        names = set(bundle.namelist())
        assert {"manifest.json", "report.html", "oda_target.csv", "observations.csv"} <= names
        assert json.loads(bundle.read("manifest.json")) == manifest
        for name, entry in manifest["tables"].items():  # every CSV is deflated, its hash right
            info = bundle.getinfo(entry["csv"]["file"])
            assert info.compress_type == zipfile.ZIP_DEFLATED, name
            payload = bundle.read(info)
            assert hashlib.sha256(payload).hexdigest() == entry["csv"]["sha256"], name
            assert payload.count(b"\n") == entry["rows"] + 1, name  # header + one line a row
        oda_csv = bundle.read("oda_target.csv")
        assert (
            hashlib.sha256(oda_csv).hexdigest() == manifest["tables"]["oda_target"]["csv"]["sha256"]
        )
    oda = {r["REF_AREA"]: r for r in _rows(oda_csv.decode())}
    assert float(oda["ITA"]["ODA_GIVEN_USD"]) == pytest.approx(0.22 * 1.9e12 / 100)
    assert float(oda["ITA"]["GAP_TO_TARGET_USD"]) == pytest.approx(0.007 * 1.9e12 - 4.18e9)
    assert oda["SWE"]["TARGET_MET"] == "true" and oda["ITA"]["TARGET_MET"] == "false"

    report = (folder / "report.html").read_text()
    assert report.count("<svg") == 4 and "<script" not in report and " src=" not in report
    assert "0.7% target" in report and "MEX→USA 2020" in report

    # export: SDMX-CSV (wide table melted with MEASURE), JSON, Parquet
    sdmx = cli("export", "remittances_gdp", "--format", "sdmx-csv")
    assert sdmx.code == 0, sdmx.err
    lines = sdmx.out.splitlines()
    assert lines[0] == (
        "STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,TIME_PERIOD,MEASURE,OBS_VALUE,UNIT_MEASURE"
    )
    pct = next(r for r in _rows(sdmx.out) if r["MEASURE"] == "REMIT_IN_PCT_GDP")
    assert pct["STRUCTURE"] == "dataflow" and pct["STRUCTURE_ID"].startswith("MIDEX:DF_")
    assert float(pct["OBS_VALUE"]) == pytest.approx(40.6 / 1090 * 100)
    assert pct["UNIT_MEASURE"] == "PCT"
    long = _rows(cli("export", "aggregates", "--format", "sdmx-csv").out)
    assert long and {"GROUP_CODE", "MEASURE", "OBS_VALUE", "COVERAGE_SHARE"} <= set(long[0])
    corridors = json.loads(cli("export", "corridors", "--format", "json").out)
    mex_usa = next(r for r in corridors["rows"] if r["ORIGIN"] == "MEX")
    assert mex_usa["REMIT_ASYMMETRY"] == pytest.approx((40 - 30) / 35)
    assert mex_usa["ASYMMETRY_FLAG"] is True
    assert {c["name"] for c in corridors["columns"]} >= {"ORIGIN", "DESTINATION"}
    assert cli("export", "corridors", "--format", "xlsx").code == 1

    # explain: from a published value back to the submitted rows
    explained = cli(
        "explain", "remittances_gdp", "--where", "REF_AREA=MEX", "--where", "TIME_PERIOD=2020",
        "--json",
    )  # fmt: skip
    assert explained.code == 0, explained.err
    (item,) = explained.json()["rows"]
    sources = {o["INDICATOR"]: o for o in item["observations"]}
    assert set(sources) == {"REMIT_IN", "GDP"}
    assert (sources["REMIT_IN"]["SOURCE_ROW"], sources["REMIT_IN"]["SOURCE_VALUE"]) == (2, "40600")
    assert sources["GDP"]["PROVIDER"] == "WB" and sources["GDP"]["SOURCE_FILE"] == "wb.csv"
    mirror = cli("explain", "corridors", "--where", "ORIGIN=MEX", "--json").json()["rows"][0]
    assert {(o["REF_AREA"], o["INDICATOR"], o["SOURCE_ROW"]) for o in mirror["observations"]} == {
        ("MEX", "EMIG_STOCK", 7), ("MEX", "REMIT_IN", 8), ("USA", "MIG_STOCK", 9),
        ("USA", "REMIT_OUT", 10),
    }  # fmt: skip
    text = cli("explain", "oda_target", "--where", "REF_AREA=ITA")
    assert text.code == 0 and "ODA_GIVEN_PCT_GNI" in text.out and "0.22" in text.out
    assert cli("explain", "oda_target").code == 2  # --where is required

    # a national revision, published under embargo: not the default until it lifts
    cli("submit", str(write(tmp_path / "mx.csv", REVISION)), "--provider", "MX")
    assert cli("run").code == 0
    second = cli("publish", "--embargo-until", "2999-01-01", "--json")
    assert second.code == 0, second.err
    assert second.json()["release"] == 2 and second.json()["embargo_until"].startswith("2999")
    default = _rows(cli("export", "remittances_gdp").out)
    assert float(default[0]["REMIT_IN_USD"]) == pytest.approx(40.6e9)  # still release 1
    assert cli("tables", "--json").json()["release"] == 1
    named = _rows(cli("export", "remittances_gdp", "--release", "2").out)
    assert float(named[0]["REMIT_IN_USD"]) == pytest.approx(42.88e9)

    changes = cli("diff", "1", "2", "--table", "remittances_gdp", "--json").json()["changes"]
    revised = {(c["column"], c["old"], c["new"]) for c in changes if c["change"] == "revised"}
    assert ("REMIT_IN_USD", 40.6e9, 42.88e9) in revised
    assert {c["column"] for c in changes} == {"REMIT_IN_USD", "REMIT_IN_PCT_GDP"}
    everything = cli("diff", "1", "2")
    assert everything.code == 0 and "revised" in everything.out and "observations" in everything.out

    # an error-level table check stops the release, with the table, rule and rows named
    strict = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", strict)
    suite = strict / "tables" / "oda_target.yaml"
    suite.write_text(
        suite.read_text().replace(
            "severity: warning\n    type: expect_column_values_to_be_between\n"
            "    kwargs: {column: ODA_PCT_GNI, min_value: 0, max_value: 3}",
            "severity: error\n    type: expect_column_values_to_be_between\n"
            "    kwargs: {column: ODA_PCT_GNI, min_value: 0, max_value: 0.5}",
        )
    )
    monkeypatch.setenv("MIDEX_EXPECTATIONS", str(strict))
    stopped = cli("publish")
    assert stopped.code == 1
    assert "release stopped" in stopped.err and "oda_target column ODA_PCT_GNI" in stopped.err
    assert "plausible_oda_share" in stopped.err
    assert not (folder.parent / "3").exists()
    # the observations were being written while the checks ran: nothing of them is left
    assert not [p.name for p in folder.parent.iterdir() if p.name.startswith(".tmp-")]
    assert [r["release"] for r in [cli("tables", "--release", "2", "--json").json()]] == [2]
    monkeypatch.delenv("MIDEX_EXPECTATIONS")

    # the README's consumer commands, as a user types them (publish is exercised above)
    monkeypatch.chdir(tmp_path)
    for args in _readme_consumer_commands():
        if args[0] != "publish":
            result = cli(*args)
            assert result.code == 0, (args, result.err)
    assert (tmp_path / "obs.parquet").exists()


def _readme_consumer_commands() -> list[list[str]]:
    import shlex

    readme = (REPO / "README.md").read_text("utf-8")
    block = readme.split("## For consumers", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]
    assert all(c[0] == "midex" for c in commands) and len(commands) >= 7
    return [c[1:] for c in commands]
