"""Releases: immutable numbered folders of tables with a manifest, a bundle and a report; and
export from them.

A release folder `published/<n>/` holds every table as Parquet, `manifest.json` (tables, columns,
row counts, sha256 per file, source submissions, mapping versions, as-of, embargo), `report.html`
(charts, self-contained) and `release-<n>.zip` (every table as CSV + the manifest + the report).
The impact tables pass their suites in expectations/tables/ before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from midex.contract.clock import as_utc, utcnow
from midex.contract.csvsafe import safe_array, safe_cell, safe_table, safe_text
from midex.contract.digest import sha256_file
from midex.contract.errors import MidexError
from midex.contract.groups import group_members_table
from midex.contract.schema import Schema
from midex.contract.settings import get_settings
from midex.release.report import release_report
from midex.storage.catalog import Catalog, Release
from midex.storage.lake import Lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MANIFEST = "manifest.json"
REPORT = "report.html"
T = TypeVar("T")
# Deflate level of the release bundle: 1 compresses CSV of numbers about as well as the default
# (6) at a fraction of its time (docs/performance.md); the bundle is for slow connections
ZIP_LEVEL = 1
EXPORT_FORMATS = ("csv", "parquet", "sdmx-csv", "json")
SDMX_AGENCY = "MIDEX"
# what an observation carries besides its key and value: attributes in SDMX, lineage otherwise
OBSERVATION_ATTRIBUTES = ["UNIT_MEASURE", "OBS_STATUS", "NATURE", "COMMENT"]

log = logging.getLogger("midex")


def _write_single_parquet(df: DataFrame, target: Path, scratch: Path) -> None:
    """Write `df` as one Parquet file at `target` (tables are small; one file is easy to ship)."""
    df.coalesce(1).write.mode("overwrite").parquet(str(scratch))
    parts = sorted(scratch.glob("part-*.parquet"))
    if len(parts) != 1:
        raise MidexError(f"expected one Parquet part for {target.name}, found {len(parts)}")
    os.replace(parts[0], target)
    shutil.rmtree(scratch)


def _definitions(schema: Schema, table_names: list[str]) -> dict[str, dict[str, Any]]:
    """What the manifest says about each table: kind, grain, layout, columns with units."""
    out: dict[str, dict[str, Any]] = {
        "observations": {
            "kind": "observations",
            "description": "The resolved observations the tables were computed from, with lineage.",
            "grain": list(schema.series_key),
            "layout": "long",
            "sdmx": {
                "dimensions": list(schema.series_key),
                "value": "OBS_VALUE",
                "attributes": OBSERVATION_ATTRIBUTES,
            },
            "column_definitions": [
                {"name": c.name, "type": c.type, "description": c.description}
                for c in schema.observation_columns
            ],
        },
        "group_members": {
            "kind": "reference",
            "description": "Members of every group the aggregates use (schemas/groups/).",
            "grain": ["GROUP_CODE", "REF_AREA"],
            "layout": "reference",
        },
    }
    for name in table_names:
        d = schema.table(name)
        out[name] = {
            "kind": "impact",
            "version": d.get("version"),
            "description": d.get("description"),
            "sdg": d.get("sdg"),
            "grain": list(d["grain"]),
            "layout": d.get("layout", "wide"),
            "sdmx": d.get("sdmx"),
            "source_indicators": d.get("source_indicators") or [],
            "column_definitions": [
                {k: c[k] for k in ("name", "type", "unit", "description", "formula") if k in c}
                | ({"from_indicator": c["from_indicator"]} if c.get("from_indicator") else {})
                for c in d["columns"]
            ],
            "lineage": d.get("lineage") or [],
            "measures": d.get("measures"),
        }
    return out


def _csv_ready(table: pa.Table) -> pa.Table:
    """List columns joined with ';' (CSV has no lists); text that begins like a formula
    prefixed with ' (midex.contract.csvsafe); the other columns as they are."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            column = pc.binary_join(column.cast(pa.list_(pa.string())), ";")
        columns.append(safe_array(column))
    return pa.table(columns, names=table.column_names)


