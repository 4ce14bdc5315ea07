"""Liveness and readiness, for the process supervisor and the load balancer (no token)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from midex.service.state import Ctx, Processing

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready(ctx: Ctx, chosen: Processing) -> JSONResponse:
    """Readiness: catalog reachable with this midex's schema, lake and landing reachable,
    processing running."""
    from midex.storage import migrations

    settings = ctx.settings
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
        checks["landing"] = "ok" if settings.landing and settings.landing.is_dir() else "missing"
    checks["processing"] = f"{chosen.mode} ok" if chosen.alive() else f"{chosen.mode} stopped"
    ok = all(v == "ok" or v.endswith(" ok") for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503
    )
