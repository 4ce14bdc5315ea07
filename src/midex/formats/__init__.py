"""Provider file formats.

Every reader turns one landed file into a `ParsedFile` whose table has one shape, whatever the
format: the template columns (REF_AREA … COMMENT) as the strings submitted (null where the
format has no such column), plus lineage SOURCE_ROW (int64, the row a spreadsheet user sees;
header = row 1 for the template), SOURCE_SHEET and SOURCE_COLUMN (string, null where not
applicable). Everything per-row after that (codes, numbers, units) is harmonisation's job, in
Spark. A reader raises MidexError with file, row and what to do when it cannot read the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from midex.errors import MidexError

RAW_LINEAGE = ("SOURCE_ROW", "SOURCE_SHEET", "SOURCE_COLUMN")


@dataclass
class ParsedFile:
    table: pa.Table
    format: str
    # What the reader left out on purpose (aggregates, sub-national areas, footnotes) and why,
    # for the provider's report: one line each.
    notes: list[str] = field(default_factory=list)


Reader = Callable[[Path, str], ParsedFile]


def _template(path: Path, name: str) -> ParsedFile:
    from midex.formats import template

    return ParsedFile(template.read(path, name), "template")


# format name -> reader(path, display name). Detection order is the order of DETECTORS.
READERS: dict[str, Reader] = {"template": _template}
DETECTORS: list[tuple[str, Callable[[Path], bool]]] = []


def format_names() -> list[str]:
    return ["auto", *READERS]


def detect_format(path: Path) -> str:
    """The first format whose detector recognises the file; the template otherwise."""
    for name, recognises in DETECTORS:
        try:
            if recognises(path):
                return name
        except (OSError, ValueError, UnicodeDecodeError):
            continue
    return "template"


def read_submission(path: Path, fmt: str, display_name: str | None = None) -> ParsedFile:
    """Parse `path` in format `fmt` ('auto' detects) into the raw table."""
    name = display_name or path.name
    if fmt == "auto":
        fmt = detect_format(path)
    reader = READERS.get(fmt)
    if reader is None:
        raise MidexError(f"{name}: unknown format {fmt!r}; known formats: {', '.join(READERS)}")
    return reader(path, name)
