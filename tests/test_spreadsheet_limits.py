"""Spreadsheets cannot exhaust the machine (issue 20, criterion 3): an .xlsx is checked from its
zip directory before it is opened (unpacked size, packing ratio, shared strings), a sheet's
declared dimension and its rows against limits in Settings; a wrong <dimension> tag neither
drops rows nor pads them to 16,384 columns; the real workbooks pass every default limit."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.contract.settings import Settings
from midex.formats import read_submission, sheets
from midex.formats.template import read_workbook
from tests.conftest import REAL_DATA

pytestmark = pytest.mark.fault  # the fault and abuse suite: pytest -m fault

HEADER = ["REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE"]
LIMITS = (
    "MIDEX_XLSX_MAX_UNCOMPRESSED_BYTES",
    "MIDEX_XLSX_MAX_RATIO",
    "MIDEX_XLSX_MAX_SHARED_STRINGS_BYTES",
    "MIDEX_XLSX_MAX_CELLS",
    "MIDEX_XLSX_MAX_ROWS",
)


@pytest.fixture(autouse=True)
def _default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in LIMITS:
        monkeypatch.delenv(var, raising=False)


def _data(n: int) -> list[list[object]]:
    return [HEADER] + [["FRA", "SM_POP_NETM", str(2000 + i), i * 10] for i in range(n)]


def _xlsx(path: Path, rows: list[list[object]], title: str = "Data") -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def _rewrite(path: Path, part: str, edit: Callable[[bytes], bytes]) -> Path:
    """The workbook with one part of its zip changed (the others copied as they are)."""
    with zipfile.ZipFile(path) as zf:
        parts = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in parts:
            zf.writestr(info, edit(data) if info.filename == part else data)
    return path


def _dimension(ref: str) -> Callable[[bytes], bytes]:
    def edit(xml: bytes) -> bytes:
        out, n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), xml)
        assert n == 1, "the sheet XML has no <dimension> tag to rewrite"
        return out

    return edit


SHEET = "xl/worksheets/sheet1.xml"


# ------------------------------------------------------------- a <dimension> tag that is wrong


def test_a_short_dimension_tag_drops_no_row(tmp_path: Path) -> None:
    """11 data rows, a tag that says A1:C3: all 11 rows are read (openpyxl's read-only mode
    stops at the tag's last row unless told otherwise)."""
    path = _rewrite(_xlsx(tmp_path / "short.xlsx", _data(11)), SHEET, _dimension("A1:C3"))
    sheet = sheets.read_sheet(path, "short.xlsx")
    assert sheet.rows == [[str(c) for c in r] for r in _data(11)]
    table = read_workbook(path, "short.xlsx", load_schema())
    assert table.num_rows == 11
    assert table.column("TIME_PERIOD").to_pylist() == [str(2000 + i) for i in range(11)]
    assert read_submission(path, "auto", load_schema()).table.num_rows == 11


def test_a_narrow_dimension_tag_drops_no_column(tmp_path: Path) -> None:
    path = _rewrite(_xlsx(tmp_path / "narrow.xlsx", _data(4)), SHEET, _dimension("A1:B5"))
    assert sheets.read_sheet(path, "narrow.xlsx").rows == [[str(c) for c in r] for r in _data(4)]


def test_rows_are_not_padded_to_the_declared_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tag that says A1:XFD5, and a row whose only cell is a styled empty one in column XFD:
    no row is turned into 16,384 cells (each cell becomes text: count how many)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    for row in _data(2):
        ws.append(row)
    ws.cell(row=4, column=16384).font = Font(bold=True)  # an empty, formatted cell at XFD4
    wb.save(tmp_path / "wide.xlsx")
    path = _rewrite(tmp_path / "wide.xlsx", SHEET, _dimension("A1:XFD5"))
    texts = 0
    cell_text = sheets.cell_text

    def counted(value: object) -> str:
        nonlocal texts
        texts += 1
        return cell_text(value)

    monkeypatch.setattr(sheets, "cell_text", counted)
    sheet = sheets.read_sheet(path, "wide.xlsx")
    assert sheet.rows == [[str(c) for c in r] for r in _data(2)] + [[]]
    assert max(len(r) for r in sheet.rows) == 4
    assert texts <= 3 * 4  # the cells that are there, not 5 x 16,384


def test_first_rows_for_detection(tmp_path: Path) -> None:
    """The first rows of a sheet, checked and read as read_sheet reads them."""
    path = _rewrite(_xlsx(tmp_path / "head.xlsx", _data(11)), SHEET, _dimension("A1:XFD2"))
    expected = [[str(c) for c in r] for r in _data(11)]
    assert sheets.first_rows(path, "head.xlsx", None, 5) == expected[:5]
    assert sheets.first_rows(path, "head.xlsx", "Data", 30) == expected
    assert sheets.first_rows(path, "head.xlsx", "Other", 5) is None
    bomb = _rewrite(
        path, SHEET, lambda xml: xml.replace(b"</worksheet>", b" " * 8_000_000 + b"</worksheet>")
    )
    with pytest.raises(MidexError, match="times its packed size"):
        sheets.first_rows(bomb, "head.xlsx", None, 5)


# ------------------------------------------------------------------------------- the limits


def test_more_rows_than_the_limit_says_to_send_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row limit, with the dimension tag telling the truth (refused before reading) and
    with a tag that hides the rows (refused while reading)."""
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "100")
    honest = _xlsx(tmp_path / "tall.xlsx", _data(150))
    hidden = _rewrite(_xlsx(tmp_path / "hidden.xlsx", _data(150)), SHEET, _dimension("A1:D3"))
    for path in (honest, hidden):
        with pytest.raises(MidexError) as err:
            sheets.read_sheet(path, path.name)
        message = str(err.value)
        assert message.startswith(f"{path.name}: ")
        assert "100" in message and "rows" in message and "send the data as CSV" in message
        with pytest.raises(MidexError, match="send the data as CSV"):
            read_submission(path, "auto", load_schema())
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "151")
    assert len(sheets.read_sheet(honest, "tall.xlsx").rows) == 151


def _prefixed(xml: bytes) -> bytes:
    """The sheet as some writers put it: every element under the prefix x:."""
    xml = re.sub(rb"<(/?)([A-Za-z]\w*)", rb"<\1x:\2", xml)
    return xml.replace(b'xmlns="', b'xmlns:x="', 1)


def test_rows_are_counted_before_opening_whatever_the_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _rewrite(_xlsx(tmp_path / "x.xlsx", _data(150)), SHEET, _prefixed)
    assert len(sheets.read_sheet(path, "x.xlsx").rows) == 151
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "100")
    with pytest.raises(MidexError, match=r"x\.xlsx: sheet 'Data' has 151 rows \(its dimension"):
        sheets.check_xlsx(path, "x.xlsx")
    path = _rewrite(path, SHEET, lambda xml: re.sub(rb"<x:dimension [^>]*/>", b"", xml))
    with pytest.raises(MidexError, match=r"x\.xlsx: sheet 'Data' has more than 100 rows"):
        sheets.check_xlsx(path, "x.xlsx")


def test_rows_are_counted_before_opening_under_a_prefix_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows and cells under a prefix that is not the root's (declared on each row) are the
    same elements to openpyxl, and are counted as such before it opens the workbook."""
    main = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"

    def own_prefix(xml: bytes) -> bytes:
        xml = re.sub(rb"<dimension [^>]*/>", b"", xml)
        xml = xml.replace(b"<row ", b'<y:row xmlns:y="' + main + b'" ').replace(
            b"</row>", b"</y:row>"
        )
        return xml.replace(b"<c ", b"<y:c ").replace(b"</c>", b"</y:c>")

    path = _rewrite(_xlsx(tmp_path / "y.xlsx", _data(150)), SHEET, own_prefix)
    assert b"<y:row " in zipfile.ZipFile(path).read(SHEET)
    assert len(sheets.read_sheet(path, "y.xlsx").rows) == 151  # openpyxl reads them
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "100")
    with pytest.raises(MidexError, match=r"y\.xlsx: sheet 'Data' has more than 100 rows"):
        sheets.check_xlsx(path, "y.xlsx")
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "1000")
    monkeypatch.setenv("MIDEX_XLSX_MAX_CELLS", "400")
    with pytest.raises(MidexError, match=r"y\.xlsx: sheet 'Data' has more than 400 cells"):
        sheets.check_xlsx(path, "y.xlsx")


