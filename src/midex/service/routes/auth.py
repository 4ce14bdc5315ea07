"""Who am I: the role, name and provider of the token the request carries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from midex.service.access import Who
from midex.service.state import Ctx

router = APIRouter(tags=["auth"])


@router.get("/api/me")
def me(who: Who, ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {"role": who.role, "name": who.name, "provider": who.provider_code}
    if who.provider_code:
        p = ctx.catalog.provider(who.provider_code)
        out.update(provider_name=p.name, kind=str(p.kind), areas=p.areas)
    return out
