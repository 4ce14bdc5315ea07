"""Opening a provider's file as rows of text: CSV/TSV text (encoding and delimiter found or
declared), Excel .xlsx (openpyxl, read-only) and .xls (xlrd). Row numbers are the ones a
spreadsheet user sees (1-based records). Every failure is a MidexError saying what to do.

A workbook cannot exhaust the machine: before an .xlsx is opened, its zip directory (unpacked
size, packing ratio, shared strings) and every sheet (declared dimension, row and cell tags
counted as it is unpacked as a stream) are checked against the MIDEX_XLSX_* settings
(docs/security.md), and rows and cells are counted again as they are read. A sheet is read as
it is, whatever its <dimension> tag says: no row dropped, no row padded to the declared width."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
import xlrd
from openpyxl.utils.cell import range_boundaries

from midex.contract.errors import MidexError
from midex.contract.settings import Settings, get_settings
from midex.formats.raw import cell_text

_HEAD = 64 * 1024
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


@dataclass
class Sheet:
    name: str | None  # sheet name; None for a text file
    rows: list[list[str]]  # rows[i] is spreadsheet row i + 1

    def row(self, number: int) -> list[str]:
        return self.rows[number - 1] if 0 < number <= len(self.rows) else []


def head(path: Path, size: int = _HEAD) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def kind(path: Path) -> str:
    """'xlsx', 'xls', 'xml', 'text', 'empty' or 'binary', from the file's first bytes."""
    start = head(path)
    if not start.strip():
        return "empty"
    if start.startswith(XLSX_MAGIC):
        return "xlsx"
    if start.startswith(XLS_MAGIC):
        return "xls"
    text = start.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "xml"
    if b"\x00" in start:
        return "binary"
    return "text"


def check_readable(path: Path, name: str) -> str:
    """kind(path), refusing empty and binary files with what to do."""
    found = kind(path)
    if found == "empty":
        raise MidexError(f"{name}: the file is empty; export the data again and resubmit")
    if found == "binary":
        raise MidexError(
            f"{name}: this is not a text file (binary content) nor an Excel workbook; "
            "save it as CSV or .xlsx and resubmit"
        )
    return found