def test_a_sheet_found_only_through_the_workbook_relationships_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet part that [Content_Types].xml does not list, outside xl/worksheets/, is still a
    sheet to openpyxl (it follows xl/_rels/workbook.xml.rels): it is counted before opening."""
    source = _xlsx(tmp_path / "source.xlsx", _data(150))
    path = tmp_path / "hidden.xlsx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "[Content_Types].xml":
                data = re.sub(rb'<Override PartName="/xl/worksheets/sheet1.xml"[^>]*/>', b"", data)
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"worksheets/sheet1.xml", b"data/cells.xml")
            zout.writestr("xl/data/cells.xml" if info.filename == SHEET else info.filename, data)
    assert len(sheets.read_sheet(path, "hidden.xlsx").rows) == 151  # openpyxl finds the sheet
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "100")
    with pytest.raises(MidexError, match=r"hidden\.xlsx: sheet 'Data' has 151 rows"):
        sheets.check_xlsx(path, "hidden.xlsx")


def test_rows_of_empty_styled_cells_count_as_the_cells_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of styled empty cells (no value) still cost what they hold when they are read."""
    monkeypatch.setattr(sheets, "_check_sheet", lambda *args: None)
    rows = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{c}{r}" s="1"/>' for c in "ABCDEFGHIJ") + "</row>"
        for r in range(3, 60)
    )
    path = _rewrite(
        _xlsx(tmp_path / "styled.xlsx", _data(1)),
        SHEET,
        lambda xml: xml.replace(b"</sheetData>", rows.encode() + b"</sheetData>"),
    )
    monkeypatch.setenv("MIDEX_XLSX_MAX_CELLS", "300")
    with pytest.raises(MidexError, match=r"styled\.xlsx: .*more than 300 cells"):
        sheets.read_sheet(path, "styled.xlsx")


