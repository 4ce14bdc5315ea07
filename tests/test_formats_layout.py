"""Declarative layouts (schemas/layouts/*.yaml) on tiny inline files, in an isolated schema copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.formats import detect_format, format_names, read_submission
from tests.conftest import REAL_DATA, REPO, write


@pytest.fixture
def layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of schemas/ whose layouts folder the test fills."""
    root = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", root)
    shutil.rmtree(root / "layouts")
    (root / "layouts").mkdir()
    monkeypatch.setenv("MIDEX_SCHEMAS", str(root))  # settings are read on every call
    return root / "layouts"


def table_rows(parsed, *cols: str) -> list[tuple]:
    return list(zip(*(parsed.table.column(c).to_pylist() for c in cols), strict=True))


WIDE = """\
# a national office's remittance workbook, exported as CSV in cp437
description: test layout
detect: {contains: ["Pays", "Type"]}
encoding: cp437
delimiter: ";"
header: {contains: "Pays"}
end: blank_row
dimensions:
  REF_AREA: Pays
values:
  columns: '^\\d{4}'
  header_is: TIME_PERIOD
  header_pattern: '^(\\d{4})'
where_not_blank: [Type]
fixed: {INDICATOR: REMIT_IN, UNIT_MULT: "6"}
numbers: {decimal: ",", thousands: " "}
missing: ["n.d."]
"""


def test_wide_layout_reads_years_as_columns(layouts: Path, tmp_path: Path) -> None:
    (layouts / "office_remit.yaml").write_text(WIDE, encoding="utf-8")
    text = (
        "Banque centrale;;;\n"
        "\n"
        "Pays;Type;2021 (p);2022\n"
        "Côte d'Ivoire;C; 1 234,5;n.d.\n"
        "Afrique de l'Ouest;;99;98\n"
        "World;C;1;2\n"
        "Sénégal;C;2 670;2 750,25\n"
        "\n"
        "Source: banque centrale\n"
    )
    path = write(tmp_path / "remit.csv", text, encoding="cp437")
    schema = load_schema()  # the schema copy, its layouts folder filled
    assert detect_format(path, schema) == "layout:office_remit"
    assert "layout:office_remit" in format_names(schema)
    parsed = read_submission(path, "auto", schema)
    assert parsed.format == "layout:office_remit"
    assert table_rows(
        parsed, "REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "UNIT_MULT", "SOURCE_ROW",
        "SOURCE_COLUMN",
    ) == [
        ("Côte d'Ivoire", "REMIT_IN", "2021", "1234.5", "6", 4, "2021 (p)"),
        ("Sénégal", "REMIT_IN", "2021", "2670", "6", 7, "2021 (p)"),
        ("Sénégal", "REMIT_IN", "2022", "2750.25", "6", 7, "2022"),
    ]  # fmt: skip
    notes = " | ".join(parsed.notes)
    assert "1 rows of aggregates" in notes and "World" in notes
    assert "1 rows left out by the layout's filter: Type blank (1)" in notes
    assert "1 empty or missing cells" in notes


def test_long_layout_with_code_map_and_sheet_blocks(layouts: Path, tmp_path: Path) -> None:
    from openpyxl import Workbook

    (layouts / "flows.yaml").write_text(
        """
sheet: Flows
header: 2
dimensions: {REF_AREA: Country, COUNTERPART_AREA: Origin, TIME_PERIOD: Year, INDICATOR: Kind}
codes:
  INDICATOR: {Arrivals: MIG_INFLOW}
  COUNTERPART_AREA: {"-": ""}
where: {Kind: [Arrivals]}
comment: [Source]
values:
  - {columns: [Men], fixed: {SEX: M}}
  - {columns: [Women], fixed: {SEX: F}}
""",
        encoding="utf-8",
    )
    wb = Workbook()
    ws = wb.active
    ws.title = "Flows"
    ws.append(["Migration flows"])
    ws.append(["Country", "Origin", "Year", "Kind", "Men", "Women", "Source"])
    ws.append(["PHL", "-", 2022, "Arrivals", 10, 12.5, "register"])
    ws.append(["PHL", "USA", 2022, "Departures", 1, 1, None])
    path = tmp_path / "flows.xlsx"
    wb.save(path)
    parsed = read_submission(path, "layout:flows", load_schema())
    assert table_rows(
        parsed, "REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "TIME_PERIOD", "OBS_VALUE",
        "COMMENT", "SOURCE_ROW", "SOURCE_SHEET",
    ) == [
        ("PHL", "", "MIG_INFLOW", "M", "2022", "10", "Source: register", 3, "Flows"),
        ("PHL", "", "MIG_INFLOW", "F", "2022", "12.5", "Source: register", 3, "Flows"),
    ]  # fmt: skip