def detect_encoding(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 4 and len(data) >= _HEAD:  # a character cut by the window
            return "utf-8"
        return "cp1252"


_CHUNK = 8 * 1024 * 1024
# a UTF-8 encoded character outside ASCII: in a file read as Windows-1252 it is mojibake ("Ã©")
_UTF8_CHAR = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def check_text_bytes(path: Path, name: str, encoding: str) -> None:
    """Refuse what decoding would pass silently: a NUL byte anywhere (a binary or damaged file),
    and parts of one file in different encodings (UTF-8 in a file that starts as Windows-1252,
    or bytes that are not UTF-8 in one that starts as UTF-8). Reads the file in chunks; the
    message names the line."""
    utf8 = encoding.replace("_", "-").lower().startswith("utf-8")
    decoder = codecs.getincrementaldecoder("utf-8")() if utf8 else None
    line, tail = 1, b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            nul = chunk.find(b"\x00")
            if nul >= 0:
                at = line + chunk.count(b"\n", 0, nul)
                raise MidexError(
                    f"{name}: line {at}: a NUL byte (\\0): the file is binary or damaged, not "
                    "text; export it again as CSV (UTF-8) and resubmit"
                )
            if decoder is not None:
                try:
                    decoder.decode(chunk, final)
                except UnicodeDecodeError as exc:
                    at = line + chunk.count(b"\n", 0, max(exc.start, 0))
                    raise MidexError(
                        f"{name}: line {at}: byte 0x{chunk[exc.start]:02x} is not UTF-8, but "
                        "the file starts as UTF-8: it mixes encodings (parts pasted from "
                        "another file?); save the whole file as CSV UTF-8 and resubmit"
                    ) from None
            else:
                window = tail + chunk
                found = _UTF8_CHAR.search(window)
                if found is not None:
                    at = line - tail.count(b"\n") + window.count(b"\n", 0, found.start())
                    raise MidexError(
                        f"{name}: line {at}: {found.group().decode('utf-8')!r} is written in "
                        f"UTF-8, but the file starts in another encoding ({encoding}): it mixes "
                        "encodings and would be read as garbled text; save the whole file as "
                        "CSV UTF-8 and resubmit"
                    )
                tail = chunk[-3:]
            if final:
                return
            line += chunk.count(b"\n")


_LINE_END = re.compile(r"\r\n|\r|\n")


def text_lines(text: str) -> list[str]:
    """The lines of a file's text, ended where a CSV reader ends a row (CR LF, CR or LF), not at
    every separator str.splitlines knows (U+2028, NEL, form feed …: text inside a cell)."""
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_text(path: Path, name: str, encoding: str | None = None) -> str:
    data = path.read_bytes()
    enc = encoding or detect_encoding(data[:_HEAD] if len(data) > _HEAD else data)
    if encoding is None:  # a declared encoding (a layout's) is the provider's own statement
        check_text_bytes(path, name, enc)
    elif b"\x00" in data:
        check_text_bytes(path, name, enc)  # says which line
    try:
        return data.decode(enc)
    except (UnicodeDecodeError, LookupError) as exc:
        raise MidexError(
            f"{name}: cannot read the file as {enc} text ({exc}); save it as UTF-8 CSV "
            "or declare its encoding in the layout"
        ) from exc


def text_rows(text: str, delimiter: str | None = None) -> list[list[str]]:
    """CSV records (quoted newlines kept inside their cell); delimiter sniffed if not given."""
    if delimiter is None:
        first = next((line for line in text_lines(text) if line.strip()), "")
        counts = {d: first.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


# a path on this machine, as a library's error text may carry it (the landed file's): never shown
_SERVER_PATH = re.compile(r"""(?:[A-Za-z]:)?[\\/](?:[^\s'"\\/]+[\\/])+[^\s'",;)]*""")


def _reason(exc: BaseException) -> str:
    """What a reader library said about a file, for the provider: on one line, short, and with
    any server path in it replaced (openpyxl and xlrd name the file they were given)."""
    text = " ".join(_SERVER_PATH.sub("the file", str(exc)).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _damaged(name: str, what: str, exc: BaseException) -> MidexError:
    return MidexError(
        f"{name}: the {what} workbook cannot be opened ({_reason(exc)}); "
        "it is damaged or was cut off during upload: save it again in Excel and resubmit"
    )


def _pick(names: list[str], wanted: str | int | None, name: str) -> str:
    if wanted is None:
        return names[0]
    if isinstance(wanted, int):
        if 0 <= wanted < len(names):
            return names[wanted]
    else:
        for n in names:
            if n.strip().lower() == str(wanted).strip().lower():
                return n
    raise MidexError(
        f"{name}: the workbook has no sheet {wanted!r} (sheets: {', '.join(names)}); "
        "check that this is the right file for the chosen format"
    )


# the ratio is checked on parts at least this big: a small part may pack as well as it likes
_RATIO_FLOOR = 1024 * 1024
_SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_SHEET_HEAD = 64 * 1024  # the <dimension> tag comes before the cells, in the first bytes
_ROOT = re.compile(rb"<(\w+:)?worksheet[\s>]")
_DIMENSION = re.compile(rb"""<(?:[\w.-]+:)?dimension\s[^>]*?\bref\s*=\s*(["'])(.*?)\1""")
# a row or cell start tag under any prefix (or none); a prefix longer than this is not counted
# here but is when the rows are read (_xlsx_rows)
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,100}:)?row[\s>/]")
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,100}:)?c[\s>/]")
_TAG_KEEP = 110  # the longest tag either pattern matches, less one
_TO_DO = "send the data as CSV, or split the workbook into smaller ones"


