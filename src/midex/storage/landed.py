"""A landed file's identity, and the one rule for the names files land under; shared by the
local landing (midex.storage.landing) and the object store (midex.storage.landing_s3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class LandedFile:
    path: Path  # the landed file; with object-store landing, a local copy of the same bytes
    file_name: str
    sha256: str
    size_bytes: int
    uri: str | None = None  # s3://bucket/key when landed in an object store

    @property
    def landing_uri(self) -> str:
        return self.uri or str(self.path)


def safe_file_name(name: str) -> str:
    """The base name only, with anything outside [A-Za-z0-9._-] replaced: no path traversal."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._") or "submission"
    return cleaned[:200]
