"""What the API accepts and answers: catalog ids, request bodies, the submission and release
shapes, the media types of the files it sends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query
from pydantic import BaseModel

from midex.service.tokens import Role
from midex.storage.catalog import MAX_ID, Release, Submission, SubmissionMode

if TYPE_CHECKING:
    from midex.stages import Received

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "sdmx-csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# catalog ids and release numbers: positive 64-bit integers; any other number is a 422, never a
# database overflow (a 500)
CatalogId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ReleaseNumber = Annotated[int | None, Query(ge=1, le=MAX_ID)]


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


def submission_out(
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


def received_out(received: Received, notify: Callable[[int], str | None]) -> SubmissionOut:
    """A new submission queued for processing, or the provider's latest one given back."""
    sub = received.submission
    assert sub.id is not None
    if received.repeated:
        return submission_out(
            sub,
            f"not queued again: the same bytes as your latest submission {sub.id}, whose "
            "status is above; to submit them once more, send new=true",
            repeated=True,
        )
    return submission_out(sub, notify(sub.id))


def release_out(r: Release) -> dict[str, Any]:
    return {
        "release": r.number,
        "created_at": r.created_at,
        "as_of": r.as_of,
        "embargo_until": r.embargo_until,
        "tables": r.tables,
        "manifest_sha256": r.manifest_sha256,
    }
