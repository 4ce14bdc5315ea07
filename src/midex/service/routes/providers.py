"""What providers do: get the template, upload files (through the service, or presigned
straight into the object store and then confirmed), follow their submissions, read the
findings, retry a submission that crashed. A provider sees only its own submissions; an admin
sees everyone's and submits on behalf of a named provider."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from midex.contract.errors import MidexError
from midex.contract.findings import read_findings
from midex.service.access import Principal, Submitter
from midex.service.payloads import (
    MEDIA,
    CatalogId,
    ConfirmRequest,
    SubmissionOut,
    UploadRequest,
    received_out,
    submission_out,
)
from midex.service.state import Config, Ctx, Processing
from midex.service.upload import receive_upload
from midex.stages.context import Context
from midex.storage.catalog import Submission, SubmissionStatus

router = APIRouter(tags=["providers"])

# the upload is read as a stream (midex.service.upload), so FastAPI cannot describe the form
MULTIPART_FORM: dict[str, Any] = {
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
}


def own_submission(ctx: Context, who: Principal, submission_id: int) -> Submission:
    """The submission, if `who` may see it: its provider or an admin."""
    try:
        sub = ctx.catalog.submission(submission_id)
    except MidexError:
        raise HTTPException(404, f"no submission {submission_id}") from None
    if who.role == "provider" and sub.provider_code != who.provider_code:
        raise HTTPException(
            403, f"submission {submission_id} belongs to another provider; you see only yours"
        )
    return sub


def submitter_code(who: Principal, provider: str | None) -> str:
    """The provider a submission is for: a provider's own, or the one an admin names."""
    if who.role == "provider":
        if provider and provider != who.provider_code:
            raise HTTPException(403, "a provider token submits only for its own provider")
        assert who.provider_code is not None
        return who.provider_code
    if not provider:
        raise HTTPException(400, "an admin submitting must name the provider (provider=CODE)")
    return provider


@router.get("/api/template")
def template(ctx: Ctx, format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
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


@router.post("/api/submissions", status_code=202, openapi_extra=MULTIPART_FORM)
async def upload(
    request: Request, response: Response, who: Submitter, ctx: Ctx, chosen: Processing
) -> SubmissionOut:
    """Upload a file (multipart, streamed; size limit MIDEX_UPLOAD_MAX_BYTES). It lands
    unchanged and is queued (202); poll GET /api/submissions/{id} for its status. The same
    bytes as your latest submission give that one back (200, repeated: true) unless the
    form says new=true. The format is found when the file is processed, not here."""
    from midex.stages import receive

    settings = ctx.settings
    received = await receive_upload(request, settings.home / "uploads", settings.upload_max_bytes)
    try:
        code = submitter_code(who, received.fields.get("provider") or None)
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
    return received_out(result, chosen.notify)


@router.post("/api/uploads", status_code=201)
def presign(body: UploadRequest, who: Submitter, settings: Config) -> dict[str, Any]:
    """A presigned URL to PUT a large file straight into the object store; then POST
    /api/uploads/{upload_id}/confirm registers it."""
    code = submitter_code(who, body.provider)
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


@router.post("/api/uploads/{upload_id}/confirm", status_code=202)
def confirm(
    upload_id: str,
    body: ConfirmRequest,
    response: Response,
    who: Submitter,
    ctx: Ctx,
    chosen: Processing,
) -> SubmissionOut:
    code = submitter_code(who, body.provider)
    settings = ctx.settings
    if not settings.landing_s3:
        raise HTTPException(409, "presigned uploads need MIDEX_LANDING=s3://…")
    from midex.stages import register
    from midex.storage import landing_s3

    loc = landing_s3.incoming_location(settings, code, upload_id)
    size, etag = landing_s3.object_head(settings, loc)
    if size > settings.upload_max_bytes:
        landing_s3.delete(settings, loc)
        raise HTTPException(
            413, f"the file is larger than the limit of {settings.upload_max_bytes} bytes"
        )
    ctx.catalog.provider(code)
    try:
        landed = landing_s3.land_incoming(settings, loc, code, etag, settings.upload_max_bytes)
    except landing_s3.ObjectChanged as exc:
        raise HTTPException(409, str(exc)) from exc
    try:
        result = register(ctx, landed, code, body.format, body.mode, new=body.new, detect=False)
    finally:
        shutil.rmtree(landed.path.parent, ignore_errors=True)
    if result.repeated:
        response.status_code = 200
    return received_out(result, chosen.notify)


@router.get("/api/submissions")
def list_submissions(who: Submitter, ctx: Ctx, provider: str | None = None) -> list[SubmissionOut]:
    """Your submissions, newest first (admins: everyone's, or one provider's)."""
    subs = ctx.catalog.submissions()
    if who.role == "provider":
        subs = [s for s in subs if s.provider_code == who.provider_code]
    elif provider:
        subs = [s for s in subs if s.provider_code == provider]
    return [submission_out(s) for s in reversed(subs)]


@router.get("/api/submissions/{submission_id}")
def get_submission(submission_id: CatalogId, who: Submitter, ctx: Ctx) -> SubmissionOut:
    return submission_out(own_submission(ctx, who, submission_id))


@router.get("/api/submissions/{submission_id}/report")
def report(
    submission_id: CatalogId,
    who: Submitter,
    ctx: Ctx,
    format: Annotated[str, Query(pattern="^(json|csv|html)$")] = "json",
) -> Response:
    """Every finding: row as you see it in your file, column, value, rule, what to do."""
    from midex.contract.findings import render_csv, render_html

    sub = own_submission(ctx, who, submission_id)
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


@router.post("/api/submissions/{submission_id}/retry", status_code=202)
def retry(submission_id: CatalogId, who: Submitter, ctx: Ctx, chosen: Processing) -> SubmissionOut:
    """Process a failed submission again (a crash, not bad data)."""
    sub = own_submission(ctx, who, submission_id)
    if sub.status != SubmissionStatus.failed:
        raise HTTPException(409, f"submission {submission_id} is {sub.status}, not failed")
    retry_fn = getattr(chosen, "retry", None)
    if retry_fn is None:
        raise HTTPException(409, "this service does not process submissions")
    # back to received: taken again whatever its failed attempts (by this service's worker, or
    # by midex_intake, which skips a *failed* submission past MIDEX_MAX_ATTEMPTS)
    ctx.catalog.update_submission(submission_id, status=SubmissionStatus.received)
    retry_fn(submission_id)
    return submission_out(ctx.catalog.submission(submission_id), "queued again")