def test_layout_errors_name_the_file_and_what_to_do(layouts: Path, tmp_path: Path) -> None:
    (layouts / "office_remit.yaml").write_text(WIDE, encoding="utf-8")
    other = write(tmp_path / "other.csv", "a;b\n1;2\n")
    with pytest.raises(MidexError, match="other.csv: no header row with a cell 'Pays'"):
        read_submission(other, "layout:office_remit", load_schema())
    with pytest.raises(MidexError, match="unknown layout 'nope'; known layouts: office_remit"):
        read_submission(other, "layout:nope", load_schema())
    (layouts / "typo.yaml").write_text("header: 1\nvalue: [x]\n", encoding="utf-8")
    with pytest.raises(MidexError, match="layout typo: unknown key"):
        read_submission(other, "layout:typo", load_schema())


def test_a_broken_layout_file_is_named_by_its_name_not_its_path(
    layouts: Path, tmp_path: Path
) -> None:
    """The YAML parser's own message holds the file's full path on the server: what reaches a
    provider says the layout's name, the line and column, and what is wrong."""
    other = write(tmp_path / "other.csv", "a;b\n1;2\n")
    (layouts / "broken.yaml").write_text("header: 1\nvalues: [x\nend: blank_row\n")
    (layouts / "latin.yaml").write_bytes("description: d\u00e9j\u00e0 vu\n".encode("latin-1"))
    for name, needle in (("broken", r"not valid YAML at line \d+, column \d+: "),
                         ("latin", "not UTF-8 text")):  # fmt: skip
        with pytest.raises(MidexError, match=f"layout {name}: {needle}") as caught:
            read_submission(other, f"layout:{name}", load_schema())
        message = str(caught.value)
        assert str(tmp_path) not in message and "/" not in message, message
        assert ".yaml" not in message and "the layout file" in message


def test_shipped_layouts_all_load() -> None:
    """Every layout in schemas/layouts parses with known keys and names a value column."""
    from midex.formats.layout import load_layout

    names = sorted(p.stem for p in (REPO / "schemas" / "layouts").glob("*.yaml"))
    assert {"knomad_remittance_inflows", "undesa_2013_origin_destination"} <= set(names)
    for name in names:
        doc = load_layout(name, load_schema())
        tables = doc.get("tables") or [doc]
        assert all("values" in t or "values" in doc for t in tables), name


MATRIX = """\
description: a destination x origin matrix with its own totals
detect: {contains: ["Destination", "Code"]}
delimiter: ","
header: {contains: "Destination"}
dimensions:
  REF_AREA: Code
where_not_blank: [Type]
total_rows:
  - where: {REF_AREA: ["900"]}
    fixed: {INDICATOR: EMIG_STOCK}
    swap: [REF_AREA, COUNTERPART_AREA]
values:
  columns: "D:"
  header_is: COUNTERPART_AREA
fixed: {INDICATOR: MIG_STOCK, TIME_PERIOD: "2020"}
numbers: {decimal: ",", thousands: " "}
zeros: missing
"""


def test_a_matrix_keeps_its_totals_residuals_and_declared_zeros(
    layouts: Path, tmp_path: Path
) -> None:
    """The World column is the partner-less total (_Z), Other South a residual partner, the WORLD
    row (a total row) each origin's EMIG_STOCK, and the file's zeros (zeros: missing, in any
    notation) no values; the World x World and World x Other South cells have no area."""
    (layouts / "matrix.yaml").write_text(MATRIX, encoding="utf-8")
    text = (
        "Destination,Code,Type,World,Other South,Mexico,Guatemala\n"
        'WORLD,900,,"1 000",10,600,"390"\n'
        "Latin America,904,,700,5,400,295\n"
        'United States,840,B,"800",8,"500,0","0,00"\n'
        "Channel Islands,830,B,12,0,2,10\n"
    )
    parsed = read_submission(write(tmp_path / "m.csv", text), "layout:matrix", load_schema())
    rows = table_rows(parsed, "REF_AREA", "COUNTERPART_AREA", "INDICATOR", "OBS_VALUE")
    assert rows == [
        ("Mexico", "_Z", "EMIG_STOCK", "600"),  # the WORLD row, read by origin
        ("Guatemala", "_Z", "EMIG_STOCK", "390"),
        ("840", "_Z", "MIG_STOCK", "800"),
        ("840", "Other South", "MIG_STOCK", "8"),
        ("840", "Mexico", "MIG_STOCK", "500.0"),
        ("830", "_Z", "MIG_STOCK", "12"),
        ("830", "Mexico", "MIG_STOCK", "2"),
        ("830", "Guatemala", "MIG_STOCK", "10"),
    ]
    notes = " | ".join(parsed.notes)
    assert "2 cells of exactly 0 read as no data" in notes
    assert "2 cells of the source's total rows left out" in notes
    assert "Type blank (1)" in notes  # the region; the WORLD row is read before the filter

    (layouts / "matrix.yaml").write_text(MATRIX.replace("zeros: missing", "zeros: some"))
    with pytest.raises(MidexError, match="zeros must be 'missing' or 'values'"):
        read_submission(write(tmp_path / "m.csv", text), "layout:matrix", load_schema())


