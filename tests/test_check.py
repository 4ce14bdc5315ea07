"""`midex check`: offline (no Spark, no catalog writes), the server's rule names, rows and
messages; exit 0 when the file would be accepted, 1 when not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write
from tests.test_validation_findings import HEADER, _setup, expected_findings, planted_file


def test_check_finds_every_planted_problem_at_its_row_offline(
    midex_home: Path, tmp_path: Path, cli
) -> None:
    _setup(cli)  # the provider's areas come from the catalog
    path = planted_file(tmp_path / "planted.csv")
    catalog = midex_home / "catalog.db"
    before = catalog.stat().st_mtime_ns
    result = cli("check", str(path), "--provider", "MX", "--report", "json")
    assert result.code == 1
    report = result.json()
    assert report["status"] == "rejected" and report["format"] == "template"
    found = sorted((f["row"], f["rule"], f["severity"]) for f in report["findings"])
    assert found == expected_findings()
    assert catalog.stat().st_mtime_ns == before  # nothing written
    text = cli("check", str(path), "--provider", "MX").out
    assert "would be rejected" in text
    assert "row 6, column OBS_VALUE, value 'abc': OBS_VALUE 'abc' is not a number" in text


def test_check_without_provider_skips_the_area_scope(midex_home: Path, tmp_path: Path, cli):
    result = cli("check", str(planted_file(tmp_path / "planted.csv")), "--report", "json")
    rules = {(f["row"], f["rule"]) for f in result.json()["findings"]}
    assert (7, "area_out_of_scope") not in rules
    assert (3, "unknown_area") in rules


def test_a_clean_file_exits_0_and_warnings_do_not_fail_it(midex_home: Path, tmp_path: Path, cli):
    clean = write(tmp_path / "clean.csv", HEADER + "MEX,,GDP,,2022,100,\nMEX,,GDP,,2023,110,\n")
    result = cli("check", str(clean))
    assert result.code == 0, result.out
    assert "would be accepted" in result.out and "no problems found" in result.out
    jump = write(tmp_path / "jump.csv", HEADER + "MEX,,GDP,,2022,100,\nMEX,,GDP,,2023,1000,\n")
    result = cli("check", str(jump), "--report", "json")
    assert result.code == 0
    assert [(f["row"], f["rule"], f["severity"]) for f in result.json()["findings"]] == [
        (3, "change_from_previous", "warning")
    ]


def test_an_unreadable_file_is_one_clear_error(midex_home: Path, tmp_path: Path, cli) -> None:
    bad = write(tmp_path / "notes.csv", "hello,world\n1,2\n")
    result = cli("check", str(bad), "--report", "json")
    assert result.code == 1
    (finding,) = result.json()["findings"]
    assert finding["rule"] == "file_unreadable"
    assert (
        "required column(s) REF_AREA, INDICATOR, TIME_PERIOD, OBS_VALUE missing"
        in finding["message"]
    )


def test_check_usage_errors(midex_home: Path, tmp_path: Path, cli) -> None:
    assert cli("check", str(tmp_path / "absent.csv")).code == 2
    path = planted_file(tmp_path / "planted.csv")
    assert cli("check", str(path), "--report", "xml").code == 2
    # --provider without a catalog: say what to do
    result = cli("check", str(path), "--provider", "MX")
    assert result.code == 2 and "midex provider add" in result.err


def test_check_reports_csv_and_html(midex_home: Path, tmp_path: Path, cli) -> None:
    path = planted_file(tmp_path / "planted.csv")
    lines = cli("check", str(path), "--report", "csv").out.strip().splitlines()
    assert lines[0] == "severity,rule,row,sheet,column,value,series_key,message"
    assert len(lines) == 1 + len(expected_findings()) - 1  # no area scope without --provider
    html = cli("check", str(path), "--report", "html").out
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html


def test_check_runs_without_spark(midex_home: Path, tmp_path: Path) -> None:
    path = planted_file(tmp_path / "planted.csv")
    code = (
        "import sys; from midex.cli.main import main; rc = main(['check', sys.argv[1]]); "
        "assert 'pyspark.sql' not in sys.modules and 'great_expectations' not in sys.modules; "
        "sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "would be rejected" in done.stdout


@pytest.mark.spark
def test_check_and_the_server_agree_on_the_same_file(
    spark, midex_home: Path, tmp_path: Path, cli
) -> None:
    _setup(cli)
    path = planted_file(tmp_path / "planted.csv")
    offline = cli("check", str(path), "--provider", "MX", "--report", "json").json()["findings"]
    sub = cli("submit", str(path), "--provider", "MX", "--json").json()
    assert cli("run", "--submission", str(sub["id"])).code == 0
    server = cli("report", str(sub["id"]), "--format", "json").json()["findings"]

    def key(f: dict) -> str:
        return json.dumps(f, sort_keys=True)

    assert sorted(map(key, offline)) == sorted(map(key, server))
