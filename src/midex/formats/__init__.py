"""Provider file formats. Each reader turns one landed file into raw rows of one shape:
the template columns as strings (as submitted) plus SOURCE_ROW, SOURCE_SHEET, SOURCE_COLUMN.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from midex.errors import MidexError

RAW_LINEAGE = ("SOURCE_ROW", "SOURCE_SHEET", "SOURCE_COLUMN")


def read_submission(path: Path, fmt: str, display_name: str | None = None) -> pa.Table:
    """Parse `path` in format `fmt` ('auto' detects) into the raw table."""
    from midex.formats import template

    name = display_name or path.name
    if fmt in ("auto", "template"):
        return template.read(path, name)
    raise MidexError(f"{name}: unknown format {fmt!r}; known formats: auto, template")


def detect_format(path: Path) -> str:
    return "template"
