"""What consumers read: the published releases they may see (embargoed ones only for admins),
their tables and groups, filtered queries, downloads in every export format, bundles, reports,
and where a published value comes from."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from midex.contract.clock import as_utc, utcnow
from midex.contract.periods import WRITE
from midex.service import queries
from midex.service.access import Principal, Reader
from midex.service.payloads import MEDIA, CatalogId, ReleaseNumber, release_out
from midex.service.state import Ctx
from midex.stages.context import Context
from midex.storage.catalog import Release

router = APIRouter(tags=["consumers"])


def filters(
    area: Annotated[str | None, Query(description="ISO3 codes, comma separated")] = None,
    indicator: Annotated[str | None, Query(description="indicator codes or aliases")] = None,
    period_from: Annotated[str | None, Query(description=WRITE)] = None,
    period_to: str | None = None,
    group: Annotated[str | None, Query(description="a group code, GET /api/groups")] = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    return dict(area=area, indicator=indicator, period_from=period_from,
                period_to=period_to, group=group, limit=limit, offset=offset)  # fmt: skip


Filters = Annotated[dict[str, Any], Depends(filters)]


def plain(value: Any) -> Any:
    """JSON-safe: NaN becomes null, datetimes ISO text (recursively)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def visible(ctx: Context, who: Principal) -> list[Release]:
    """The releases `who` may see: all for an admin, those past their embargo for the rest."""
    releases = ctx.catalog.releases()
    if who.role == "admin":
        return releases
    now = utcnow()
    return [r for r in releases if not r.under_embargo(now)]


def release_for(ctx: Context, who: Principal, number: int | None) -> Release:
    """Release `number` (default: the latest `who` may see); 403 while it is under embargo."""
    releases = visible(ctx, who)
    if number is None:
        if not releases:
            raise HTTPException(404, "nothing published yet")
        return releases[-1]
    for r in releases:
        if r.number == number:
            return r
    if any(r.number == number for r in ctx.catalog.releases()):
        raise HTTPException(403, f"release {number} is under embargo until its release time")
    raise HTTPException(404, f"no release {number}")


def table_of(rel: Release, table: str) -> None:
    try:
        queries.table_path(rel, table)
    except KeyError:
        raise HTTPException(
            404, f"release {rel.number} has no table {table[:60]!r}; GET /api/tables lists them"
        ) from None


@router.get("/api/releases")
def releases(who: Reader, ctx: Ctx) -> list[dict[str, Any]]:
    return [release_out(r) for r in reversed(visible(ctx, who))]


@router.get("/api/releases/{number}")
def release_manifest(number: CatalogId, who: Reader, ctx: Ctx) -> dict[str, Any]:
    from midex.release.bundle import read_manifest

    rel = release_for(ctx, who, number)
    return {**release_out(rel), "manifest": read_manifest(rel)}


@router.get("/api/tables")
def tables(who: Reader, ctx: Ctx, release: ReleaseNumber = None) -> dict[str, Any]:
    """The tables of a release (default: the latest you may see) with their metadata."""
    from midex.release.bundle import read_manifest

    rel = release_for(ctx, who, release)
    manifest = read_manifest(rel)
    out = []
    for name, entry in manifest["tables"].items():
        meta: dict[str, Any] = {"name": name, "rows": entry["rows"], "sha256": entry["sha256"]}
        meta["columns"] = entry.get("columns", [])
        if name in ctx.schema.table_names():
            d = ctx.schema.table(name)
            meta.update(description=d.get("description"), sdg=d.get("sdg"), grain=d.get("grain"))
            meta["column_docs"] = {c["name"]: c.get("description") for c in d.get("columns", [])}
        elif name == "observations":
            meta["description"] = "Resolved observations, one per series key, with lineage."
        out.append(meta)
    return {"release": rel.number, "created_at": rel.created_at, "tables": out}