def test_rows_and_cells_are_counted_again_as_they_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the tag count before opening miss them, reading stops at the limits too."""
    monkeypatch.setattr(sheets, "_check_sheet", lambda *args: None)
    path = _rewrite(_xlsx(tmp_path / "hidden.xlsx", _data(150)), SHEET, _dimension("A1:D3"))
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "100")
    with pytest.raises(
        MidexError, match=r"hidden\.xlsx: .*more than 100 rows.*send the data as CSV"
    ):
        sheets.read_sheet(path, "hidden.xlsx")
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "1000")
    monkeypatch.setenv("MIDEX_XLSX_MAX_CELLS", "400")
    with pytest.raises(MidexError, match=r"hidden\.xlsx: .*more than 400 cells.*CSV"):
        sheets.read_sheet(path, "hidden.xlsx")


def test_a_huge_declared_dimension_is_refused_before_reading(tmp_path: Path) -> None:
    path = _rewrite(_xlsx(tmp_path / "huge.xlsx", _data(3)), SHEET, _dimension("A1:XFD1048576"))
    with pytest.raises(MidexError) as err:
        sheets.read_sheet(path, "huge.xlsx")
    message = str(err.value)
    assert message.startswith("huge.xlsx: ")
    assert "A1:XFD1048576" in message and "17,179,869,184" in message
    assert f"{Settings().xlsx_max_cells:,}" in message and "CSV" in message


def test_more_cells_than_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag that understates the size does not get the cells past the cell limit: the cell
    tags are counted before the workbook is opened."""
    monkeypatch.setenv("MIDEX_XLSX_MAX_CELLS", "40")
    path = _rewrite(_xlsx(tmp_path / "cells.xlsx", _data(20)), SHEET, _dimension("A1:B2"))
    with pytest.raises(MidexError, match=r"cells\.xlsx: .*more than 40 cells.*CSV"):
        sheets.read_sheet(path, "cells.xlsx")


