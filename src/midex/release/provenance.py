"""Provenance and comparison of published releases: `midex explain` and `midex diff`.

Both read only the release folders (Parquet + manifest), never the lake: a release explains
itself. explain follows each table's `lineage` (schemas/tables/, copied into the manifest) from a
published row to the observations it was computed from, which carry provider, submission,
source row and the value as submitted.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from midex.contract.errors import MidexError
from midex.contract.schema import CELL_AND_TEXT
from midex.release.bundle import filter_rows, read_manifest, read_table
from midex.storage.catalog import Release

# columns of `observations` that say where a value came from, not what it is (not diffed)
NOT_VALUES = {
    "PROVIDER",
    "SUBMISSION_ID",
    "SOURCE_FILE_SHA256",
    *CELL_AND_TEXT,
    "SOURCE_UNIT",
    "MAPPING_VERSION",
    "ACCEPTED_AT",
    "COMMENT",
    "NATURE",
    "VALIDATION_FLAGS",
}


def parse_where(clauses: list[str]) -> dict[str, str]:
    """['REF_AREA=MEX', 'TIME_PERIOD=2020'] -> {'REF_AREA': 'MEX', 'TIME_PERIOD': '2020'}."""
    where: dict[str, str] = {}
    for clause in clauses:
        column, sep, value = clause.partition("=")
        if not sep or not column.strip():
            raise MidexError(f"--where {clause!r}: write COLUMN=VALUE, e.g. --where REF_AREA=MEX")
        where[column.strip()] = value.strip()
    return where


def _mask(data: pa.Table, column: str, allowed: list[Any]) -> Any:
    if column not in data.column_names:
        return pa.array([False] * data.num_rows)
    return pc.fill_null(pc.is_in(data.column(column), pa.array(allowed)), False)


def explain(release: Release, table: str, where: dict[str, str]) -> list[dict[str, Any]]:
    """For each row of `table` selected by `where`: the row and the observations behind it."""
    manifest = read_manifest(release)
    data = read_table(release, table)
    selected = filter_rows(data, where).to_pylist()
    entry = manifest["tables"][table]
    observations = read_table(release, "observations")
    files = {s["id"]: s["file"] for s in manifest.get("source_submissions", [])}
    if table == "observations":
        rules: list[dict[str, Any]] = [
            {"match": {k: k for k in entry["grain"]}, "note": "the observation itself"}
        ]
    else:
        rules = entry.get("lineage") or []
        if not rules:
            raise MidexError(f"table {table} has no lineage in release {release.number}")
    members: dict[str, list[str]] = {}
    if any("@members" in r.get("match", {}).values() for r in rules):
        for m in read_table(release, "group_members").to_pylist():
            members.setdefault(m["GROUP_CODE"], []).append(m["REF_AREA"])
    measure_indicators = {m["measure"]: m["indicators"] for m in entry.get("measures") or []}
    out = []
    for row in selected:
        found: list[dict[str, Any]] = []
        for rule in rules:
            mask = pa.array([True] * observations.num_rows)
            indicators = rule.get("indicators")
            if rule.get("indicators_by_measure"):
                indicators = measure_indicators.get(row.get("MEASURE"), [])
            if indicators is not None:
                mask = pc.and_(mask, _mask(observations, "INDICATOR", indicators))
            for obs_column, source in rule["match"].items():
                if source == "@members":
                    allowed = members.get(row["GROUP_CODE"], [])
                elif source.startswith("="):
                    allowed = [source[1:]]
                else:
                    allowed = [row[source]]
                mask = pc.and_(mask, _mask(observations, obs_column, allowed))
            for obs in observations.filter(mask).to_pylist():
                obs["SOURCE_FILE"] = files.get(obs.get("SUBMISSION_ID"))
                obs["NOTE"] = rule.get("note")
                found.append(obs)
        out.append({"row": row, "observations": found})
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))
    return a == b


def _key(row: dict[str, Any], grain: list[str]) -> tuple[Any, ...]:
    return tuple(row[g] for g in grain)


def diff_table(
    name: str, old: pa.Table | None, new: pa.Table | None, grain: list[str] | None
) -> list[dict[str, Any]]:
    """Added, removed and revised values of one table between two releases."""
    old_rows = old.to_pylist() if old is not None else []
    new_rows = new.to_pylist() if new is not None else []
    either = new if new is not None else old
    assert either is not None  # a table compared is in one release at least
    columns = either.column_names
    if not grain or not set(grain) <= set(columns):
        grain = [c for c in columns if c not in NOT_VALUES]
    values = [c for c in columns if c not in grain and c not in NOT_VALUES]
    before = {_key(r, grain): r for r in old_rows}
    after = {_key(r, grain): r for r in new_rows}
    changes: list[dict[str, Any]] = []

    def change(kind: str, key: tuple[Any, ...], column: str | None, a: Any, b: Any) -> None:
        changes.append(
            {
                "table": name,
                "change": kind,
                "key": dict(zip(grain, key, strict=True)),
                "column": column,
                "old": a,
                "new": b,
            }
        )

    for key in sorted(after.keys() - before.keys(), key=str):
        present = [c for c in values if after[key].get(c) is not None]
        for c in present or [None]:
            change("added", key, c, None, after[key].get(c) if c else None)
    for key in sorted(before.keys() - after.keys(), key=str):
        present = [c for c in values if before[key].get(c) is not None]
        for c in present or [None]:
            change("removed", key, c, before[key].get(c) if c else None, None)
    for key in sorted(before.keys() & after.keys(), key=str):
        for c in values:
            a, b = before[key].get(c), after[key].get(c)
            if not _same(a, b):
                change("revised", key, c, a, b)
    return changes


def diff(release_a: Release, release_b: Release, table: str | None = None) -> list[dict[str, Any]]:
    """Every added, removed and revised value from release A to release B (or of one table)."""
    manifest_a, manifest_b = read_manifest(release_a), read_manifest(release_b)
    names = sorted(set(manifest_a["tables"]) | set(manifest_b["tables"]))
    if table is not None:
        if table not in names:
            raise MidexError(
                f"neither release {release_a.number} nor {release_b.number} has table {table!r}; "
                f"they have: {', '.join(names)}"
            )
        names = [table]
    changes: list[dict[str, Any]] = []
    for name in names:
        old = read_table(release_a, name) if name in manifest_a["tables"] else None
        new = read_table(release_b, name) if name in manifest_b["tables"] else None
        entry = manifest_b["tables"].get(name) or manifest_a["tables"][name]
        changes += diff_table(name, old, new, entry.get("grain"))
    return changes
