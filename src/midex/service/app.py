"""The HTTP service: provider uploads and reports, consumer queries and downloads, a web page.

Every route calls the functions the CLI calls (midex.stages, midex.storage.catalog, midex.release.bundle);
this module only adds HTTP, tokens and roles. OpenAPI at /docs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from midex.contract.clock import as_utc, utcnow
from midex.contract.errors import MidexError
from midex.contract.findings import read_findings
from midex.contract.settings import Settings
from midex.service import queries
from midex.service.processing import Processor, processor_for
from midex.service.tokens import FailedLogins, Role, issue_token, verify_token
from midex.service.upload import UploadRefused, receive_upload
from midex.storage.catalog import Release, Submission, SubmissionMode, SubmissionStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from pyspark.sql import SparkSession

    from midex.stages import Received


log = logging.getLogger("midex.service")
STATIC = Path(__file__).parent / "static"
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "sdmx-csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Principal:
    role: str  # provider | consumer | admin | anonymous
    provider_code: str | None = None
    name: str = ""


def embargoed(release: Release) -> bool:
    return release.under_embargo(utcnow())


def _plain(value: Any) -> Any:
    """JSON-safe: NaN becomes null, datetimes ISO text (recursively)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class SubmissionOut(BaseModel):
    id: int
    provider: str
    file: str
    format: str
    mode: str
    sha256: str
    size_bytes: int
    status: str
    received_at: datetime
    validated_at: datetime | None = None
    rows_raw: int | None = None
    rows_harmonised: int | None = None
    rows_quarantined: int | None = None
    errors: int | None = None
    warnings: int | None = None
    error: str | None = None
    processing: str | None = None
    # the upload was the same bytes as the provider's latest submission: that one is returned
    repeated: bool = False


class UploadRequest(BaseModel):
    file_name: str
    provider: str | None = None  # admins only: on behalf of this provider


class ConfirmRequest(BaseModel):
    format: str = "auto"
    mode: SubmissionMode = SubmissionMode.merge
    provider: str | None = None
    new: bool = False  # the same bytes as your latest submission: a new submission anyway


class TokenRequest(BaseModel):
    role: Role
    name: str
    provider: str | None = None
    rotate: bool = False


class PublishRequest(BaseModel):
    as_of: datetime | None = None
    embargo_until: datetime | None = None


