"""Landing: keep every submitted file exactly as received, addressed by its sha256."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from midex.contract.digest import copy_hashed
from midex.contract.errors import MidexError
from midex.storage import landing_s3
from midex.storage.landed import LandedFile, safe_file_name

if TYPE_CHECKING:
    from midex.contract.settings import Settings


def land_file(source: Path, landing_root: Path, provider_code: str) -> LandedFile:
    """Copy `source` unchanged under landing/provider=<code>/<sha256>/<name>; return its identity.

    The copy is written to a temporary file first and moved into place, so a crash never leaves a
    half-written file at the final path. Landing the same bytes twice gives the same path.
    """
    if not source.is_file():
        raise MidexError(f"{source}: no such file; check the path")
    landing_root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".landing-", dir=landing_root)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            sha, size = copy_hashed(src, out)  # hashed as it is copied: read once
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


def land(settings: Settings, source: Path, provider_code: str) -> LandedFile:
    """Land `source` where the settings say: the landing folder, or an s3:// MIDEX_LANDING."""
    if settings.landing_s3:
        return landing_s3.land_file_s3(settings, source, provider_code)
    assert settings.landing is not None
    return land_file(source, settings.landing, provider_code)


@contextmanager
def local_copy(settings: Settings, landing_uri: str) -> Iterator[Path]:
    """The landed file as a local path: itself, or a temporary download of an s3:// object."""
    if landing_uri.startswith("s3://"):
        path = landing_s3.download_to_temp(settings, landing_uri)
        try:
            yield path
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
    else:
        yield Path(landing_uri)
