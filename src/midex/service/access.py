"""Who sends a request and what their role lets them do, as FastAPI dependencies: `Who` is the
token's principal (or anonymous, if the deployment allows it); `require(*roles)` refuses every
other role with 401 (anonymous) or 403, and gives the principal back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from midex.service.state import Ctx, Limiter
from midex.service.tokens import verify_token


@dataclass(frozen=True)
class Principal:
    role: str  # provider | consumer | admin | anonymous
    provider_code: str | None = None
    name: str = ""


def principal(request: Request, ctx: Ctx, failed_logins: Limiter) -> Principal:
    """Who sends the request: its token's role and provider, or anonymous if allowed."""
    header = request.headers.get("authorization", "")
    if not header:
        if ctx.settings.anonymous_read:
            return Principal("anonymous")
        raise HTTPException(
            401,
            "this needs a token: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = header.partition(" ")
    record = None
    if scheme.lower() == "bearer":
        record = verify_token(ctx.catalog, token.strip())
    if record is None:
        address = request.client.host if request.client else "unknown"
        wait = failed_logins.fail(address)
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


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only `roles` through and returns the principal."""

    def allowed(who: Who) -> Principal:
        if who.role not in roles:
            if who.role == "anonymous":
                raise HTTPException(401, "this needs a token: send 'Authorization: Bearer <token>'")
            raise HTTPException(
                403, f"a {who.role} token cannot do this; it needs {' or '.join(roles)}"
            )
        return who

    allowed.__name__ = f"require_{'_or_'.join(roles)}"
    return allowed


Reader = Annotated[Principal, Depends(require("consumer", "provider", "admin", "anonymous"))]
Submitter = Annotated[Principal, Depends(require("provider", "admin"))]
