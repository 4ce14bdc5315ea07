"""SDMX-ML 2.1 data messages, generic and structure-specific, read with pysdmx without the data
structure (offline); dimensions and attributes map onto the template through
schemas/formats/sdmx.yaml."""

from __future__ import annotations

from pathlib import Path

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import FormatSpec, ParsedFile
from midex.formats.sdmx_map import read_sdmx_message
from midex.formats.sheets import check_readable, head, kind

_DATA_ROOTS = (b"GenericData", b"StructureSpecificData")


def detect(path: Path, schema: Schema) -> bool:
    if kind(path) != "xml":
        return False
    start = head(path, 4096)
    return b"sdmx.org/resources/sdmxml" in start and any(r in start for r in _DATA_ROOTS)


def read(path: Path, name: str, schema: Schema) -> ParsedFile:
    if check_readable(path, name) != "xml":
        raise MidexError(f"{name}: not an XML file; SDMX-ML data is XML")
    return read_sdmx_message(path, name, "sdmx-ml", schema)


FORMAT = FormatSpec(
    name="sdmx-ml",
    read=read,
    detect=detect,
    order=10,
    description="SDMX-ML 2.1 data (generic or structure-specific)",
)
