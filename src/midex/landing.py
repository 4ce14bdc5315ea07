"""Landing: keep every submitted file exactly as received, addressed by its sha256."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from midex.errors import MidexError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class LandedFile:
    path: Path
    file_name: str
    sha256: str
    size_bytes: int


def safe_file_name(name: str) -> str:
    """The base name only, with anything outside [A-Za-z0-9._-] replaced: no path traversal."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._") or "submission"
    return cleaned[:200]


def land_file(source: Path, landing_root: Path, provider_code: str) -> LandedFile:
    """Copy `source` unchanged under landing/provider=<code>/<sha256>/<name>; return its identity.

    The copy is written to a temporary file first and moved into place, so a crash never leaves a
    half-written file at the final path. Landing the same bytes twice gives the same path.
    """
    if not source.is_file():
        raise MidexError(f"{source}: no such file; check the path")
    landing_root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".landing-", dir=landing_root)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
        name = safe_file_name(source.name)
        target = landing_root / f"provider={provider_code}" / sha / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, target)
            os.chmod(target, 0o444)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return LandedFile(path=target, file_name=name, sha256=sha, size_bytes=size)


def copy_out(landed: Path, destination: Path) -> None:
    shutil.copyfile(landed, destination)
