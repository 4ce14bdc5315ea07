"""Eurostat bulk TSV (the classic `…tsv.gz` download): a comma-joined first column naming the
dimensions (`indic_de,geo\\time`), tab-separated periods in any order, values with trailing
spaces, `:` for not available, flags after the value (`-27007 e`).

Flags become OBS_STATUS through schemas/formats/sdmx.yaml (e → E, p → P, b → B); other flags are
kept in COMMENT. Eurostat's country codes (EL, UK) resolve through schemas/areas/overrides.yaml.
Only countries are read: NUTS regions (AT1, AT11, …) and aggregates (EU27_2020, EA19, …) are
left out and reported.
"""

from __future__ import annotations

import re
from pathlib import Path

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import FormatSpec, ParsedFile
from midex.formats.raw import RawRows, count_note
from midex.formats.sdmx_map import sdmx_map
from midex.formats.sheets import check_readable, head, kind, read_text, text_lines

_VALUE = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*([A-Za-z]*)$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NUTS = re.compile(r"^[A-Z]{2}[0-9A-Z]{1,3}$")


def _first_line(text: str) -> str:
    return text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")


def detect(path: Path, schema: Schema) -> bool:
    if kind(path) != "text":
        return False
    line = _first_line(head(path, 4096).decode("utf-8", errors="replace"))
    first = line.split("\t", 1)[0]
    return "\t" in line and "\\" in first and "," in first


def read(path: Path, name: str, schema: Schema) -> ParsedFile:
    check_readable(path, name)
    mapping = sdmx_map(schema)
    lines = text_lines(read_text(path, name).lstrip("\ufeff"))
    header = lines[0].split("\t") if lines else []
    first = header[0] if header else ""
    if "\\" not in first or len(header) < 2:
        raise MidexError(
            f"{name}: row 1: not a Eurostat bulk TSV header (expected e.g. 'indic_de,geo\\time' "
            "then tab-separated periods); submit the file as downloaded or choose another --format"
        )
    dims = [d.strip() for d in first.split("\\", 1)[0].split(",")]
    periods = [p.strip() for p in header[1:]]
    geo = next((d for d in dims if mapping.columns.get(d.upper()) == "REF_AREA"), None)
    if geo is None:
        raise MidexError(f"{name}: row 1: no geographic dimension (geo) among {', '.join(dims)}")
    out = RawRows(schema)
    nuts: list[str] = []
    aggregates: list[str] = []
    missing = 0
    unknown_flags: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        keys = [k.strip() for k in cells[0].split(",")]
        if len(keys) != len(dims):
            raise MidexError(
                f"{name}: row {number}: '{cells[0]}' has {len(keys)} codes, the header names "
                f"{len(dims)} dimensions ({', '.join(dims)}); the file is damaged: download it again"
            )
        key = dict(zip(dims, keys, strict=True))
        area = key[geo]
        if not _COUNTRY.match(area):
            (nuts if _NUTS.match(area) else aggregates).append(area)
            continue
        base, extra = mapping.observation(key)
        for period, cell in zip(periods, cells[1:], strict=False):
            text = cell.strip()
            if not text or text.startswith(":"):
                missing += 1
                continue
            m = _VALUE.match(text)
            values = dict(base)
            values["TIME_PERIOD"] = period
            comments = list(extra)
            if m is None:
                values["OBS_VALUE"] = text  # harmonisation reports it as not a number
            else:
                values["OBS_VALUE"] = m.group(1)
                statuses = [mapping.flags[f] for f in m.group(2) if f in mapping.flags]
                others = [f for f in m.group(2) if f not in mapping.flags]
                if statuses:
                    values["OBS_STATUS"] = statuses[0]
                    comments += [f"Eurostat flag {f}" for f in m.group(2)[1:] if f in mapping.flags]
                if others:
                    unknown_flags.update(others)
                    comments += [f"Eurostat flag {f}" for f in others]
            if comments:
                values["COMMENT"] = "; ".join(comments)
            out.add(values, row=number, column=period)
    notes = []
    if nuts:
        notes.append(
            count_note("rows of NUTS regions (sub-national, not countries) left out", nuts)
        )
    if aggregates:
        notes.append(count_note("rows of aggregates (EU, euro area, …) left out", aggregates))
    if missing:
        notes.append(f"{missing} cells marked ':' (not available) left out")
    if unknown_flags:
        notes.append(
            f"flags kept in COMMENT (no OBS_STATUS for them): {', '.join(sorted(unknown_flags))}"
        )
    return ParsedFile(out.table(), "eurostat-tsv", notes)


FORMAT = FormatSpec(
    name="eurostat-tsv",
    read=read,
    detect=detect,
    order=10,
    description="Eurostat bulk TSV (comma-joined first column, periods as columns, flags)",
)
