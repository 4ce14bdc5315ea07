"""SDMX-CSV data files, versions 1.0 (first column DATAFLOW) and 2.0 (STRUCTURE, STRUCTURE_ID),
read with pysdmx; dimensions and attributes map onto the template through
schemas/formats/sdmx.yaml."""

from __future__ import annotations

from pathlib import Path

from midex.formats import FormatSpec, ParsedFile
from midex.formats.sdmx_map import read_sdmx_message
from midex.formats.sheets import check_readable, head, kind


def detect(path: Path) -> bool:
    if kind(path) != "text":
        return False
    first = head(path, 4096).decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
    cells = [c.strip().strip('"').upper() for c in first.split(",")]
    return cells[:1] == ["DATAFLOW"] or cells[:2] == ["STRUCTURE", "STRUCTURE_ID"]


def read(path: Path, name: str) -> ParsedFile:
    check_readable(path, name)
    return read_sdmx_message(path, name, "sdmx-csv")


FORMAT = FormatSpec(
    name="sdmx-csv",
    read=read,
    detect=detect,
    order=10,
    description="SDMX-CSV 1.0 or 2.0 data",
)
