"""Provider file formats.

Every reader turns one landed file into a `ParsedFile` whose table has one shape, whatever the
format: the template columns (REF_AREA … COMMENT) as the strings submitted (null where the
format has no such column), plus lineage SOURCE_ROW (int64, the row a spreadsheet user sees;
header = row 1 for the template), SOURCE_SHEET and SOURCE_COLUMN (string, null where not
applicable). Everything per-row after that (codes, numbers, units) is harmonisation's job, in
Spark. A reader raises MidexError with file, row and what to do when it cannot read the file.

The schema (schemas/: template columns, codelists, layouts) is given to every function here and
to every reader by its caller, who loaded it once: no reader loads it again.
"""

from __future__ import annotations

import zipfile
from functools import cache
from pathlib import Path

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats import eurostat, layout, sdmx_csv, sdmx_ml, template, wdi
from midex.formats.base import FormatSpec, NoFormatMatched, ParsedFile
from midex.formats.layout import layout_names, read_layout
from midex.formats.raw import conform

# the reader modules, each declaring its FORMAT (a new format: a module here, and its name below)
READERS = (template, wdi, eurostat, sdmx_csv, sdmx_ml, layout)


@cache
def formats() -> dict[str, FormatSpec]:
    """Every format a reader module declares, by name."""
    return {m.FORMAT.name: m.FORMAT for m in READERS}


def format_names(schema: Schema) -> list[str]:
    """The closed list a `format` is checked against: plain `layout` is not one of them (a
    layout is always named: `layout:<name>`)."""
    readers = sorted(n for n in formats() if n != "layout")
    return ["auto", *readers, *(f"layout:{n}" for n in layout_names(schema))]


def check_format(fmt: str, schema: Schema) -> str:
    """`fmt` if it is one of the closed list of format names (`auto`, a reader, or `layout:` and
    the name of a file in the schema's layouts/); a MidexError otherwise. Nothing is opened for
    a name outside the list, and the message echoes no path: a format is a name, not a path."""
    names = format_names(schema)
    if fmt in names:
        return fmt
    if fmt == "layout":
        raise MidexError(
            "name the layout: layout:<name> (known layouts: "
            f"{', '.join(layout_names(schema)) or 'none'})"
        )
    if any(c in fmt for c in "/\\%") or ".." in fmt:
        raise MidexError(f"a format is a name, not a path: use one of {', '.join(names)}")
    shown = fmt[:40].encode("ascii", "replace").decode()
    if fmt.startswith("layout:"):
        shown = shown.split(":", 1)[1]
        raise MidexError(
            f"unknown layout {shown!r}; known layouts: {', '.join(layout_names(schema)) or 'none'} "
            "(a layout is named, not given as a path)"
        )
    raise MidexError(f"unknown format {shown!r}; use one of {', '.join(names)}")


def detect_format(path: Path, schema: Schema) -> str:
    """The first format whose detector recognises the file (a layout: one of `schema`'s); the
    template otherwise."""
    specs = sorted(formats().values(), key=lambda s: (s.order, s.name))
    for spec in specs:
        if spec.detect is None:
            continue
        try:
            found = spec.detect(path, schema)
            if found:
                return found if isinstance(found, str) else spec.name
        except (OSError, ValueError, SyntaxError, MidexError, zipfile.BadZipFile):
            # a damaged file is not recognised here; its reader says what is wrong with it
            continue
    return "template"


def read_submission(
    path: Path, fmt: str, schema: Schema, display_name: str | None = None
) -> ParsedFile:
    """Parse `path` in format `fmt` ('auto' detects) into the raw table, in its one shape (the
    template columns of `schema`, which the readers read the file against)."""
    name = display_name or path.name
    if fmt == "auto":
        fmt = detect_format(path, schema)
    check_format(fmt, schema)
    if fmt.startswith("layout:"):
        parsed = read_layout(path, name, fmt.split(":", 1)[1], schema)
    else:
        try:
            parsed = formats()[fmt].read(path, name, schema)
        except NoFormatMatched as exc:
            raise _no_format(exc, schema) from None
    parsed.table = conform(parsed.table, schema)
    return parsed


def _no_format(exc: NoFormatMatched, schema: Schema) -> MidexError:
    known = ", ".join(n for n in sorted(formats()) if n != "layout")
    found = ", ".join(h for h in exc.header if h)[:200] or "nothing"
    return MidexError(
        f"{exc.name}: row 1: required column(s) {', '.join(exc.missing)} missing "
        f"(found: {found}); the file matches no format midex reads ({known}, or one of "
        f"{len(layout_names(schema))} layouts): start from the template (`midex template`), or ask "
        "the data team for a layout (schemas/layouts/) if it holds figures midex collects"
    )
