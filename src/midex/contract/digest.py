"""File fingerprints in one way: SHA-256, read in 1 MiB chunks (never the whole file at once)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20


def sha256_and_size(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> str:
    return sha256_and_size(path)[0]


def sha256_tree(files: Iterable[tuple[Path, str]]) -> str:
    """One fingerprint of several files, each (its path, the name it is known by): changes when
    a file's name or bytes change, or a file comes or goes. The caller gives a stable order."""
    digest = hashlib.sha256()
    for path, name in files:
        digest.update(name.encode())
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
