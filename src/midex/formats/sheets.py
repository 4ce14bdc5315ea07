"""Opening a provider's file as rows of text: CSV/TSV text (encoding and delimiter found or
declared), Excel .xlsx (openpyxl, read-only) and .xls (xlrd). Row numbers are the ones a
spreadsheet user sees (1-based records). Every failure is a MidexError saying what to do."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from midex.errors import MidexError
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
        first = next((line for line in text.splitlines() if line.strip()), "")
        counts = {d: first.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _damaged(name: str, what: str, exc: Exception) -> MidexError:
    return MidexError(
        f"{name}: the {what} workbook cannot be opened ({exc.__class__.__name__}: {exc}); "
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


def sheet_names(path: Path, name: str) -> list[str]:
    found = kind(path)
    if found == "xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise _damaged(name, "Excel (.xlsx)", exc) from exc
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    if found == "xls":
        import xlrd

        try:
            return list(xlrd.open_workbook(path, on_demand=True).sheet_names())
        except Exception as exc:  # xlrd raises its own XLRDError and struct/assertion errors
            raise _damaged(name, "Excel (.xls)", exc) from exc
    return []


def read_sheet(path: Path, name: str, sheet: str | int | None = None) -> Sheet:
    """One sheet of an Excel workbook as text rows (trailing empty cells trimmed)."""
    found = check_readable(path, name)
    if found == "xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                title = _pick(list(wb.sheetnames), sheet, name)
                rows = [
                    _trim([cell_text(v) for v in r]) for r in wb[title].iter_rows(values_only=True)
                ]
            finally:
                wb.close()
        except MidexError:
            raise
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
            raise _damaged(name, "Excel (.xlsx)", exc) from exc
        return Sheet(title, rows)
    if found == "xls":
        import xlrd

        try:
            book = xlrd.open_workbook(path, on_demand=True)
            title = _pick(list(book.sheet_names()), sheet, name)
            ws = book.sheet_by_name(title)
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
