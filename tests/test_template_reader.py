"""Reading the template CSV: encodings, delimiters, lineage, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.formats.template import read
from tests.conftest import write

HEADER = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,COMMENT\n"


def test_values_stay_as_submitted_with_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", HEADER + "MEX,GDP,2020, 1.5 ,\nPHL,POP,2021,..,note\n")
    table = read(path, "a.csv", load_schema()).to_pylist()
    assert [r["SOURCE_ROW"] for r in table] == [2, 3]
    assert table[0]["OBS_VALUE"] == " 1.5 "  # untouched: harmonisation trims
    assert table[1]["OBS_VALUE"] == ".."
    assert table[0]["SEX"] is None  # absent optional column -> null
    assert table[1]["COMMENT"] == "note"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("\ufeff" + HEADER + "CIV,POP,2020,1,Côte d'Ivoire\n", "utf-8"),
        (HEADER + "CIV,POP,2020,1,Côte d'Ivoire\n", "cp1252"),
        (HEADER.replace(",", ";") + "CIV;POP;2020;1;Côte d'Ivoire\n", "utf-8"),
        (HEADER.replace(",", "\t") + "CIV\tPOP\t2020\t1\tCôte d'Ivoire\n", "utf-8"),
    ],
    ids=["utf8-bom", "cp1252", "semicolon", "tab"],
)
def test_encodings_and_delimiters_are_detected(tmp_path: Path, text: str, encoding: str) -> None:
    path = write(tmp_path / "a.csv", text, encoding)
    rows = read(path, "a.csv", load_schema()).to_pylist()
    assert rows[0]["REF_AREA"] == "CIV"
    assert rows[0]["COMMENT"] == "Côte d'Ivoire"


def test_header_names_are_case_and_space_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", " ref_area ,Indicator,time_period,obs_value\nMEX,GDP,2020,1\n")
    assert read(path, "a.csv", load_schema()).to_pylist()[0]["INDICATOR"] == "GDP"


def test_missing_required_column_names_it(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "REF_AREA,INDICATOR,OBS_VALUE\nMEX,GDP,1\n")
    with pytest.raises(MidexError, match=r"a.csv: row 1: required column\(s\) TIME_PERIOD missing"):
        read(path, "a.csv", load_schema())


def test_ragged_row_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", HEADER + "MEX,GDP,2020,1,\nMEX,GDP,2021\n")
    with pytest.raises(MidexError, match=r"row \d+ has 3 fields, expected 5"):
        read(path, "a.csv", load_schema())


def test_empty_and_binary_files_are_refused_clearly(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(MidexError, match="empty.csv: the file is empty"):
        read(empty, "empty.csv", load_schema())
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(MidexError, match="not a text file"):
        read(binary, "x.csv", load_schema())
