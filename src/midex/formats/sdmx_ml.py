"""SDMX-ML 2.1 data messages, generic and structure-specific, read with pysdmx without the data
structure (offline); dimensions and attributes map onto the template through
schemas/formats/sdmx.yaml."""

from __future__ import annotations

import re
from pathlib import Path

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import FormatSpec, ParsedFile
from midex.formats.sdmx_map import read_sdmx_message
from midex.formats.sheets import check_readable, check_text_bytes, head, kind

_DATA_ROOTS = (b"GenericData", b"StructureSpecificData")
_DECLARED = re.compile(
    rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)


def detect(path: Path, schema: Schema) -> bool:
    if kind(path) != "xml":
        return False
    start = head(path, 4096)
    return b"sdmx.org/resources/sdmxml" in start and any(r in start for r in _DATA_ROOTS)


def read(path: Path, name: str, schema: Schema) -> ParsedFile:
    if check_readable(path, name) != "xml":
        raise MidexError(f"{name}: not an XML file; SDMX-ML data is XML")
    _check_utf8(path, name)
    return read_sdmx_message(path, name, "sdmx-ml", schema)


def _check_utf8(path: Path, name: str) -> None:
    """SDMX-ML is read as UTF-8 (pysdmx decodes nothing else, and would replace every other
    byte silently): refuse a message that declares another encoding or holds bytes that are not
    UTF-8, with the line."""
    declared = _DECLARED.match(head(path, 200))
    if declared and declared.group(1).decode().lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise MidexError(
            f"{name}: the XML declares encoding {declared.group(1).decode()}, but SDMX-ML is "
            "read as UTF-8; export the message as UTF-8 and resubmit"
        )
    check_text_bytes(path, name, "utf-8")


FORMAT = FormatSpec(
    name="sdmx-ml",
    read=read,
    detect=detect,
    order=10,
    description="SDMX-ML 2.1 data (generic or structure-specific)",
)
