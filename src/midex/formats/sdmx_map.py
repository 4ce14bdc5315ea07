"""SDMX dimensions and attributes -> template columns, from schemas/formats/sdmx.yaml (shared by
the SDMX readers and the Eurostat TSV reader)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import ParsedFile
from midex.formats.raw import RawRows


@dataclass(frozen=True)
class SdmxMap:
    columns: dict[str, str]  # upper-cased SDMX id -> template column
    ignore: frozenset[str]
    codes: dict[str, dict[str, str]]  # template column -> provider code -> value
    units: dict[str, tuple[str, str]]  # provider unit -> (unit, multiplier)
    flags: dict[str, str]  # Eurostat flag letter -> OBS_STATUS

    def observation(self, fields: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """One observation's SDMX fields -> (template values, 'ID=value' of unmapped fields)."""
        values: dict[str, str] = {}
        extra: list[str] = []
        for key, value in fields.items():
            sid = key.strip().upper()
            if sid in self.ignore:
                continue
            column = self.columns.get(sid)
            if column is None:
                if value not in ("", None):
                    extra.append(f"{key}={value}")
                continue
            text = "" if value is None else str(value).strip()
            values[column] = self.codes.get(column, {}).get(text.upper(), text)
        unit = values.get("UNIT_MEASURE", "").upper()
        if unit in self.units:
            values["UNIT_MEASURE"], mult = self.units[unit]
            if not values.get("UNIT_MULT"):
                values["UNIT_MULT"] = mult
        return values, extra


@cache
def _load(path: Path, version: str) -> SdmxMap:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    return SdmxMap(
        columns={str(i).upper(): col for col, ids in doc["columns"].items() for i in ids},
        ignore=frozenset(str(i).upper() for i in doc.get("ignore") or ()),
        codes={
            col: {str(k).upper(): str(v) for k, v in m.items()}
            for col, m in (doc.get("codes") or {}).items()
        },
        units={
            str(k).upper(): (str(v["unit"]), str(v.get("mult", 0)))
            for k, v in (doc.get("units") or {}).items()
        },
        flags={str(k): str(v) for k, v in (doc.get("eurostat_flags") or {}).items()},
    )


def sdmx_map(schema: Schema) -> SdmxMap:
    return _load(schema.root / "formats" / "sdmx.yaml", schema.mapping_version)


def read_sdmx_message(path: Path, name: str, fmt: str, schema: Schema) -> ParsedFile:
    """Parse an SDMX-CSV or SDMX-ML data message with pysdmx (offline: no structure needed)
    into the raw table. SDMX-CSV rows keep their line numbers; SDMX-ML observations are numbered
    in document order and carry their dataflow in SOURCE_SHEET."""
    from pysdmx.io import read_sdmx

    mapping = sdmx_map(schema)
    try:
        message = read_sdmx(path, validate=False)
    except Exception as exc:  # pysdmx raises its own Invalid/NotImplemented and parser errors
        raise MidexError(
            f"{name}: cannot read as {fmt} ({exc.__class__.__name__}: {str(exc)[:200]}); "
            "export the data again as SDMX-CSV or SDMX-ML 2.1 data and resubmit"
        ) from exc
    datasets = list(getattr(message, "data", None) or [])
    if not datasets:
        raise MidexError(
            f"{name}: the SDMX message holds no data sets (a structure message?); "
            "submit a data message"
        )
    lines = _csv_lines(path) if fmt == "sdmx-csv" else None
    out = RawRows(schema)
    number = 0
    for ds in datasets:
        frame = ds.data
        flow = str(getattr(ds, "short_urn", "") or "").split("=", 1)[-1]
        rows = lines.get(flow) if lines is not None else None
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for i, record in enumerate(records):
            number += 1
            values, extra = mapping.observation(
                {k: "" if v is None else str(v) for k, v in record.items()}
            )
            if extra:
                values["COMMENT"] = "; ".join(filter(None, [values.get("COMMENT"), *extra]))
            if rows is not None and i < len(rows):
                out.add(values, row=rows[i])
            elif lines is not None:
                out.add(values, row=number + 1)
            else:
                out.add(values, row=number, sheet=flow or None)
    return ParsedFile(out.table(), fmt, [])


def _csv_lines(path: Path) -> dict[str, list[int]]:
    """Line numbers of an SDMX-CSV file's rows, per dataflow (first or second column)."""
    import csv

    found: dict[str, list[int]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().upper() for h in next(reader, [])]
        col = 1 if header[:1] == ["STRUCTURE"] else 0
        for number, row in enumerate(reader, start=2):
            if len(row) > col:
                found.setdefault(row[col].strip(), []).append(number)
    return found