def principal(request: Request) -> Principal:
    """Who sends the request: its token's role and provider, or anonymous if allowed."""
    settings: Settings = request.app.state.ctx.settings
    header = request.headers.get("authorization", "")
    if not header:
        if settings.anonymous_read:
            return Principal("anonymous")
        raise HTTPException(
            401,
            "this needs a token: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = header.partition(" ")
    record = None
    if scheme.lower() == "bearer":
        record = verify_token(request.app.state.ctx.catalog, token.strip())
    if record is None:
        address = request.client.host if request.client else "unknown"
        wait = request.app.state.failed_logins.fail(address)
        if wait is not None:
            raise HTTPException(
                429,
                f"too many failed authentications from this address; try again in "
                f"{int(wait)} s with a valid token",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        raise HTTPException(
            401,
            "token not recognised (mistyped, revoked or replaced by a rotation); "
            "ask the midex administrator for a new one",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal(record.role, record.provider_code, record.name)


Who = Annotated[Principal, Depends(principal)]
# catalog ids and release numbers: positive 64-bit integers; any other number is a 422, never a
# database overflow (a 500)
MAX_ID = 2**63 - 1
CatalogId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ReleaseNumber = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def filters(
    area: Annotated[str | None, Query(description="ISO3 codes, comma separated")] = None,
    indicator: Annotated[str | None, Query(description="indicator codes or aliases")] = None,
    period_from: Annotated[str | None, Query(description="YYYY, YYYY-Qn or YYYY-MM")] = None,
    period_to: str | None = None,
    group: Annotated[str | None, Query(description="a group code, GET /api/groups")] = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    return dict(area=area, indicator=indicator, period_from=period_from,
                period_to=period_to, group=group, limit=limit, offset=offset)  # fmt: skip


Filters = Annotated[dict[str, Any], Depends(filters)]


def _received_out(received: Received, notify: Callable[[int], str | None]) -> SubmissionOut:
    """A new submission queued for processing, or the provider's latest one given back."""
    sub = received.submission
    assert sub.id is not None
    if received.repeated:
        return _submission_out(
            sub,
            f"not queued again: the same bytes as your latest submission {sub.id}, whose "
            "status is above; to submit them once more, send new=true",
            repeated=True,
        )
    return _submission_out(sub, notify(sub.id))


def _submission_out(
    sub: Submission, processing: str | None = None, repeated: bool = False
) -> SubmissionOut:
    assert sub.id is not None
    return SubmissionOut(
        id=sub.id,
        provider=sub.provider_code,
        file=sub.file_name,
        format=sub.format,
        mode=str(sub.mode),
        sha256=sub.sha256,
        size_bytes=sub.size_bytes,
        status=str(sub.status),
        received_at=sub.received_at,
        validated_at=sub.validated_at,
        rows_raw=sub.rows_raw,
        rows_harmonised=sub.rows_harmonised,
        rows_quarantined=sub.rows_quarantined,
        errors=sub.errors,
        warnings=sub.warnings,
        error=sub.error,
        processing=processing,
        repeated=repeated,
    )


def create_app(
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    processor: Processor | None = None,
) -> FastAPI:
    """The service for `settings` (default: the environment). `spark` is the session the
    embedded worker uses (built on first need otherwise); `processor` overrides the choice
    between the embedded worker and Airflow."""
    from midex.contract.settings import get_settings
    from midex.stages import Context, init

    settings = settings or get_settings()
    ctx = Context.open(settings)
    init(ctx)
    chosen = processor or processor_for(ctx, spark)
    staging = settings.home / "uploads"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen.start()
        yield
        chosen.stop()

    app = FastAPI(
        title="midex",
        description="Submit migration and development statistics; query published releases.",
        version="1",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.failed_logins = FailedLogins(settings.auth_failures_per_minute)
    app.state.processor = chosen
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    secrets_to_hide = [str(p) for p in (settings.home, settings.lake, settings.landing) if p]

    def clean(message: str) -> str:
        """A MidexError message without the deployment's folders in it."""
        for path in sorted(secrets_to_hide, key=len, reverse=True):
            message = message.replace(path, "…")
        return message

    @app.exception_handler(MidexError)
    async def midex_error(_: Request, exc: MidexError) -> JSONResponse:
        return JSONResponse({"detail": clean(str(exc))}, status_code=400)

    @app.exception_handler(UploadRefused)
    async def upload_refused(_: Request, exc: UploadRefused) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(
            {"detail": "internal error; the service log has the details"}, status_code=500
        )

    def require(who: Principal, *roles: str) -> None:
        if who.role not in roles:
            if who.role == "anonymous":
                raise HTTPException(401, "this needs a token: send 'Authorization: Bearer <token>'")
            raise HTTPException(
                403, f"a {who.role} token cannot do this; it needs {' or '.join(roles)}"
            )

    def reader(who: Principal) -> None:
        require(who, "consumer", "provider", "admin", "anonymous")

    def own_submission(who: Principal, submission_id: int) -> Submission:
        require(who, "provider", "admin")
        try:
            sub = ctx.catalog.submission(submission_id)
        except MidexError:
            raise HTTPException(404, f"no submission {submission_id}") from None
        if who.role == "provider" and sub.provider_code != who.provider_code:
            raise HTTPException(
                403, f"submission {submission_id} belongs to another provider; you see only yours"
            )
        return sub

    def submitter(who: Principal, provider: str | None) -> str:
        require(who, "provider", "admin")
        if who.role == "provider":
            if provider and provider != who.provider_code:
                raise HTTPException(403, "a provider token submits only for its own provider")
            assert who.provider_code is not None
            return who.provider_code
        if not provider:
            raise HTTPException(400, "an admin submitting must name the provider (provider=CODE)")
        return provider

    # ---- health ---------------------------------------------------------------------------
    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["health"])
    def ready() -> JSONResponse:
        """Readiness: catalog reachable with this midex's schema, lake and landing reachable,
        processing running."""
        from midex.storage import migrations

        checks: dict[str, str] = {}
        try:
            # not ready while the schema is not this midex's (e.g. a catalog restored from an
            # old backup, or upgraded by a newer midex): the models would not match the tables
            checks["catalog"] = migrations.state(ctx.catalog.schema_revision())
            if checks["catalog"] == "ok":
                ctx.catalog.providers()
        except Exception:
            checks["catalog"] = "unreachable"
        checks["lake"] = "ok" if ctx.lake.root.is_dir() else "missing"
        if settings.landing_s3:
            from midex.storage.landing_s3 import S3Location, client

            try:
                client(settings).head_bucket(Bucket=S3Location.parse(settings.landing_s3).bucket)
                checks["landing"] = "ok"
            except Exception:
                checks["landing"] = "unreachable"
        else:
            checks["landing"] = (
                "ok" if settings.landing and settings.landing.is_dir() else "missing"
            )
        checks["processing"] = f"{chosen.mode} ok" if chosen.alive() else f"{chosen.mode} stopped"
        ok = all(v == "ok" or v.endswith(" ok") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503
        )

    # ---- web page ---------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    # ---- who am I -------------------------------------------------------------------------
    @app.get("/api/me", tags=["auth"])
    def me(who: Who) -> dict[str, Any]:
        out: dict[str, Any] = {"role": who.role, "name": who.name, "provider": who.provider_code}
        if who.provider_code:
            p = ctx.catalog.provider(who.provider_code)
            out.update(provider_name=p.name, kind=str(p.kind), areas=p.areas)
        return out

    # ---- providers ------------------------------------------------------------------------
    @app.get("/api/template", tags=["providers"])
    def template(format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
        """The submission template (`midex template`): CSV header, or a workbook with
        drop-downs and the codelists."""
        from midex.formats.template_writer import write_csv, write_xlsx

        with tempfile.TemporaryDirectory(prefix="midex-template-") as folder:
            path = Path(folder) / f"midex_template.{format}"
            (write_csv if format == "csv" else write_xlsx)(path, ctx.schema)
            payload = path.read_bytes()
        media = MEDIA["csv"] if format == "csv" else MEDIA["xlsx"]
        return Response(payload, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{path.name}"'})  # fmt: skip

    @app.post(
        "/api/submissions",
        tags=["providers"],
        status_code=202,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "format": {"type": "string", "default": "auto"},
                                "mode": {"type": "string", "enum": ["merge", "replace"]},
                                "provider": {"type": "string", "description": "admins only"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def upload(request: Request, response: Response, who: Who) -> SubmissionOut:
        """Upload a file (multipart, streamed; size limit MIDEX_UPLOAD_MAX_BYTES). It lands
        unchanged and is queued (202); poll GET /api/submissions/{id} for its status. The same
        bytes as your latest submission give that one back (200, repeated: true) unless the
        form says new=true. The format is found when the file is processed, not here."""
        require(who, "provider", "admin")
        received = await receive_upload(request, staging, settings.upload_max_bytes)
        try:
            code = submitter(who, received.fields.get("provider") or None)
            from starlette.concurrency import run_in_threadpool

            from midex.stages import receive

            assert received.path is not None
            result = await run_in_threadpool(
                receive,
                ctx,
                received.path,
                code,
                received.fields.get("format") or "auto",
                received.fields.get("mode") or "merge",
                new=received.fields.get("new", "").strip().lower() in ("true", "1", "yes"),
                detect=False,
            )
        finally:
            received.cleanup()
        if result.repeated:
            response.status_code = 200
        return _received_out(result, chosen.notify)

    @app.post("/api/uploads", tags=["providers"], status_code=201)
    def presign(body: UploadRequest, who: Who) -> dict[str, Any]:
        """A presigned URL to PUT a large file straight into the object store; then POST
        /api/uploads/{upload_id}/confirm registers it."""
        code = submitter(who, body.provider)
        if not settings.landing_s3:
            raise HTTPException(
                409, "presigned uploads need object-store landing (MIDEX_LANDING=s3://…); "
                "upload with POST /api/submissions instead",
            )  # fmt: skip
        from midex.service.upload import check_file_name
        from midex.storage.landing_s3 import presign_upload

        up = presign_upload(settings, code, check_file_name(body.file_name))
        return {
            "upload_id": up.upload_id,
            "url": up.url,
            "method": "PUT",
            "expires_in": up.expires_in,
            "file_name": up.file_name,
            "max_bytes": settings.upload_max_bytes,
            "confirm": f"/api/uploads/{up.upload_id}/confirm",
        }

    @app.post("/api/uploads/{upload_id}/confirm", tags=["providers"], status_code=202)
    def confirm(
        upload_id: str, body: ConfirmRequest, response: Response, who: Who
    ) -> SubmissionOut:
        code = submitter(who, body.provider)
        if not settings.landing_s3:
            raise HTTPException(409, "presigned uploads need MIDEX_LANDING=s3://…")
        from midex.stages import register
        from midex.storage import landing_s3

        loc = landing_s3.incoming_location(settings, code, upload_id)
        if landing_s3.object_size(settings, loc) > settings.upload_max_bytes:
            landing_s3.delete(settings, loc)
            raise HTTPException(
                413, f"the file is larger than the limit of {settings.upload_max_bytes} bytes"
            )
        ctx.catalog.provider(code)
        landed = landing_s3.land_incoming(settings, loc, code)
        try:
            result = register(ctx, landed, code, body.format, body.mode, new=body.new, detect=False)
        finally:
            shutil.rmtree(landed.path.parent, ignore_errors=True)
        if result.repeated:
            response.status_code = 200
        return _received_out(result, chosen.notify)

    @app.get("/api/submissions", tags=["providers"])
    def list_submissions(who: Who, provider: str | None = None) -> list[SubmissionOut]:
        """Your submissions, newest first (admins: everyone's, or one provider's)."""
        require(who, "provider", "admin")
        subs = ctx.catalog.submissions()
        if who.role == "provider":
            subs = [s for s in subs if s.provider_code == who.provider_code]
        elif provider:
            subs = [s for s in subs if s.provider_code == provider]
        return [_submission_out(s) for s in reversed(subs)]

    @app.get("/api/submissions/{submission_id}", tags=["providers"])
    def get_submission(submission_id: CatalogId, who: Who) -> SubmissionOut:
        return _submission_out(own_submission(who, submission_id))

    @app.get("/api/submissions/{submission_id}/report", tags=["providers"])
    def report(
        submission_id: CatalogId,
        who: Who,
        format: Annotated[str, Query(pattern="^(json|csv|html)$")] = "json",
    ) -> Response:
        """Every finding: row as you see it in your file, column, value, rule, what to do."""
        from midex.contract.findings import render_csv, render_html

        sub = own_submission(who, submission_id)
        findings = read_findings(ctx.lake.findings_file(submission_id))
        if format == "csv":
            return Response(render_csv(findings), media_type=MEDIA["csv"])
        if format == "html":
            title = f"submission {sub.id} ({sub.file_name}, provider {sub.provider_code})"
            page = render_html(title, str(sub.status), findings, sub.notes)
            return Response(page, media_type="text/html; charset=utf-8")
        return JSONResponse(
            {
                "submission": submission_id,
                "status": str(sub.status),
                "findings": [f.to_dict() for f in findings],
            }
        )

    @app.post("/api/submissions/{submission_id}/retry", tags=["providers"], status_code=202)
    def retry(submission_id: CatalogId, who: Who) -> SubmissionOut:
        """Process a failed submission again (a crash, not bad data)."""
        sub = own_submission(who, submission_id)
        if sub.status != SubmissionStatus.failed:
            raise HTTPException(409, f"submission {submission_id} is {sub.status}, not failed")
        retry_fn = getattr(chosen, "retry", None)
        if retry_fn is None:
            raise HTTPException(409, "this service does not process submissions")
        retry_fn(submission_id)
        return _submission_out(ctx.catalog.submission(submission_id), "queued again")

    # ---- consumers ------------------------------------------------------------------------
    def visible(who: Principal) -> list[Release]:
        releases = ctx.catalog.releases()
        if who.role == "admin":
            return releases
        return [r for r in releases if not embargoed(r)]

    def release_for(who: Principal, number: int | None) -> Release:
        releases = visible(who)
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

    def release_dict(r: Release) -> dict[str, Any]:
        return {
            "release": r.number,
            "created_at": r.created_at,
            "as_of": r.as_of,
            "embargo_until": r.embargo_until,
            "tables": r.tables,
            "manifest_sha256": r.manifest_sha256,
        }

    @app.get("/api/releases", tags=["consumers"])
    def releases(who: Who) -> list[dict[str, Any]]:
        reader(who)
        return [release_dict(r) for r in reversed(visible(who))]

    @app.get("/api/releases/{number}", tags=["consumers"])
    def release_manifest(number: CatalogId, who: Who) -> dict[str, Any]:
        reader(who)
        from midex.release.bundle import read_manifest

        rel = release_for(who, number)
        return {**release_dict(rel), "manifest": read_manifest(rel)}

    @app.get("/api/tables", tags=["consumers"])
    def tables(who: Who, release: ReleaseNumber = None) -> dict[str, Any]:
        """The tables of a release (default: the latest you may see) with their metadata."""
        reader(who)
        from midex.release.bundle import read_manifest

        rel = release_for(who, release)
        manifest = read_manifest(rel)
        out = []
        for name, entry in manifest["tables"].items():
            meta: dict[str, Any] = {"name": name, "rows": entry["rows"], "sha256": entry["sha256"]}
            meta["columns"] = entry.get("columns", [])
            if name in ctx.schema.table_names():
                d = ctx.schema.table(name)
                meta.update(
                    description=d.get("description"), sdg=d.get("sdg"), grain=d.get("grain")
                )
                meta["column_docs"] = {
                    c["name"]: c.get("description") for c in d.get("columns", [])
                }
            elif name == "observations":
                meta["description"] = "Resolved observations, one per series key, with lineage."
            out.append(meta)
        return {"release": rel.number, "created_at": rel.created_at, "tables": out}

    @app.get("/api/groups", tags=["consumers"])
    def groups(who: Who) -> list[dict[str, Any]]:
        reader(who)
        from midex.transforms.tables import load_groups

        return [{"code": g.code, "name": g.name, "type": g.type, "members": list(g.members)}
                for g in load_groups(ctx.schema)]  # fmt: skip

    def table_of(rel: Release, table: str) -> None:
        try:
            queries.table_path(rel, table)
        except KeyError:
            raise HTTPException(
                404, f"release {rel.number} has no table {table[:60]!r}; GET /api/tables lists them"
            ) from None

    @app.get("/api/tables/{table}", tags=["consumers"])
    def query(table: str, who: Who, f: Filters, release: ReleaseNumber = None) -> dict[str, Any]:
        """Rows of a table, filtered (area, indicator, period range, group) and paged."""
        reader(who)
        rel = release_for(who, release)
        table_of(rel, table)
        q = queries.parse_query(ctx.schema, **f)
        return queries.query_table(rel, table, q, ctx.schema)

    @app.get("/api/tables/{table}/download", tags=["consumers"])
    def download(
        table: str, who: Who, f: Filters, release: ReleaseNumber = None, format: str = "csv"
    ) -> Response:
        """The table in any export format of `midex export` (csv, parquet, sdmx-csv, json);
        csv and parquet may be filtered with the query's filters."""
        reader(who)
        from midex.release import bundle as release_mod

        rel = release_for(who, release)
        table_of(rel, table)
        formats = tuple(release_mod.EXPORT_FORMATS)
        if format not in formats:
            raise HTTPException(
                400, f"unknown format {format[:20]!r}; use one of {', '.join(formats)}"
            )
        filtered = any(v for k, v in f.items() if k not in ("limit", "offset"))
        if filtered:
            if format not in ("csv", "parquet"):
                raise HTTPException(
                    400, f"filters work with csv and parquet downloads, not {format}"
                )
            q = queries.parse_query(ctx.schema, **{**f, "limit": 1, "offset": 0})
            payload = queries.export_filtered(rel, table, q, ctx.schema, format)
        else:
            payload = release_mod.export_bytes(rel, table, format)
        suffix = {"sdmx-csv": "sdmx.csv"}.get(format, format)
        name = f"{table}-release{rel.number}.{suffix}"
        return Response(payload, media_type=MEDIA.get(format, "application/octet-stream"),
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip

    @app.get("/api/releases/{number}/bundle", tags=["consumers"])
    def bundle(number: CatalogId, who: Who) -> FileResponse:
        """The release bundle: every table as CSV, the manifest and the release report (zip)."""
        reader(who)
        from midex.release.bundle import read_manifest

        rel = release_for(who, number)
        name = read_manifest(rel).get("bundle")
        path = Path(rel.path) / name if name else None
        if path is None or not path.is_file():
            raise HTTPException(404, f"release {number} has no bundle")
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @app.get("/api/releases/{number}/report", tags=["consumers"])
    def release_report(number: CatalogId, who: Who) -> FileResponse:
        """The release's HTML report (tables, checks, sources)."""
        reader(who)
        from midex.release.bundle import read_manifest

        rel = release_for(who, number)
        entry = read_manifest(rel).get("report") or {}
        path = Path(rel.path) / entry["file"] if entry.get("file") else None
        if path is None or not path.is_file():
            raise HTTPException(404, f"release {number} has no report")
        return FileResponse(path, media_type="text/html")

    @app.get("/api/explain/{table}", tags=["consumers"])
    def explain(request: Request, table: str, who: Who, release: ReleaseNumber = None) -> Any:
        """Where published values come from (`midex explain`): name rows with COLUMN=VALUE
        query parameters (e.g. ?REF_AREA=MEX&TIME_PERIOD=2020); each row comes with the
        observations behind it: provider, submission, file, source row, value as submitted."""
        reader(who)
        from midex.release.provenance import explain as do_explain

        rel = release_for(who, release)
        table_of(rel, table)
        where = {k: v for k, v in request.query_params.items() if k != "release"}
        if not where:
            raise HTTPException(400, "name the rows: e.g. ?REF_AREA=MEX&TIME_PERIOD=2020")
        queries.check_where(where)
        found = do_explain(rel, table, where)
        return JSONResponse({"release": rel.number, "table": table, "rows": _plain(found)})

    # ---- admin ----------------------------------------------------------------------------
    @app.post("/api/tokens", tags=["admin"], status_code=201)
    def new_token(body: TokenRequest, who: Who) -> dict[str, Any]:
        """Create (or rotate) a token; it is shown here once and stored only as a hash."""
        require(who, "admin")
        plain, record = issue_token(ctx.catalog, body.role, body.name, body.provider, body.rotate)
        return {"token": plain, "role": record.role, "provider": record.provider_code,
                "name": record.name}  # fmt: skip

    @app.post("/api/releases", tags=["admin"], status_code=201)
    def publish(body: PublishRequest, who: Who) -> Any:
        """Publish a new release from the resolved observations: in the embedded worker (waits
        for it, 201), or by triggering Airflow's `midex_release` (202 with the run)."""
        require(who, "admin")
        result = chosen.publish(body.as_of, body.embargo_until)
        if isinstance(result, Release):
            return release_dict(result)
        return JSONResponse(jsonable_encoder(result), status_code=202)

    @app.get("/api/providers", tags=["admin"])
    def providers(who: Who) -> list[dict[str, Any]]:
        require(who, "admin")
        return [{"code": p.code, "name": p.name, "kind": str(p.kind), "areas": p.areas}
                for p in ctx.catalog.providers()]  # fmt: skip

    return app
