"""What only an admin does: issue and rotate tokens, publish a release, list the providers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from midex.service.access import require
from midex.service.payloads import PublishRequest, TokenRequest, release_out
from midex.service.state import Ctx, Processing
from midex.service.tokens import issue_token
from midex.storage.catalog import Release

# every route here is an admin's: the role is checked once, for the router
router = APIRouter(tags=["admin"], dependencies=[Depends(require("admin"))])


@router.post("/api/tokens", status_code=201)
def new_token(body: TokenRequest, ctx: Ctx) -> dict[str, Any]:
    """Create (or rotate) a token; it is shown here once and stored only as a hash."""
    plain, record = issue_token(ctx.catalog, body.role, body.name, body.provider, body.rotate)
    return {"token": plain, "role": record.role, "provider": record.provider_code,
            "name": record.name}  # fmt: skip


@router.post("/api/releases", status_code=201)
def publish(body: PublishRequest, chosen: Processing) -> Any:
    """Publish a new release from the resolved observations: in the embedded worker (waits
    for it, 201), or by triggering Airflow's `midex_release` (202 with the run)."""
    result = chosen.publish(body.as_of, body.embargo_until)
    if isinstance(result, Release):
        return release_out(result)
    return JSONResponse(jsonable_encoder(result), status_code=202)


@router.get("/api/providers")
def providers(ctx: Ctx) -> list[dict[str, Any]]:
    return [{"code": p.code, "name": p.name, "kind": str(p.kind), "areas": p.areas}
            for p in ctx.catalog.providers()]  # fmt: skip
