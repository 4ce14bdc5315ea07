"""Land a file unchanged and record it as a pending submission (idempotent for a retried upload)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from midex.contract.errors import MidexError
from midex.formats import check_format, detect_format
from midex.storage.catalog import (
    Submission,
    SubmissionMode,
)
from midex.storage.landed import LandedFile
from midex.storage.landing import land

if TYPE_CHECKING:
    pass
from midex.stages.context import Context


@dataclass(frozen=True)
class Received:
    """What submitting a file gave: a new pending submission, or (`repeated`) the provider's
    latest submission when the file is the same bytes in the same mode (an upload retried)."""

    submission: Submission
    repeated: bool = False


def submit(
    ctx: Context,
    path: Path,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
) -> Submission:
    """Land `path` unchanged, record it as a pending submission of `provider_code` (always a new
    one: `receive` is the idempotent form the CLI and the service use).

    `mode` merge adds and revises; replace also withdraws the provider's earlier values within
    the scope the file covers (its indicators x areas x periods) that the file no longer has."""
    return receive(ctx, path, provider_code, fmt, mode, new=True).submission


def receive(
    ctx: Context,
    path: Path,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
    *,
    new: bool = False,
    detect: bool = True,
) -> Received:
    """Land `path` and register it (`register`). The format is checked against the closed list
    before anything is read; with detect=False an `auto` format is left for the parse stage to
    find (the service: nothing is parsed inside an HTTP request)."""
    if mode not in {m.value for m in SubmissionMode}:
        raise MidexError(f"unknown mode {mode!r}; use merge or replace")
    check_format(fmt, ctx.schema)
    provider = ctx.catalog.provider(provider_code)
    landed = land(ctx.settings, Path(path), provider.code)
    return register(ctx, landed, provider.code, fmt, mode, new=new, detect=detect)


def register_landed(
    ctx: Context,
    landed: LandedFile,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
) -> Submission:
    """Record an already landed file as a new pending submission."""
    return register(ctx, landed, provider_code, fmt, mode, new=True).submission


def register(
    ctx: Context,
    landed: LandedFile,
    provider_code: str,
    fmt: str = "auto",
    mode: SubmissionMode | str = SubmissionMode.merge,
    *,
    new: bool = False,
    detect: bool = True,
) -> Received:
    """Record a landed file as a pending submission (submit, or a confirmed presigned upload).
    Unless `new`, the same bytes in the same mode as the provider's latest submission give that
    submission back (`repeated`): a retried upload queues nothing twice. Only the latest: the
    same bytes after another file are a deliberate revision and a new submission; so are the
    same bytes sent with another explicit format (the provider corrects how the file is read,
    e.g. `layout:…` after `auto` was refused). `auto` repeats whatever format was found."""
    check_format(fmt, ctx.schema)
    with ctx.catalog.lock("submit"):  # two identical uploads at once: one submission
        if not new:
            latest = ctx.catalog.latest_submission(provider_code)
            if (
                latest is not None
                and latest.sha256 == landed.sha256
                and str(latest.mode) == str(SubmissionMode(mode))
                and fmt in ("auto", latest.format)
            ):
                return Received(latest, repeated=True)
        chosen = detect_format(landed.path, ctx.schema) if fmt == "auto" and detect else fmt
        sub = ctx.catalog.add_submission(
            Submission(
                provider_code=provider_code,
                file_name=landed.file_name,
                format=chosen,
                sha256=landed.sha256,
                size_bytes=landed.size_bytes,
                landing_uri=landed.landing_uri,
                mode=SubmissionMode(mode),
            )
        )
    return Received(sub)
