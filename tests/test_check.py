"""`midex check`: offline (no Spark, no catalog writes), the server's rule names, rows and
messages; exit 0 when the file would be accepted, 1 when not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from midex.contract.rules import PROBLEMS
from midex.contract.schema import load_schema
from midex.contract.settings import get_settings
from midex.quality.validate import load_suite
from tests.conftest import write
from tests.test_validation_findings import HEADER, _setup, expected_findings, planted_file

# Every harmonisation problem and the value parsing, with every template column: the rows that
# planted_file does not already give (the parity test below runs both files through both
# engines). (row, line, the rule it must give or None)
EVERY_COLUMN = "REF_AREA,COUNTERPART_AREA,INDICATOR,SEX,AGE,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,OBS_STATUS\n"
MORE = [
    (2, ",,GDP,,,2020,5,,,", "required_value"),
    (3, "MEX,,,,,2020,5,,,", "required_value"),
    (4, "MEX,Atlantis,MIG_STOCK,,,2020,5,,,", "unknown_area"),
    (5, "MEX,USA,GDP,,,2020,5,,,", "not_bilateral"),
    (6, "MEX,,POP,,Y200,2020,5,,,", "unknown_code"),
    (7, "MEX,,POP,,,2021,5,,,Z", "unknown_code"),
    (8, "MEX,,GDP,,,2021,5,,x,", "bad_unit_mult"),
    (9, "MEX,,GDP,,,2022,5,,99,", "bad_unit_mult"),
    (10, "MEX,,GDP,,,2023,5,FOO,,", "unknown_unit"),
    (11, "MEX,,GDP,,,2024,5,PERSONS,,", "unit_mismatch"),
    (12, "MEX,,MIG_STOCK,,,2020-Q1,100,,3,", None),
    (13, "MEX,,MIG_STOCK,,,2020-Q2,1000,,3,", "change_from_previous"),
    (14, "MEX,,MIG_STOCK,,,2019-12,1,,,", None),
    (15, "MEX,,MIG_STOCK,,,2020-01,5,,,", "change_from_previous"),
    (16, "MEX,,MIG_STOCK,,,2020-02,6,,,E", None),
    (17, "MEX,,GDP,,,2010,..,,,", None),
    (18, "MEX,,MIG_STOCK,,,2021,-1,,,", "value_not_negative"),
    (19, "MEX,,GDP,,,1999,inf,,,", "bad_number"),
    (20, "MEX,,GDP,,,1998,1_000,,,", "bad_number"),
    (21, "MEX,,GDP,,,1990,1.5,,-3,", None),
    (22, "MEX,,GDP,,,1985,12,,+3,", None),
    (23, "MEX,,GDP,,,1980, 1e3 ,usd,,", None),
    (24, "MEX,,POP,f,Y15T64,2020, 7 ,,, p", None),
]
# Rules no file can reach offline, and why.
NOT_FROM_A_FILE = {
    "no_exchange_rate": "reads the lake's exchange rates: the server only (check notes it)",
    "required_columns": "the server's harmonised table structure, not the file's rows",
    "code_in_codelist": "harmonisation quarantines an unknown code before validation sees it",
}


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


def _more_file(path: Path) -> Path:
    return write(path, EVERY_COLUMN + "".join(line + "\n" for _, line, _ in MORE))


def test_check_finds_every_problem_of_every_column(midex_home: Path, tmp_path: Path, cli) -> None:
    result = cli("check", str(_more_file(tmp_path / "more.csv")), "--report", "json")
    found = sorted((f["row"], f["rule"]) for f in result.json()["findings"])
    assert found == sorted((row, rule) for row, _, rule in MORE if rule)


def test_the_parity_files_reach_every_rule() -> None:
    """The parity test below covers every declared rule but those no file can reach."""
    settings = get_settings()
    suite = load_suite(settings.expectations / "harmonised.yaml", load_schema(settings.schemas))
    declared = {p.rule for p in PROBLEMS} | {e.rule for e in suite.expectations}
    planted = {f[1] for f in expected_findings()} | {rule for _, _, rule in MORE if rule}
    assert declared - set(NOT_FROM_A_FILE) == planted
    assert set(NOT_FROM_A_FILE) <= declared


@pytest.mark.spark
@pytest.mark.parametrize("which", ["planted", "every_column"])
def test_check_and_the_server_agree_on_the_same_file(
    spark, midex_home: Path, tmp_path: Path, cli, which: str
) -> None:
    _setup(cli)
    path = (
        planted_file(tmp_path / "planted.csv")
        if which == "planted"
        else _more_file(tmp_path / "more.csv")
    )
    offline = cli("check", str(path), "--provider", "MX", "--report", "json").json()["findings"]
    assert offline
    sub = cli("submit", str(path), "--provider", "MX", "--json").json()
    assert cli("run", "--submission", str(sub["id"])).code == 0
    server = cli("report", str(sub["id"]), "--format", "json").json()["findings"]

    def key(f: dict) -> str:
        return json.dumps(f, sort_keys=True)

    assert sorted(map(key, offline)) == sorted(map(key, server))


def test_an_engine_frame_without_a_declared_column_is_refused() -> None:
    """Both engines' frames are held to rules.FRAME_COLUMNS (offline: but the lake's columns)."""
    from midex.contract.rules import FRAME_COLUMNS, SERVER_ONLY, check_frame

    check_frame(set(FRAME_COLUMNS) - SERVER_ONLY, "offline", server=False)
    with pytest.raises(RuntimeError, match=r"the Spark harmonisation frame lacks FX_RATE"):
        check_frame(set(FRAME_COLUMNS) - SERVER_ONLY, "Spark", server=True)
    with pytest.raises(RuntimeError, match=r"offline harmonisation frame lacks _MULT, _PERIOD"):
        check_frame(set(FRAME_COLUMNS) - {"_MULT", "_PERIOD"}, "offline", server=False)
