"""Releases: immutable numbered folders of Parquet tables with a manifest; and export from them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from midex.catalog import Catalog, Release, utcnow
from midex.errors import MidexError
from midex.lake import Lake
from midex.schema import Schema
from midex.tables import build_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MANIFEST = "manifest.json"
EXPORT_FORMATS = ("csv", "parquet")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_single_parquet(df: DataFrame, target: Path, scratch: Path) -> None:
    """Write `df` as one Parquet file at `target` (tables are small; one file is easy to ship)."""
    df.coalesce(1).write.mode("overwrite").parquet(str(scratch))
    parts = sorted(scratch.glob("part-*.parquet"))
    if len(parts) != 1:
        raise MidexError(f"expected one Parquet part for {target.name}, found {len(parts)}")
    os.replace(parts[0], target)
    shutil.rmtree(scratch)


def publish(
    spark: SparkSession,
    lake: Lake,
    catalog: Catalog,
    schema: Schema,
    as_of: datetime | None = None,
) -> Release:
    """Compute every table from the resolved observations and publish them as a new release."""
    obs_dir = lake.observations_dir()
    if not obs_dir.exists():
        raise MidexError("no accepted observations yet; submit files and `midex run` first")
    observations = spark.read.parquet(str(obs_dir)).cache()
    try:
        key = list(schema.series_key)
        tables: dict[str, DataFrame] = {"observations": observations.orderBy(*key)}
        for name in schema.table_names():
            tables[name] = build_table(name, observations, schema)
        submission_ids = sorted(
            r[0] for r in observations.select("SUBMISSION_ID").distinct().collect()
        )
        number = catalog.next_release_number()
        published = lake.published_dir()
        target = published / str(number)
        if target.exists():
            raise MidexError(
                f"release folder {target} exists but the catalog does not know it; "
                "move it aside and publish again"
            )
        created_at = utcnow()

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            entries: dict[str, Any] = {}
            for name, df in tables.items():
                path = tmp / f"{name}.parquet"
                _write_single_parquet(df, path, tmp / f".scratch-{name}")
                meta = pq.read_metadata(path)
                entries[name] = {
                    "file": path.name,
                    "rows": meta.num_rows,
                    "sha256": sha256_file(path),
                    "columns": list(meta.schema.names),
                }
            manifest = {
                "release": number,
                "created_at": created_at.isoformat(),
                "as_of": as_of.isoformat() if as_of else None,
                "mapping_version": schema.mapping_version,
                "tables": entries,
                "source_submissions": submission_ids,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")

        lake.replace_dir(target, write)
    finally:
        observations.unpersist()
    manifest_path = target / MANIFEST
    manifest = json.loads(manifest_path.read_text("utf-8"))
    try:
        return catalog.add_release(
            Release(
                number=number,
                created_at=created_at,
                as_of=as_of,
                path=str(target),
                manifest_sha256=sha256_file(manifest_path),
                tables={k: v["rows"] for k, v in manifest["tables"].items()},
                submission_ids=submission_ids,
            )
        )
    except Exception:
        shutil.rmtree(target, ignore_errors=True)  # the catalog is the commit: no entry, no folder
        raise


def read_manifest(release: Release) -> dict[str, Any]:
    return json.loads((Path(release.path) / MANIFEST).read_text("utf-8"))


def read_table(release: Release, table: str) -> pa.Table:
    manifest = read_manifest(release)
    if table not in manifest["tables"]:
        known = ", ".join(sorted(manifest["tables"]))
        raise MidexError(f"release {release.number} has no table {table!r}; it has: {known}")
    return pq.read_table(Path(release.path) / manifest["tables"][table]["file"])


def export(release: Release, table: str, fmt: str, output: str) -> None:
    """Write `table` of `release` to `output` (a path, or '-' for standard output)."""
    if fmt not in EXPORT_FORMATS:
        raise MidexError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    data = read_table(release, table)

    def write(sink: BinaryIO | str) -> None:
        if fmt == "csv":
            pacsv.write_csv(data, sink)
        else:
            pq.write_table(data, sink)

    if output == "-":
        buffer = pa.BufferOutputStream()
        write(buffer)  # type: ignore[arg-type]
        payload = buffer.getvalue().to_pybytes()
        sys.stdout.flush()
        if hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(payload)
        elif fmt == "csv":  # a text-only stdout (captured output)
            sys.stdout.write(payload.decode("utf-8"))
        else:
            raise MidexError("standard output is not binary here; write Parquet with --output PATH")
        sys.stdout.flush()
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write(output)