def check_xlsx(path: Path, name: str, limits: Settings | None = None) -> None:
    """Refuse an .xlsx that would exhaust the machine once opened. From the zip's directory
    (declared sizes: zipfile never unpacks more than a part declares): the unpacked size and
    the packing ratio (a zip bomb); from the small parts that list the others: the size of the
    shared strings, which openpyxl reads whole when it opens a workbook. Then every sheet is
    unpacked as a stream, never held whole, and its <dimension> tag (declared rows and cells)
    and its row and cell tags (what it really holds) are counted against the limits: a sheet
    without the tag would otherwise be parsed whole each time the workbook is opened."""
    limits = limits or get_settings()
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > limits.xlsx_max_uncompressed_bytes:
                raise MidexError(
                    f"{name}: the workbook unpacks to {total:,} bytes, over the limit of "
                    f"{limits.xlsx_max_uncompressed_bytes:,} bytes; {_TO_DO}"
                )
            whole = ("the workbook as a whole", total, sum(i.compress_size for i in infos))
            for part, size, packed in [
                *((i.filename, i.file_size, i.compress_size) for i in infos),
                whole,
            ]:
                if size >= _RATIO_FLOOR and size > limits.xlsx_max_ratio * max(packed, 1):
                    raise MidexError(
                        f"{name}: {part} unpacks to {size / max(packed, 1):,.0f} times its "
                        f"packed size ({size:,} bytes), over the limit of "
                        f"{limits.xlsx_max_ratio:g}: this is not how a spreadsheet packs (a zip "
                        "bomb?); save the workbook again in Excel, or send the data as CSV"
                    )
            types = _content_types(zf)
            strings = {"xl/sharedStrings.xml"} | types.get(_SHARED_STRINGS_TYPE, set())
            size = sum(i.file_size for i in infos if i.filename in strings)
            if size > limits.xlsx_max_shared_strings_bytes:
                raise MidexError(
                    f"{name}: its shared-strings table (the text of its cells) is {size:,} "
                    f"bytes, over the limit of {limits.xlsx_max_shared_strings_bytes:,} bytes; "
                    f"{_TO_DO}"
                )
            titles = _sheet_titles(zf)
            # every part a reader could take for a sheet: by content type, by the workbook's
            # relationships (how openpyxl finds them), by the usual place
            parts = types.get(_WORKSHEET_TYPE, set()) | set(titles)
            parts |= {
                i.filename for i in infos if re.fullmatch(r"xl/worksheets/[^/]+\.xml", i.filename)
            }
            for part in sorted(parts & set(zf.namelist())):
                _check_sheet(zf, part, name, titles.get(part, part), limits)
    except MidexError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error) as exc:
        raise _damaged(name, "Excel (.xlsx)", exc) from exc
    except (RuntimeError, NotImplementedError) as exc:  # zipfile: encrypted, unknown packing
        raise MidexError(
            f"{name}: the workbook cannot be unpacked ({exc}); save it again in Excel, without "
            "a password, and resubmit"
        ) from exc


def _content_types(zf: zipfile.ZipFile) -> dict[str, set[str]]:
    """Part names by content type, from [Content_Types].xml (where openpyxl finds them)."""
    try:
        root = ElementTree.fromstring(zf.read("[Content_Types].xml"))
    except (KeyError, ElementTree.ParseError):
        return {}  # openpyxl says what is wrong when it opens the workbook
    found: dict[str, set[str]] = {}
    for e in root:
        if e.tag.endswith("Override"):
            found.setdefault(e.get("ContentType", ""), set()).add(e.get("PartName", "")[1:])
    return found


