"""SDMX-CSV data files, versions 1.0 (first column DATAFLOW) and 2.0 (STRUCTURE, STRUCTURE_ID),
read with pysdmx; dimensions and attributes map onto the template through
schemas/formats/sdmx.yaml."""

from __future__ import annotations

from pathlib import Path

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import FormatSpec, ParsedFile
from midex.formats.sdmx_map import read_sdmx_message
from midex.formats.sheets import check_readable, check_text_bytes, detect_encoding, head, kind


def detect(path: Path, schema: Schema) -> bool:
    if kind(path) != "text":
        return False
    first = head(path, 4096).decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
    cells = [c.strip().strip('"').upper() for c in first.split(",")]
    return cells[:1] == ["DATAFLOW"] or cells[:2] == ["STRUCTURE", "STRUCTURE_ID"]


# pysdmx sniffs the header line's dialect, in time that grows much faster than the line (48 KB:
# 12 s); an SDMX-CSV header names a few dozen columns
MAX_HEADER_BYTES = 8 * 1024


def read(path: Path, name: str, schema: Schema) -> ParsedFile:
    found = check_readable(path, name)
    if found != "text":
        raise MidexError(
            f"{name}: cannot read as sdmx-csv (this is an {found} file, not SDMX-CSV text); "
            "export the data again as SDMX-CSV, or choose the file's own format"
        )
    start = head(path)
    encoding = detect_encoding(start)
    if not encoding.startswith("utf-8"):
        raise MidexError(
            f"{name}: SDMX-CSV is UTF-8 text, and this file is not (it reads as {encoding}); "
            "save it as CSV UTF-8 and resubmit"
        )
    check_text_bytes(path, name, encoding)  # NUL bytes, or other encodings further down
    first = start.split(b"\n", 1)[0]
    if len(first) > MAX_HEADER_BYTES and b"\n" not in start[:MAX_HEADER_BYTES]:
        raise MidexError(
            f"{name}: cannot read as sdmx-csv: line 1 (the header) is longer than "
            f"{MAX_HEADER_BYTES // 1024} KB, and an SDMX-CSV header names a few columns; check "
            "that this is an SDMX-CSV file"
        )
    return read_sdmx_message(path, name, "sdmx-csv", schema)


FORMAT = FormatSpec(
    name="sdmx-csv",
    read=read,
    detect=detect,
    order=10,
    description="SDMX-CSV 1.0 or 2.0 data",
)
