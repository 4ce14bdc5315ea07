"""API tokens of the HTTP service: issued once, stored only as a sha256, checked per request.

Tokens are 256-bit random strings, so a plain sha256 (no slow hash) is enough to make a stolen
catalog useless for logging in; the token itself is shown once, at creation or rotation.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict, deque
from datetime import timedelta

from sqlmodel import col, select

from midex.contract.clock import as_utc, utcnow
from midex.contract.errors import MidexError
from midex.storage.catalog import Catalog, Token

PREFIX = "mdx_"
MAX_LIFETIME_DAYS = 36_500  # a hundred years: a longer lifetime is a mistake (or `inf`)


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
    expires_in_days: float | None = None,
) -> tuple[str, Token]:
    """Create a token and return (the token, its record). A provider has one active token:
    a second needs `rotate`, which revokes the old one at once. With `expires_in_days`, the
    token stops working that many days from now."""
    if expires_in_days is not None and not 0 < expires_in_days <= MAX_LIFETIME_DAYS:
        raise MidexError(  # also NaN, which no comparison admits
            f"a token's lifetime must be a positive number of days, at most {MAX_LIFETIME_DAYS:,}"
        )
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
                        col(Token.revoked_at).is_(None),
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
        expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
        record = Token(
            token_sha256=token_sha256(plain),
            role=str(role),
            provider_code=provider_code,
            name=name,
            expires_at=expires,
        )
        s.add(record)
        s.commit()
        s.refresh(record)
    return plain, record


def verify_token(catalog: Catalog, token: str) -> Token | None:
    """The active token record for `token`, or None (unknown, revoked or expired)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    with catalog.session() as s:
        record = s.exec(select(Token).where(Token.token_sha256 == token_sha256(token))).first()
    if record is None or record.revoked_at is not None:
        return None
    if record.expires_at is not None and as_utc(record.expires_at) <= utcnow():
        return None
    return record


def list_tokens(catalog: Catalog) -> list[Token]:
    """Every token record, active and revoked (the token itself is never stored)."""
    with catalog.session() as s:
        return list(s.exec(select(Token).order_by(col(Token.id))))


def revoke_token(catalog: Catalog, token_id: int) -> Token:
    """Revoke a token now (it stops working at once; the record stays for the audit)."""
    with catalog.session() as s:
        record = s.get(Token, token_id)
        if record is None:
            raise MidexError(f"no token {token_id}; `midex token list` shows them")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
            s.add(record)
            s.commit()
            s.refresh(record)
        return record


def client_key(address: str) -> str:
    """Whom failures are counted against: an IPv4 address, or an IPv6 address's /64 network
    (one subscriber's: a client given a /64 could otherwise try 2**64 addresses in turn)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown", a test client's name
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.7 is 192.0.2.7
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailedLogins:
    """Failed authentications per client address, in a sliding window of `window_s` seconds.
    Past `limit` failures an address's failures get 429 with Retry-After instead of 401; a
    valid token is checked first and never slowed. At most `max_addresses` are remembered (the
    oldest go first), so a flood of addresses cannot grow memory."""

    def __init__(self, limit: int, window_s: float = 60.0, max_addresses: int = 10_000) -> None:
        self.limit, self.window_s, self.max_addresses = limit, window_s, max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def fail(self, address: str) -> float | None:
        """Record a failure; the seconds to wait (Retry-After) when over the limit, else None."""
        now = time.monotonic()
        address = client_key(address)
        with self._lock:
            times = self._failures.pop(address, None) or deque()
            while times and now - times[0] > self.window_s:
                times.popleft()
            times.append(now)
            while len(times) > self.limit + 1:  # keep what decides, not every attempt
                times.popleft()
            self._failures[address] = times
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
            if len(times) > self.limit:
                return max(1.0, self.window_s - (now - times[0]))
        return None