def test_a_zip_bomb_is_refused_by_its_packing_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet padded with 8 MB of blanks packs to a few KB: refused from the zip directory,
    with the default limit; it opens once the ratio limit allows it."""
    path = _rewrite(
        _xlsx(tmp_path / "bomb.xlsx", _data(3)),
        SHEET,
        lambda xml: xml.replace(b"</worksheet>", b" " * 8_000_000 + b"</worksheet>"),
    )
    with pytest.raises(MidexError) as err:
        sheets.read_sheet(path, "bomb.xlsx")
    message = str(err.value)
    assert message.startswith("bomb.xlsx: ") and SHEET in message
    assert (
        "times its packed size" in message and f"limit of {Settings().xlsx_max_ratio:g}" in message
    )
    with pytest.raises(MidexError, match="times its packed size"):
        sheets.sheet_names(path, "bomb.xlsx")
    with pytest.raises(MidexError, match="times its packed size"):
        read_submission(path, "auto", load_schema())
    monkeypatch.setenv("MIDEX_XLSX_MAX_RATIO", "1000000")
    assert len(sheets.read_sheet(path, "bomb.xlsx").rows) == 4


def test_the_unpacked_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _xlsx(tmp_path / "big.xlsx", _data(3))
    with zipfile.ZipFile(path) as zf:
        unpacked = sum(i.file_size for i in zf.infolist())
    monkeypatch.setenv("MIDEX_XLSX_MAX_UNCOMPRESSED_BYTES", str(unpacked - 1))
    with pytest.raises(MidexError) as err:
        sheets.sheet_names(path, "big.xlsx")
    message = str(err.value)
    assert f"{unpacked:,} bytes" in message and f"{unpacked - 1:,}" in message
    assert message.startswith("big.xlsx: ") and "CSV" in message and "split" in message
    monkeypatch.setenv("MIDEX_XLSX_MAX_UNCOMPRESSED_BYTES", str(unpacked))
    assert sheets.sheet_names(path, "big.xlsx") == ["Data"]


def _shared_strings(path: Path, part: str) -> Path:
    """The workbook with its text in a shared-strings part (openpyxl writes it inline), as
    Excel saves it: cells t="s" pointing into the table, the part declared in the content types
    and the workbook's relationships."""
    with zipfile.ZipFile(path) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    strings: list[bytes] = []

    def shared(m: re.Match[bytes]) -> bytes:
        strings.append(m.group(2))
        return m.group(1) + b' t="s"><v>' + str(len(strings) - 1).encode() + b"</v></c>"

    parts[SHEET] = re.sub(
        rb'(<c r="[A-Z]+\d+")(?: s="\d+")? t="inlineStr"><is><t>([^<]*)</t></is></c>',
        shared,
        parts[SHEET],
    )
    parts[part] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns='
        b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" '
        b'uniqueCount="%d">'
        % (len(strings), len(strings))
        + b"".join(b"<si><t>" + t + b"</t></si>" for t in strings)
        + b"</sst>"
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/%s" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.sharedStrings+xml"/></Types>' % part.encode(),
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/officeDocument/'
        b'2006/relationships/sharedStrings" Target="/%s"/></Relationships>' % part.encode(),
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for filename, data in parts.items():
            zf.writestr(filename, data)
    return path


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/text.xml"])
def test_the_shared_strings_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    """Found by its name or by its declared content type, as openpyxl finds it."""
    rows = [HEADER] + [[f"area {i}", f"indicator {i}", "2000", 1] for i in range(200)]
    path = _shared_strings(_xlsx(tmp_path / "strings.xlsx", rows), part)
    with zipfile.ZipFile(path) as zf:
        size = zf.getinfo(part).file_size
    assert size > 5000
    monkeypatch.setenv("MIDEX_XLSX_MAX_SHARED_STRINGS_BYTES", "5000")
    with pytest.raises(MidexError) as err:
        sheets.read_sheet(path, "strings.xlsx")
    message = str(err.value)
    assert message.startswith("strings.xlsx: ") and "shared-strings" in message
    assert f"{size:,} bytes" in message and "5,000" in message and "CSV" in message
    monkeypatch.setenv("MIDEX_XLSX_MAX_SHARED_STRINGS_BYTES", str(size))
    assert sheets.read_sheet(path, "strings.xlsx").rows == [[str(c) for c in r] for r in rows]


def test_a_damaged_zip_is_still_called_damaged(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "cut.xlsx", _data(3))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(MidexError, match="cut.xlsx: the Excel \\(.xlsx\\) workbook cannot be"):
        sheets.read_sheet(path, "cut.xlsx")