def _csv_bytes(table: pa.Table) -> bytes:
    """CSV of a table; list columns joined with ';' (CSV has no lists), text spreadsheet-safe."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(_csv_ready(table), buffer)
    return buffer.getvalue().to_pybytes()


def _csv_parts(path: Path) -> Iterator[pa.Buffer]:
    """The CSV of the Parquet file at `path`, one row group at a time, the header first (a file
    with no rows: the header alone)."""
    source = pq.ParquetFile(path)
    if source.num_row_groups == 0:
        groups: Iterator[pa.Table] = iter([source.schema_arrow.empty_table()])
    else:
        groups = (source.read_row_group(i) for i in range(source.num_row_groups))
    for i, group in enumerate(groups):
        buffer = pa.BufferOutputStream()
        pacsv.write_csv(_csv_ready(group), buffer, pacsv.WriteOptions(include_header=i == 0))
        yield buffer.getvalue()


_DONE = object()


def ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced in a worker thread up to `depth` ahead of the consumer.

    For a pipeline of two steps that release the GIL (pyarrow's CSV encoding; zlib and SHA-256
    on the bytes): each runs on its own core. An error in the worker is raised to the consumer;
    a consumer that stops early stops the worker."""
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def hand(item: Any) -> bool:
        """Queue `item` unless the consumer has stopped (then never block); whether it was."""
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand(item):
                    return
            hand(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            hand(exc)

    worker = threading.Thread(target=produce, name="midex-ahead", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _stream_csv(path: Path, sink: Any) -> str:
    """Write the Parquet file at `path` as CSV into `sink`, one row group at a time (memory
    holds a few row groups, not the table); return the CSV's SHA-256. A worker thread encodes
    the next row groups while this one hashes and writes (in a zip: compresses) the last."""
    digest = hashlib.sha256()
    for part in ahead(_csv_parts(path)):
        digest.update(part)
        sink.write(memoryview(part))
    return digest.hexdigest()


def _submissions(catalog: Catalog, ids: list[int]) -> list[dict[str, Any]]:
    out = []
    for sid in ids:
        s = catalog.submission(sid)
        out.append(
            {
                "id": s.id,
                "provider": s.provider_code,
                "file": s.file_name,
                "sha256": s.sha256,
                "accepted_at": _iso(s.accepted_at),
                "mapping_version": s.mapping_version,
            }
        )
    return out


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def check_release_tables(
    impact: dict[str, Any], schema: Schema, expectations: Path
) -> list[dict[str, Any]]:
    """Run the table suites; raise with every error-level failure, return the warnings."""
    from midex.quality.table_checks import check_tables

    failures = check_tables(impact, schema, expectations)
    errors = [f for f in failures if f.severity == "error"]
    if errors:
        raise MidexError(
            f"release stopped: {len(errors)} table check(s) failed (expectations/tables/): "
            + "; ".join(f.describe() for f in errors)
        )
    return [f.to_dict() for f in failures]


def publish(
    lake: Lake,
    catalog: Catalog,
    schema: Schema,
    resolved: dict[str, DataFrame],
    as_of: datetime | None = None,
    embargo_until: datetime | None = None,
    expectations: Path | None = None,
) -> Release:
    """`_publish` under the catalog's release and resolve locks: one release at a time, its
    number taken and committed inside the lock, resolved/ unchanged while it is read.
    `resolved`: observations, observations_all, source_disagreements (resolved/, or resolved as
    of `as_of`), read by the caller (midex.stages.publish) under the same locks."""
    with catalog.lock("release"), catalog.lock("resolve"):
        return _publish(lake, catalog, schema, resolved, as_of, embargo_until, expectations)


@dataclass(frozen=True)
class _Impact:
    """What Spark computes for a release: the impact tables (Arrow), their checks' warnings, the
    source submissions and the mapping versions."""

    tables: dict[str, pa.Table]
    warnings: list[Any]
    submission_ids: list[int]
    mapping_versions: list[str]


@dataclass(frozen=True)
class _Draft:
    """A release being written: its number and instants, and where each of its tables comes from."""

    number: int
    created_at: datetime
    as_of: datetime | None
    embargo_until: datetime | None
    tables: dict[str, DataFrame]  # the observations and the other resolved tables (Spark)
    fixed: dict[str, pa.Table]  # written by pyarrow as built
    by_area: bool  # resolved/ laid out by area: its files are concatenated, not rewritten
    definitions: dict[str, dict[str, Any]]


def _observations_for_tables(observations: DataFrame, key: list[str], by_area: bool) -> DataFrame:
    """The observations the impact tables are computed from, cached."""
    if by_area:  # the impact tables read a few columns: only those are cached
        needed = {*key, "OBS_VALUE", "PROVIDER", "ACCEPTED_AT", "SUBMISSION_ID", "MAPPING_VERSION"}
        observations = observations.select(*[c for c in observations.columns if c in needed])
    # Cached grouped by indicator: every impact table filters on INDICATOR, and the cache keeps
    # each column batch's min and max, so a table scans the batches of its indicators only
    return observations.sortWithinPartitions("INDICATOR").cache()


def _release_target(lake: Lake, number: int) -> Path:
    """The folder of release `number`, a crashed publish's leftover removed."""
    target = lake.published_dir() / str(number)
    if target.exists():  # a publish that crashed before its catalog commit: the
        # release lock (pipeline.publish) says no live process is writing it
        log.warning("removing %s: a crashed publish's output, unknown to the catalog", target)
        shutil.rmtree(target)
    return target


def _compute_impact(observations: DataFrame, schema: Schema, expectations: Path) -> _Impact:
    """The impact tables (Spark jobs), checked. Impact tables are small (areas × years): computed
    once, collected as Arrow, checked with pandas and written with pyarrow, which spares Spark a
    job per expectation."""
    from midex.transforms.tables import build_table  # Spark: imported by what runs it

    impact = {n: build_table(n, observations, schema).toArrow() for n in schema.table_names()}
    warnings = check_release_tables(
        {n: t.to_pandas() for n, t in impact.items()}, schema, Path(expectations)
    )
    submission_ids = sorted(r[0] for r in observations.select("SUBMISSION_ID").distinct().collect())
    mapping_versions = sorted(
        r[0] for r in observations.select("MAPPING_VERSION").distinct().collect() if r[0]
    )
    return _Impact(impact, warnings, submission_ids, mapping_versions)


def _bundle_member(file_name: str, created_at: datetime) -> zipfile.ZipInfo:
    """A deflated member of the bundle, dated when the release was created."""
    info = zipfile.ZipInfo(file_name, date_time=created_at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED  # a ZipInfo's default is stored
    info._compresslevel = ZIP_LEVEL  # type: ignore[attr-defined]  # no public setter
    return info


def _write_table_parquet(
    name: str, tmp: Path, draft: _Draft, impact: dict[str, pa.Table], lake: Lake
) -> tuple[str, Path, pq.FileMetaData, str]:
    """Table `name` as Parquet in `tmp`: (name, path, its metadata, its SHA-256)."""
    from midex.transforms.resolve import RESOLVED_TABLES  # Spark: imported by what writes

    path = tmp / f"{name}.parquet"
    if name in draft.fixed:
        pq.write_table(draft.fixed[name], path)
    elif name not in draft.tables:  # an impact table (Arrow, computed by then)
        pq.write_table(impact[name], path)
    elif draft.by_area and name in RESOLVED_TABLES:  # INT96, as Spark writes them
        lake.concat_by_area(lake.resolved_dir(name), path, use_deprecated_int96_timestamps=True)
    else:
        _write_single_parquet(draft.tables[name], path, tmp / f".scratch-{name}")
    return name, path, pq.read_metadata(path), sha256_file(path)


def _add_tables(
    bundle: zipfile.ZipFile,
    tmp: Path,
    names: list[str],
    draft: _Draft,
    impact: dict[str, pa.Table],
    lake: Lake,
) -> dict[str, Any]:
    """Write tables `names` as Parquet and into the bundle as CSV; their manifest entries."""
    entries: dict[str, Any] = {}
    # the next table's Parquet file is built (pyarrow, GIL released) while this one's CSV goes
    # into the bundle
    parquets = (_write_table_parquet(n, tmp, draft, impact, lake) for n in names)
    for name, path, metadata, sha256 in ahead(parquets, depth=1):
        member = _bundle_member(f"{name}.csv", draft.created_at)
        with bundle.open(member, "w", force_zip64=True) as entry:
            csv_sha256 = _stream_csv(path, entry)
        entries[name] = {
            "file": path.name,
            "rows": metadata.num_rows,
            "sha256": sha256,
            "columns": list(metadata.schema.to_arrow_schema().names),
            "csv": {"file": f"{name}.csv", "sha256": csv_sha256},
            **draft.definitions.get(name, {"kind": "resolution"}),
        }
    return entries


def _manifest(
    draft: _Draft,
    schema: Schema,
    entries: dict[str, Any],
    sources: list[dict[str, Any]],
    impact: _Impact,
) -> dict[str, Any]:
    """The release's manifest, before its report is added."""
    return {
        "release": draft.number,
        "created_at": draft.created_at.isoformat(),
        "as_of": _iso(draft.as_of),
        "embargo_until": _iso(draft.embargo_until),
        "mapping_version": schema.mapping_version,
        "mapping_versions": impact.mapping_versions,
        "tables": entries,
        "source_submissions": sources,
        "checks": {"warnings": impact.warnings},
        "bundle": f"release-{draft.number}.zip",
    }


def _write_report_and_manifest(
    tmp: Path,
    bundle: zipfile.ZipFile,
    manifest: dict[str, Any],
    impact: dict[str, pa.Table],
    created_at: datetime,
) -> None:
    """The report, then the manifest naming it: in the release folder and in the bundle."""
    report = release_report(manifest, impact).encode("utf-8")
    (tmp / REPORT).write_bytes(report)
    manifest["report"] = {
        "file": REPORT,
        "sha256": hashlib.sha256(report).hexdigest(),
    }
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    (tmp / MANIFEST).write_text(text, "utf-8")
    bundle.writestr(_bundle_member(MANIFEST, created_at), text.encode("utf-8"))
    bundle.writestr(_bundle_member(REPORT, created_at), report)


def _write_release(
    tmp: Path,
    draft: _Draft,
    computed: Future[_Impact],
    lake: Lake,
    catalog: Catalog,
    schema: Schema,
) -> None:
    """Every file of the release into `tmp`: the tables, the bundle, the report, the manifest."""
    tmp.mkdir(parents=True)
    # every table's CSV is streamed into the bundle from its Parquet file: memory holds
    # a row group, not the release (the observations of a 10M lake are gigabytes of CSV)
    with zipfile.ZipFile(
        tmp / f"release-{draft.number}.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL
    ) as bundle:
        # The resolved tables go in while Spark computes the impact tables (started by the
        # caller); a failed table check raises here, and the temporary folder goes
        entries = _add_tables(bundle, tmp, [*draft.tables, *draft.fixed], draft, {}, lake)
        impact = computed.result()
        entries.update(_add_tables(bundle, tmp, list(impact.tables), draft, impact.tables, lake))
        sources = _submissions(catalog, impact.submission_ids)
        manifest = _manifest(draft, schema, entries, sources, impact)
        _write_report_and_manifest(tmp, bundle, manifest, impact.tables, draft.created_at)


def _commit(catalog: Catalog, draft: _Draft, target: Path, submission_ids: list[int]) -> Release:
    """Enter the written release in the catalog; without an entry its folder goes."""
    manifest_path = target / MANIFEST
    manifest = json.loads(manifest_path.read_text("utf-8"))
    try:
        return catalog.add_release(
            Release(
                number=draft.number,
                created_at=draft.created_at,
                as_of=draft.as_of,
                embargo_until=draft.embargo_until,
                path=str(target),
                manifest_sha256=sha256_file(manifest_path),
                tables={k: v["rows"] for k, v in manifest["tables"].items()},
                submission_ids=submission_ids,
            )
        )
    except Exception:
        shutil.rmtree(target, ignore_errors=True)  # the catalog is the commit: no entry, no folder
        raise


def _publish(
    lake: Lake,
    catalog: Catalog,
    schema: Schema,
    resolved: dict[str, DataFrame],
    as_of: datetime | None = None,
    embargo_until: datetime | None = None,
    expectations: Path | None = None,
) -> Release:
    """Compute every table from the resolved observations, check them, publish a new release.

    With `as_of`, the observations are those that were current at that instant by acceptance
    time (`resolved` afresh from the harmonised partitions by the caller), not the latest. With
    `embargo_until`, the release is not the default for consumers before that instant."""
    if expectations is None:
        expectations = get_settings().expectations
    as_of = as_utc(as_of) if as_of is not None else None
    embargo_until = as_utc(embargo_until) if embargo_until is not None else None
    from midex.quality.validate import import_in_background

    import_in_background()  # the table checks need it after the Spark work (idempotent)
    # resolved/ laid out by area holds each table sorted already: its files are concatenated
    # into the release one at a time with pyarrow, not sorted and coalesced again by Spark
    by_area = as_of is None and lake.resolved_state() is not None
    key = list(schema.series_key)
    tables: dict[str, DataFrame] = {"observations": resolved["observations"].orderBy(*key)}
    observations = _observations_for_tables(resolved["observations"], key, by_area)
    try:
        tables.update({n: df for n, df in resolved.items() if n != "observations"})
        # written by pyarrow as built: the same bytes on any machine (Spark's writer was not)
        fixed = {"group_members": group_members_table(schema)}
        number = catalog.next_release_number()
        target = _release_target(lake, number)
        created_at = utcnow()
        definitions = _definitions(schema, schema.table_names())
        draft = _Draft(
            number, created_at, as_of, embargo_until, tables, fixed, by_area, definitions
        )
        # Spark's jobs (the impact tables) and the writing (pyarrow and zlib, mostly outside the
        # GIL) use the cores together. Leaving the block waits for Spark, also when writing failed.
        with ThreadPoolExecutor(1, thread_name_prefix="midex-impact") as pool:
            computed = pool.submit(_compute_impact, observations, schema, Path(expectations))
            lake.replace_dir(
                target, lambda tmp: _write_release(tmp, draft, computed, lake, catalog, schema)
            )
        submission_ids = computed.result().submission_ids
    finally:
        observations.unpersist()
    return _commit(catalog, draft, target, submission_ids)


def read_manifest(release: Release) -> dict[str, Any]:
    return json.loads((Path(release.path) / MANIFEST).read_text("utf-8"))


def read_table(release: Release, table: str) -> pa.Table:
    manifest = read_manifest(release)
    if table not in manifest["tables"]:
        known = ", ".join(sorted(manifest["tables"]))
        raise MidexError(f"release {release.number} has no table {table!r}; it has: {known}")
    return pq.read_table(Path(release.path) / manifest["tables"][table]["file"])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def sdmx_csv(release: Release, table: str) -> str:
    """The table as SDMX-CSV 2.0: STRUCTURE, STRUCTURE_ID, ACTION, dimensions, OBS_VALUE,
    attributes. Long tables keep their dimensions; wide tables are melted, one row per value,
    with a MEASURE dimension and the column's unit as UNIT_MEASURE. Text that begins like a
    formula is prefixed with ' (midex.contract.csvsafe)."""
    manifest = read_manifest(release)
    entry = manifest["tables"].get(table)
    data = read_table(release, table)
    if entry is None or entry.get("layout") not in ("long", "wide"):
        raise MidexError(f"table {table} has no SDMX structure; export it as csv or parquet")
    version = entry.get("version") or 1
    structure_id = f"{SDMX_AGENCY}:DF_{table.upper()}({version}.0)"
    rows = safe_table(data).to_pylist()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if entry["layout"] == "long":
        sdmx = entry["sdmx"]
        dims, value, attrs = sdmx["dimensions"], sdmx["value"], sdmx["attributes"]
        writer.writerow(["STRUCTURE", "STRUCTURE_ID", "ACTION", *dims, "OBS_VALUE", *attrs])
        for r in rows:
            writer.writerow(
                ["dataflow", structure_id, "I"]
                + [_cell(r[d]) for d in dims]
                + [_cell(r[value])]
                + [_cell(r[a]) for a in attrs]
            )
        return out.getvalue()
    grain = entry["grain"]
    units = {c["name"]: c.get("unit", "") for c in entry.get("column_definitions", [])}
    measures = [c for c in data.column_names if c not in grain]
    writer.writerow(
        ["STRUCTURE", "STRUCTURE_ID", "ACTION", *grain, "MEASURE", "OBS_VALUE", "UNIT_MEASURE"]
    )
    for r in rows:
        for m in measures:
            if r[m] is None:
                continue  # SDMX leaves missing observations out
            writer.writerow(
                ["dataflow", structure_id, "I"]
                + [_cell(r[g]) for g in grain]
                + [safe_text(m), _cell(r[m]), safe_cell(units.get(m, ""))]
            )
    return out.getvalue()


def export_bytes(release: Release, table: str, fmt: str) -> bytes:
    """`table` of `release` in format `fmt` (csv, parquet, sdmx-csv or json)."""
    if fmt not in EXPORT_FORMATS:
        raise MidexError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "sdmx-csv":
        return sdmx_csv(release, table).encode("utf-8")
    data = read_table(release, table)
    if fmt == "csv":
        return _csv_bytes(data)
    if fmt == "json":
        entry = read_manifest(release)["tables"][table]
        doc = {
            "release": release.number,
            "table": table,
            "description": entry.get("description"),
            "columns": entry.get("column_definitions") or entry["columns"],
            "rows": data.to_pylist(),
        }
        return (json.dumps(doc, default=_cell, ensure_ascii=False) + "\n").encode("utf-8")
    buffer = pa.BufferOutputStream()
    pq.write_table(data, buffer)
    return buffer.getvalue().to_pybytes()


def export(release: Release, table: str, fmt: str, output: str) -> None:
    """Write `table` of `release` to `output` (a path, or '-' for standard output)."""
    payload = export_bytes(release, table, fmt)
    if output == "-":
        sys.stdout.flush()
        if hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(payload)
        elif fmt != "parquet":  # a text-only stdout (captured output)
            sys.stdout.write(payload.decode("utf-8"))
        else:
            raise MidexError("standard output is not binary here; write Parquet with --output PATH")
        sys.stdout.flush()
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_bytes(payload)


def filter_rows(data: pa.Table, where: dict[str, str]) -> pa.Table:
    """Rows whose columns equal the given values (compared as text, as a user types them)."""
    mask = None
    for column, wanted in where.items():
        if column not in data.column_names:
            raise MidexError(
                f"--where {column}=…: no such column; columns: {', '.join(data.column_names)}"
            )
        text = pc.cast(data.column(column), pa.string())
        if pa.types.is_boolean(data.schema.field(column).type):
            wanted = wanted.lower()
        condition = pc.equal(text, pa.scalar(wanted))
        mask = condition if mask is None else pc.and_(mask, condition)
    return data if mask is None else data.filter(pc.fill_null(mask, False))
