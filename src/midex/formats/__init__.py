"""Provider file formats.

Every reader turns one landed file into a `ParsedFile` whose table has one shape, whatever the
format: the template columns (REF_AREA … COMMENT) as the strings submitted (null where the
format has no such column), plus lineage SOURCE_ROW (int64, the row a spreadsheet user sees;
header = row 1 for the template), SOURCE_SHEET and SOURCE_COLUMN (string, null where not
applicable). Everything per-row after that (codes, numbers, units) is harmonisation's job, in
Spark. A reader raises MidexError with file, row and what to do when it cannot read the file.
"""

from __future__ import annotations

import importlib
import pkgutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pyarrow as pa

from midex.contract.errors import MidexError


@dataclass
class ParsedFile:
    table: pa.Table
    format: str
    # What the reader left out on purpose (aggregates, sub-national areas, footnotes) and why,
    # for the provider's report: one line each.
    notes: list[str] = field(default_factory=list)


Reader = Callable[[Path, str], ParsedFile]


@dataclass(frozen=True)
class FormatSpec:
    """A format a module of this package offers: define `FORMAT = FormatSpec(...)` in it.

    detect(path) -> bool says whether a file is surely in this format (for --format auto), or
    returns the precise format name (a layout's `layout:<name>`);
    order sorts detectors (lower first; the template, which accepts most CSVs, comes last).
    """

    name: str
    read: Reader
    detect: Callable[[Path], bool | str | None] | None = None
    order: int = 50
    description: str = ""


@cache
def formats() -> dict[str, FormatSpec]:
    """Every format defined by a module of this package, by name."""
    found: dict[str, FormatSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "FORMAT", None)
        if isinstance(spec, FormatSpec):
            found[spec.name] = spec
    return found


def format_names() -> list[str]:
    from midex.formats.layout import layout_names

    return ["auto", *sorted(formats()), *(f"layout:{n}" for n in layout_names())]


def check_format(fmt: str) -> str:
    """`fmt` if it is one of the closed list of format names (`auto`, a reader, or `layout:` and
    the name of a file in schemas/layouts/); a MidexError otherwise. Nothing is opened for a
    name outside the list, and the message echoes no path: a format is a name, not a path."""
    if fmt in format_names():
        return fmt
    if any(c in fmt for c in "/\\%") or ".." in fmt:
        raise MidexError(f"a format is a name, not a path: use one of {', '.join(format_names())}")
    shown = fmt[:40].encode("ascii", "replace").decode()
    if fmt.startswith("layout:"):
        shown = shown.split(":", 1)[1]
        from midex.formats.layout import layout_names

        raise MidexError(
            f"unknown layout {shown!r}; known layouts: {', '.join(layout_names()) or 'none'} "
            "(a layout is named, not given as a path)"
        )
    raise MidexError(f"unknown format {shown!r}; use one of {', '.join(format_names())}")


def detect_format(path: Path) -> str:
    """The first format whose detector recognises the file; the template otherwise."""
    specs = sorted(formats().values(), key=lambda s: (s.order, s.name))
    for spec in specs:
        if spec.detect is None:
            continue
        try:
            found = spec.detect(path)
            if found:
                return found if isinstance(found, str) else spec.name
        except (OSError, ValueError, SyntaxError, MidexError, zipfile.BadZipFile):
            # a damaged file is not recognised here; its reader says what is wrong with it
            continue
    return "template"


def read_submission(path: Path, fmt: str, display_name: str | None = None) -> ParsedFile:
    """Parse `path` in format `fmt` ('auto' detects) into the raw table, in its one shape."""
    from midex.contract.schema import load_schema
    from midex.formats.raw import conform

    name = display_name or path.name
    if fmt == "auto":
        fmt = detect_format(path)
    check_format(fmt)
    if fmt.startswith("layout:"):
        from midex.formats.layout import read_layout

        parsed = read_layout(path, name, fmt.split(":", 1)[1])
    else:
        spec = formats().get(fmt)
        if spec is None:
            raise MidexError(
                f"{name}: unknown format {fmt!r}; known formats: {', '.join(formats())}"
            )
        parsed = spec.read(path, name)
    parsed.table = conform(parsed.table, load_schema())
    return parsed
