"""API tokens of the HTTP service: issued once, stored only as a sha256, checked per request.

Tokens are 256-bit random strings, so a plain sha256 (no slow hash) is enough to make a stolen
catalog useless for logging in; the token itself is shown once, at creation or rotation.
"""

from __future__ import annotations

import enum
import hashlib
import secrets

from sqlmodel import select

from midex.catalog import Catalog, Token, utcnow
from midex.errors import MidexError

PREFIX = "mdx_"


class Role(enum.StrEnum):
    provider = "provider"  # submits for its own areas, sees only its own submissions
    consumer = "consumer"  # reads published, non-embargoed releases
    admin = "admin"  # everything, including embargoed releases, publishing and tokens


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    catalog: Catalog,
    role: Role | str,
    name: str,
    provider_code: str | None = None,
    rotate: bool = False,
) -> tuple[str, Token]:
    """Create a token and return (the token, its record). A provider has one active token:
    a second needs `rotate`, which revokes the old one at once."""
    role = Role(role)
    if role == Role.provider:
        if not provider_code:
            raise MidexError("a provider token needs the provider's code")
        provider_code = catalog.provider(provider_code).code
    elif provider_code:
        raise MidexError(f"a {role} token belongs to no provider; leave the provider out")
    plain = PREFIX + secrets.token_urlsafe(32)
    with catalog.session() as s:
        if role == Role.provider:
            active = list(
                s.exec(
                    select(Token).where(
                        Token.provider_code == provider_code,
                        Token.revoked_at.is_(None),  # type: ignore[union-attr]
                    )
                )
            )
            if active and not rotate:
                raise MidexError(
                    f"provider {provider_code} already has a token; use --rotate to replace it "
                    "(the old one stops working at once)"
                )
            for old in active:
                old.revoked_at = utcnow()
                s.add(old)
        record = Token(
            token_sha256=token_sha256(plain), role=str(role), provider_code=provider_code, name=name
        )
        s.add(record)
        s.commit()
        s.refresh(record)
    return plain, record


def verify_token(catalog: Catalog, token: str) -> Token | None:
    """The active token record for `token`, or None (unknown or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    with catalog.session() as s:
        record = s.exec(select(Token).where(Token.token_sha256 == token_sha256(token))).first()
    if record is None or record.revoked_at is not None:
        return None
    return record
