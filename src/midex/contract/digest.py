"""File fingerprints in one way: SHA-256, read in 1 MiB chunks (never the whole file at once)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

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


def copy_hashed(
    source: BinaryIO, target: BinaryIO, max_bytes: int | None = None
) -> tuple[str, int]:
    """Copy `source` to `target` and hash it in the same pass: (sha256, bytes copied). With
    `max_bytes`, reading stops once past it: a size over `max_bytes` says the source is
    larger, and neither the copy nor the hash is of all of it."""
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            break
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest(), size


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
