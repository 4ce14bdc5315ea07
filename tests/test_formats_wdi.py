"""The WDI reader on tiny inline downloads: preamble, BOM, trailing comma, aggregates left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.formats import detect_format, read_submission
from tests.conftest import write

WDI_CSV = (
    '\ufeff"Data Source","World Development Indicators",\n'
    "\n"
    '"Last Updated Date","2021-09-15",\n'
    "\n"
    '"Country Name","Country Code","Indicator Name","Indicator Code","2019","2020",\n'
    '"Aruba","ABW","Personal remittances, paid (current US$)","BM.TRF.PWKR.CD.DT","","123.5",\n'
    '"World","WLD","Personal remittances, paid (current US$)","BM.TRF.PWKR.CD.DT","1","2",\n'
    '"Arab World","ARB","Personal remittances, paid (current US$)","BM.TRF.PWKR.CD.DT","3","4",\n'
    '"Mexico","MEX","Personal remittances, paid (current US$)","BM.TRF.PWKR.CD.DT","1000","17275765916.7066",\n'
)


def rows(table) -> list[tuple]:
    cols = ["REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "SOURCE_ROW", "SOURCE_COLUMN"]
    return list(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


def test_wdi_csv_is_detected_and_read_without_aggregates(tmp_path: Path) -> None:
    path = write(tmp_path / "API_BM.csv", WDI_CSV)
    assert detect_format(path, load_schema()) == "wdi"
    parsed = read_submission(path, "auto", load_schema())
    assert parsed.format == "wdi"
    assert rows(parsed.table) == [
        ("ABW", "BM.TRF.PWKR.CD.DT", "2020", "123.5", 6, "2020"),
        ("MEX", "BM.TRF.PWKR.CD.DT", "2019", "1000", 9, "2019"),
        ("MEX", "BM.TRF.PWKR.CD.DT", "2020", "17275765916.7066", 9, "2020"),
    ]
    aggregates = next(n for n in parsed.notes if "aggregates" in n)
    assert aggregates.startswith("2 aggregates left out")
    assert "ARB (Arab World)" in aggregates and "WLD (World)" in aggregates
    assert any(n.startswith("1 empty cells") for n in parsed.notes)


def test_wdi_csv_with_a_preamble_cut_inside_its_quotes(tmp_path: Path) -> None:
    text = (
        '"Data Source","World Development \r\n"Last Updated Date","2015-10-\r\n'
        '"Country Name","Country Code","Indicator Name","Indicator Code","1960",\r\n'
        '"Kosovo","","Net migration","SM.POP.NETM","-5",\r\n'
    )
    parsed = read_submission(write(tmp_path / "x.csv", text), "wdi", load_schema())
    # Kosovo has no code in the 2015 downloads: the name stands in for it
    assert rows(parsed.table) == [("Kosovo", "SM.POP.NETM", "1960", "-5", 4, "1960")]


def test_wdi_xlsx_data_sheet_and_region_less_metadata_rows(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    data = wb.active
    data.title = "Data"
    data.append(["Data Source", "World Development Indicators"])
    data.append(["Last Updated Date", 45056])
    data.append([])
    data.append(["Country Name", "Country Code", "Indicator Name", "Indicator Code", "2021"])
    data.append(["Philippines", "PHL", "Remittances", "BX.TRF.PWKR.CD.DT", 36685667849.5])
    data.append(["Some new group", "ZZG", "Remittances", "BX.TRF.PWKR.CD.DT", 5.0])
    meta = wb.create_sheet("Metadata - Countries")
    meta.append(["Country Code", "Region", "IncomeGroup"])
    meta.append(["PHL", "East Asia & Pacific", "Lower middle income"])
    meta.append(["ZZG", None, None])
    path = tmp_path / "wdi.xlsx"
    wb.save(path)
    assert detect_format(path, load_schema()) == "wdi"
    parsed = read_submission(path, "auto", load_schema())
    assert rows(parsed.table) == [("PHL", "BX.TRF.PWKR.CD.DT", "2021", "36685667849.5", 5, "2021")]
    assert parsed.table.column("SOURCE_SHEET").to_pylist() == ["Data"]
    assert "ZZG (Some new group)" in parsed.notes[0]


def test_wdi_metadata_file_is_refused_with_what_to_send(tmp_path: Path) -> None:
    path = write(
        tmp_path / "Metadata_Country_API.csv",
        '\ufeff"Country Code","Region","IncomeGroup","SpecialNotes","TableName",\n'
        '"ABW","Latin America & Caribbean","High income","","Aruba",\n',
    )
    assert detect_format(path, load_schema()) == "wdi"
    with pytest.raises(MidexError, match="WDI metadata file .* submit the data file"):
        read_submission(path, "auto", load_schema())


def test_wdi_without_header_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(MidexError, match="no WDI header row"):
        read_submission(path, "wdi", load_schema())