@router.get("/api/groups")
def groups(who: Reader, ctx: Ctx) -> list[dict[str, Any]]:
    from midex.contract.groups import load_groups

    return [{"code": g.code, "name": g.name, "type": g.type, "members": list(g.members)}
            for g in load_groups(ctx.schema)]  # fmt: skip


@router.get("/api/tables/{table}")
def query(
    table: str, who: Reader, ctx: Ctx, f: Filters, release: ReleaseNumber = None
) -> dict[str, Any]:
    """Rows of a table, filtered (area, indicator, period range, group) and paged."""
    rel = release_for(ctx, who, release)
    table_of(rel, table)
    q = queries.parse_query(ctx.schema, **f)
    return queries.query_table(rel, table, q, ctx.schema)


@router.get("/api/tables/{table}/download")
def download(
    table: str,
    who: Reader,
    ctx: Ctx,
    f: Filters,
    release: ReleaseNumber = None,
    format: str = "csv",
) -> Response:
    """The table in any export format of `midex export` (csv, parquet, sdmx-csv, json);
    csv and parquet may be filtered with the query's filters."""
    from midex.release import bundle as release_mod

    rel = release_for(ctx, who, release)
    table_of(rel, table)
    formats = tuple(release_mod.EXPORT_FORMATS)
    if format not in formats:
        raise HTTPException(400, f"unknown format {format[:20]!r}; use one of {', '.join(formats)}")
    filtered = any(v for k, v in f.items() if k not in ("limit", "offset"))
    if filtered:
        if format not in ("csv", "parquet"):
            raise HTTPException(400, f"filters work with csv and parquet downloads, not {format}")
        q = queries.parse_query(ctx.schema, **{**f, "limit": 1, "offset": 0})
        payload = queries.export_filtered(rel, table, q, ctx.schema, format)
    else:
        payload = release_mod.export_bytes(rel, table, format)
    suffix = {"sdmx-csv": "sdmx.csv"}.get(format, format)
    name = f"{table}-release{rel.number}.{suffix}"
    return Response(payload, media_type=MEDIA.get(format, "application/octet-stream"),
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.get("/api/releases/{number}/bundle")
def bundle(number: CatalogId, who: Reader, ctx: Ctx) -> FileResponse:
    """The release bundle: every table as CSV, the manifest and the release report (zip)."""
    from midex.release.bundle import read_manifest

    rel = release_for(ctx, who, number)
    name = read_manifest(rel).get("bundle")
    path = Path(rel.path) / name if name else None
    if path is None or not path.is_file():
        raise HTTPException(404, f"release {number} has no bundle")
    return FileResponse(path, media_type="application/zip", filename=path.name)


@router.get("/api/releases/{number}/report")
def release_report(number: CatalogId, who: Reader, ctx: Ctx) -> FileResponse:
    """The release's HTML report (tables, checks, sources)."""
    from midex.release.bundle import read_manifest

    rel = release_for(ctx, who, number)
    entry = read_manifest(rel).get("report") or {}
    path = Path(rel.path) / entry["file"] if entry.get("file") else None
    if path is None or not path.is_file():
        raise HTTPException(404, f"release {number} has no report")
    return FileResponse(path, media_type="text/html")


@router.get("/api/explain/{table}")
def explain(
    request: Request, table: str, who: Reader, ctx: Ctx, release: ReleaseNumber = None
) -> Any:
    """Where published values come from (`midex explain`): name rows with COLUMN=VALUE
    query parameters (e.g. ?REF_AREA=MEX&TIME_PERIOD=2020); each row comes with the
    observations behind it: provider, submission, file, source row, value as submitted."""
    from midex.release.provenance import explain as do_explain

    rel = release_for(ctx, who, release)
    table_of(rel, table)
    where = {k: v for k, v in request.query_params.items() if k != "release"}
    if not where:
        raise HTTPException(400, "name the rows: e.g. ?REF_AREA=MEX&TIME_PERIOD=2020")
    queries.check_where(where)
    found = do_explain(rel, table, where)
    return JSONResponse({"release": rel.number, "table": table, "rows": plain(found)})