def _sheet_titles(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet titles by worksheet part, for the messages ({} when the workbook lists none)."""
    try:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {}
    for rel in rels:
        target = rel.get("Target", "")
        targets[rel.get("Id")] = target[1:] if target.startswith("/") else f"xl/{target}"
    return {
        targets[rid]: sheet.get("name", "")
        for sheet in book.iter()
        if sheet.tag.endswith("}sheet")
        for key, rid in sheet.attrib.items()
        if key.endswith("}id") and rid in targets
    }


def _check_sheet(zf: zipfile.ZipFile, part: str, name: str, title: str, limits: Settings) -> None:
    """A sheet's declared dimension, then its row and cell tags counted as it is unpacked (the
    text of a cell is escaped: a '<' in the XML always starts a tag)."""
    with zf.open(part) as fh:
        chunk = fh.read(_SHEET_HEAD)
        root = _ROOT.search(chunk)
        prefix = (root.group(1) or b"") if root else b""
        declared = _DIMENSION.search(chunk.split(b"<" + prefix + b"sheetData", 1)[0])
        if declared is not None:
            _check_dimension(declared.group(2).decode("ascii", "replace"), name, title, limits)
        rows = cells = 0
        tail = b""
        while chunk:
            window = tail + chunk  # a tag cut between two chunks is counted once
            rows += len(_ROW_TAG.findall(window)) - len(_ROW_TAG.findall(tail))
            cells += len(_CELL_TAG.findall(window)) - len(_CELL_TAG.findall(tail))
            if rows > limits.xlsx_max_rows:
                found = f"more than {limits.xlsx_max_rows:,} rows"
                raise _too_many_rows(name, title, found, limits.xlsx_max_rows)
            if cells > limits.xlsx_max_cells:
                found = f"more than {limits.xlsx_max_cells:,} cells"
                raise _too_many_cells(name, title, found, limits.xlsx_max_cells)
            tail = chunk[-_TAG_KEEP:]
            chunk = fh.read(_CHUNK)


def _check_dimension(ref: str, name: str, title: str, limits: Settings) -> None:
    """The size a sheet's <dimension> tag declares, against the limits. A tag that declares no
    size ("A:C", "1:5") or a nonsense one ("A1:D0", "A1:D", "?") is left aside: the rows and
    cells are counted anyway, and the sheet is read whatever its tag says."""
    try:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
    except (ValueError, TypeError):
        return
    if not (min_col and min_row and max_col and max_row):
        return
    rows, cols = max_row - min_row + 1, max_col - min_col + 1
    if rows <= 0 or cols <= 0:
        return
    if rows > limits.xlsx_max_rows:
        found = f"{rows:,} rows (its dimension is {ref})"
        raise _too_many_rows(name, title, found, limits.xlsx_max_rows)
    if rows * cols > limits.xlsx_max_cells:
        size = f"{rows:,} rows x {cols:,} columns = {rows * cols:,} cells"
        found = f"a dimension of {ref} ({size}) declared"
        raise _too_many_cells(name, title, found, limits.xlsx_max_cells)


# What a reader library may raise on a damaged or hostile workbook: besides a bad zip, a missing
# part and malformed XML, any error of its own (openpyxl's InvalidFileException, a TypeError on
# a cell it cannot type, an AttributeError on a part it did not expect). All but running out of
# memory mean "this file cannot be read" and become the provider's finding, never a traceback.
_DAMAGED = (Exception,)
_NOT_DAMAGED = (MemoryError, MidexError)


@contextmanager
def open_xlsx(path: Path, name: str, limits: Settings | None = None) -> Iterator[Any]:
    """The openpyxl workbook (read-only, values), once check_xlsx has passed; closed after the
    block. Opened from a file object, so a workbook is read as one whatever its name (openpyxl
    refuses a path that does not end in .xlsx; a provider's file may be named .xls, .csv or
    nothing). Whatever openpyxl raises while the block reads the workbook is a MidexError."""
    check_xlsx(path, name, limits)
    with path.open("rb") as fh:
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except _NOT_DAMAGED:
            raise
        except _DAMAGED as exc:
            raise _damaged(name, "Excel (.xlsx)", exc) from exc
        try:
            yield wb
        except _NOT_DAMAGED:
            raise
        except _DAMAGED as exc:
            raise _damaged(name, "Excel (.xlsx)", exc) from exc
        finally:
            wb.close()


def _check_xls_size(path: Path, name: str, limits: Settings) -> None:
    size = path.stat().st_size  # an .xls is not packed: xlrd holds all of it in memory
    if size > limits.xlsx_max_uncompressed_bytes:
        raise MidexError(
            f"{name}: the workbook is {size:,} bytes, over the limit of "
            f"{limits.xlsx_max_uncompressed_bytes:,} bytes; {_TO_DO}"
        )


def _too_many_rows(name: str, title: str, found: str, limit: int) -> MidexError:
    return MidexError(
        f"{name}: sheet {title!r} has {found}, over the limit of {limit:,} rows for a "
        "workbook: send the data as CSV (it has no such limit and is read far faster), or "
        "split the workbook into smaller ones"
    )


def _too_many_cells(name: str, title: str, found: str, limit: int) -> MidexError:
    return MidexError(
        f"{name}: sheet {title!r} has {found}, over the limit of {limit:,} cells for a "
        "workbook: delete the unused rows and columns (Ctrl+End in Excel goes to the last cell "
        "it counts), send the data as CSV, or split the workbook into smaller ones"
    )


def _xlsx_rows(ws: Any, name: str, title: str, limits: Settings) -> list[list[str]]:
    """Every row the sheet holds: not only those its <dimension> tag admits to (openpyxl's
    read-only mode stops at the tag's last row and cuts or pads every row to its width).
    Rows and cells are counted again as they are read: check_xlsx counted tags."""
    ws.reset_dimensions()
    rows: list[list[str]] = []
    cells = 0
    for values in ws.iter_rows(values_only=True):
        if len(rows) == limits.xlsx_max_rows:
            found = f"more than {limits.xlsx_max_rows:,} rows"
            raise _too_many_rows(name, title, found, limits.xlsx_max_rows)
        row = _texts(values)
        cells += len(values)  # the cells the sheet holds, empty styled ones too
        if cells > limits.xlsx_max_cells:
            found = f"more than {limits.xlsx_max_cells:,} cells"
            raise _too_many_cells(name, title, found, limits.xlsx_max_cells)
        rows.append(row)
    return rows


def first_rows(
    path: Path, name: str, sheet: str | int | None, count: int
) -> list[list[str]] | None:
    """The first `count` rows of an .xlsx sheet (for detection), checked and opened as
    read_sheet does; None when the workbook has no such sheet."""
    with open_xlsx(path, name) as wb:
        names = list(wb.sheetnames)
        if isinstance(sheet, int) and not 0 <= sheet < len(names):
            return None
        title = names[0] if sheet is None else sheet if isinstance(sheet, str) else names[sheet]
        if title not in names or not hasattr(wb[title], "iter_rows"):
            return None
        ws = wb[title]
        ws.reset_dimensions()  # else every row is cut or padded to the tag's width
        return [_texts(values) for values in ws.iter_rows(max_row=count, values_only=True)]


def _texts(values: tuple[Any, ...]) -> list[str]:
    """A row's cells as text, trailing empty ones left out before they are turned into text
    (a formatted empty cell in column XFD makes a row of 16,384 values)."""
    end = len(values)
    if values.count(None) == end:  # counted in C: an empty row costs little however wide
        return []
    while values[end - 1] is None:
        end -= 1
    return _trim([cell_text(v) for v in values[:end]])


def sheet_names(path: Path, name: str) -> list[str]:
    found = kind(path)
    if found == "xlsx":
        with open_xlsx(path, name) as wb:
            return list(wb.sheetnames)
    if found == "xls":
        _check_xls_size(path, name, get_settings())
        try:
            return list(xlrd.open_workbook(path, on_demand=True).sheet_names())  # type: ignore[arg-type]  # xlrd opens any path-like; types-xlrd says str
        except Exception as exc:  # xlrd raises its own XLRDError and struct/assertion errors
            raise _damaged(name, "Excel (.xls)", exc) from exc
    return []


def read_sheet(path: Path, name: str, sheet: str | int | None = None) -> Sheet:
    """One sheet of an Excel workbook as text rows (trailing empty cells trimmed)."""
    found = check_readable(path, name)
    limits = get_settings()
    if found == "xlsx":
        with open_xlsx(path, name, limits) as wb:
            title = _pick(list(wb.sheetnames), sheet, name)
            ws = wb[title]
            if not hasattr(ws, "iter_rows"):
                raise MidexError(
                    f"{name}: sheet {title!r} is a chart, not a table of cells; "
                    "check that this is the right file for the chosen format"
                )
            return Sheet(title, _xlsx_rows(ws, name, title, limits))
    if found == "xls":
        _check_xls_size(path, name, limits)
        try:
            book = xlrd.open_workbook(path, on_demand=True)  # type: ignore[arg-type]  # as above: a Path opens
            title = _pick(list(book.sheet_names()), sheet, name)
            ws = book.sheet_by_name(title)
            if ws.nrows > limits.xlsx_max_rows:
                raise _too_many_rows(name, title, f"{ws.nrows:,} rows", limits.xlsx_max_rows)
            if ws.nrows * ws.ncols > limits.xlsx_max_cells:
                size = f"{ws.nrows:,} rows x {ws.ncols:,} columns, {ws.nrows * ws.ncols:,} cells"
                raise _too_many_cells(name, title, size, limits.xlsx_max_cells)
            rows = [_trim([cell_text(v) for v in ws.row_values(i)]) for i in range(ws.nrows)]
        except MidexError:
            raise
        except Exception as exc:  # xlrd raises XLRDError, struct.error, AssertionError, ...
            raise _damaged(name, "Excel (.xls)", exc) from exc
        return Sheet(title, rows)
    raise MidexError(f"{name}: expected an Excel workbook (.xlsx or .xls), found a {found} file")


def _trim(row: list[str]) -> list[str]:
    end = len(row)
    while end and not row[end - 1].strip():
        end -= 1
    return row[:end]


def blank(row: list[str]) -> bool:
    return not any(c.strip() for c in row)