def test_an_encrypted_part_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """zipfile raises RuntimeError for an encrypted part: a message, not a crash."""
    import struct

    path = _xlsx(tmp_path / "locked.xlsx", _data(3))
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")  # each central directory entry: flag the sheet encrypted
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == SHEET.encode():
            data[at + 8] |= 1
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(MidexError, match="locked.xlsx: the workbook cannot be unpacked .*password"):
        sheets.read_sheet(path, "locked.xlsx")


# ---------------------------------------------------------------- .xls (real WDI workbook)

_WDI_XLS = REAL_DATA / "wb_wdi_SM.POP.NETM_net_migration.xls"
_needs_real = pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/real is not there")


@_needs_real
def test_xls_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """An .xls is not packed: its file size counts as its unpacked size; its sheets' cells
    (rows x columns, 270 x 67 in the WDI Data sheet) are checked once the sheet is loaded."""
    name = _WDI_XLS.name
    monkeypatch.setenv("MIDEX_XLSX_MAX_CELLS", "10000")
    with pytest.raises(MidexError) as err:
        sheets.read_sheet(_WDI_XLS, name, "Data")
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "18,090 cells" in message and "10,000" in message
    assert "CSV" in message
    monkeypatch.delenv("MIDEX_XLSX_MAX_CELLS")
    monkeypatch.setenv("MIDEX_XLSX_MAX_ROWS", "200")
    with pytest.raises(MidexError, match="270 rows.*200.*send the data as CSV"):
        sheets.read_sheet(_WDI_XLS, name, "Data")
    monkeypatch.delenv("MIDEX_XLSX_MAX_ROWS")
    monkeypatch.setenv("MIDEX_XLSX_MAX_UNCOMPRESSED_BYTES", "100000")
    with pytest.raises(MidexError, match=f"{re.escape(name)}: .*245,760 bytes.*100,000"):
        sheets.sheet_names(_WDI_XLS, name)


# ------------------------------------------------------- the real workbooks pass the defaults


@_needs_real
@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in REAL_DATA.glob("*.xls*")) if REAL_DATA.is_dir() else [],
)
def test_real_workbooks_pass_every_default_limit(name: str) -> None:
    """Every sheet of every real workbook is read under the default limits, to its last row
    holding a value (as the spreadsheet library sees it, read without midex's checks)."""
    path = REAL_DATA / name
    for title in sheets.sheet_names(path, name):
        rows = sheets.read_sheet(path, name, title).rows
        last = max((i for i, r in enumerate(rows, 1) if not sheets.blank(r)), default=0)
        assert last == _last_row_with_a_value(path, title), title
    parsed = read_submission(path, "auto", load_schema())
    assert parsed.table.num_rows > 0 and parsed.format != "template"


def _last_row_with_a_value(path: Path, title: str) -> int:
    if path.suffix == ".xls":
        import xlrd

        ws = xlrd.open_workbook(str(path)).sheet_by_name(title)
        values = [ws.row_values(i) for i in range(ws.nrows)]
    else:
        from openpyxl import load_workbook

        wb = load_workbook(path, data_only=True)  # not read-only: every cell, as Excel has it
        values = [list(r) for r in wb[title].iter_rows(values_only=True)]
        wb.close()
    filled = [i for i, r in enumerate(values, 1) if any(str(v).strip() for v in r if v is not None)]
    return filled[-1] if filled else 0


def test_the_reader_process_uses_the_deployments_settings_not_the_environment(
    tmp_path: Path,
) -> None:
    """The limits a file is read under are those of the Context that parses it (given to the
    reader's process), whatever the environment says: a service started with its own Settings
    holds its uploads to them."""
    from midex.stages import Context, init, parse_stage, receive
    from midex.storage.catalog import ProviderKind

    ctx = Context.open(Settings(home=tmp_path / "midex", xlsx_max_rows=5))
    init(ctx)
    ctx.catalog.add_provider("AG", "Agency", ProviderKind.agency)
    path = _xlsx(tmp_path / "ten.xlsx", _data(10))
    sub = receive(ctx, path, "AG", "template", new=True).submission
    assert sub.id is not None
    after = parse_stage(ctx, sub.id)
    assert str(after.status) == "rejected", after.error
    assert after.error is not None and "over the limit of 5 rows" in after.error