SUM_PARTS = """\
description: an office that reports a country as its parts
header: 1
shape: wide
dimensions:
  REF_AREA: Code
values:
  columns: '^\\d{4}$'
  header_is: TIME_PERIOD
sum_parts:
  TZA: ["835", "836"]
fixed:
  INDICATOR: GNI
"""


def test_an_area_given_only_as_its_parts_is_their_exact_sum(layouts: Path, tmp_path: Path) -> None:
    """sum_parts: TZA = Mainland (835) + Zanzibar (836), added exactly where both have a value;
    a year where a part has none is left out and noted, never published as a part's value."""
    (layouts / "parts.yaml").write_text(SUM_PARTS, encoding="utf-8")
    text = "Code,1989,1990,1991\n835,100.1,200.2,\n836,,0.1,5\nKEN,7,8,9\n"
    parsed = read_submission(write(tmp_path / "gni.csv", text), "layout:parts", load_schema())
    rows = table_rows(parsed, "REF_AREA", "TIME_PERIOD", "OBS_VALUE", "SOURCE_ROW", "COMMENT")
    assert rows == [
        ("KEN", "1989", "7", 4, None),
        ("KEN", "1990", "8", 4, None),
        ("KEN", "1991", "9", 4, None),
        ("TZA", "1990", "200.3", 2, "sum of parts 835 (row 2), 836 (row 3)"),
    ]
    notes = " | ".join(parsed.notes)
    assert "2 values left out because a part of the area had none" in notes, notes
    assert "TZA 1989" in notes and "TZA 1991" in notes


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/real is not there")
def test_unsd_ama_tanzania_is_mainland_plus_zanzibar() -> None:
    """The UNSD AMA workbook gives Tanzania only as 835 and 836 (former_areas on their own):
    TZA's GNI is their sum for 1990-2020, where Zanzibar has figures; none before."""
    from openpyxl import load_workbook

    path = REAL_DATA / "unsd_ama_gni_current_usd_all_countries.xlsx"
    wb = load_workbook(path, read_only=True)
    rows = [r for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    header = next(r for r in rows if "CountryID" in r)
    parts = {r[0]: dict(zip(header, r, strict=True)) for r in rows if r[0] in (835, 836)}
    parsed = read_submission(path, "auto", load_schema())
    assert parsed.format == "layout:unsd_ama_gni_current_usd"
    tza = {
        r["TIME_PERIOD"]: float(r["OBS_VALUE"])
        for r in parsed.table.to_pylist()
        if r["REF_AREA"] == "TZA"
    }
    assert sorted(tza) == [str(y) for y in range(1990, 2021)]
    for year, value in tza.items():
        assert value == pytest.approx(parts[835][int(year)] + parts[836][int(year)], rel=1e-12)
    assert "835" not in parsed.table.column("REF_AREA").to_pylist()


def test_sum_parts_says_what_is_wrong(layouts: Path, tmp_path: Path) -> None:
    """A part that is not a number is an error naming its row and column, not a crash; a
    sum_parts that is not a list of two or more parts is the layout's error; a part spelled in
    another case is still that part."""
    (layouts / "parts.yaml").write_text(SUM_PARTS.replace('"835"', '"Mainland"'), "utf-8")
    text = "Code,1990\nMAINLAND,1.5\n836,2\n"
    parsed = read_submission(write(tmp_path / "ok.csv", text), "layout:parts", load_schema())
    assert table_rows(parsed, "REF_AREA", "OBS_VALUE") == [("TZA", "3.5")]
    bad = write(tmp_path / "bad.csv", "Code,1990\nMainland,about 1\n836,2\n")
    with pytest.raises(MidexError, match=r"bad\.csv: row 2, column 1990: 'about 1' is not a num"):
        read_submission(bad, "layout:parts", load_schema())
    for broken in ('["835"]', '"835"', '["835", "835"]'):
        (layouts / "parts.yaml").write_text(SUM_PARTS.replace('["835", "836"]', broken), "utf-8")
        with pytest.raises(MidexError, match=r"layout parts: sum_parts must map each area"):
            read_submission(write(tmp_path / "x.csv", text), "layout:parts", load_schema())
