"""What every reader gives and declares: the parsed file, and the format a reader module offers.
Readers import this, never the package (`midex.formats`), which imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from midex.contract.errors import MidexError
from midex.contract.schema import Schema


@dataclass
class ParsedFile:
    table: pa.Table
    format: str
    # What the reader left out on purpose (aggregates, sub-national areas, footnotes) and why,
    # for the provider's report: one line each.
    notes: list[str] = field(default_factory=list)


# read(path, name, schema): the file, the name to show in messages, and the schema it is read
# against (given by the caller, never loaded by a reader)
Reader = Callable[[Path, str, Schema], ParsedFile]
Detector = Callable[[Path, Schema], bool | str | None]


@dataclass(frozen=True)
class FormatSpec:
    """A format a module of this package offers: define `FORMAT = FormatSpec(...)` in it.

    read(path, name, schema) parses the file against the schema it is given;
    detect(path, schema) -> bool says whether a file is surely in this format (for --format
    auto), or returns the precise format name (a layout's `layout:<name>`, one of the schema's);
    order sorts detectors (lower first; the template, which accepts most CSVs, comes last).
    """

    name: str
    read: Reader
    detect: Detector | None = None
    order: int = 50
    description: str = ""


class NoFormatMatched(MidexError):
    """A file the template reader was given has not the template's columns, and no other
    format recognised it: `read_submission` says which formats and layouts there are."""

    def __init__(self, name: str, missing: list[str], header: list[str]) -> None:
        self.name, self.missing, self.header = name, missing, header
        super().__init__(f"{name}: row 1: required column(s) {', '.join(missing)} missing")
