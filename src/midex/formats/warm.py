"""Imported once by the process that forks the file readers (midex.formats.isolation): the readers,
the schema and the format registry loaded there, so that each reader starts at once instead of
loading them again (~0.25 s a file: the child's one load_schema finds this one cached when the
folder is the same). Nothing here may fail the import: the child loads what it still needs."""

from __future__ import annotations

import contextlib

import midex.formats.layout  # noqa: F401 - imported for the forked readers
import midex.formats.raw  # noqa: F401
import midex.formats.sheets  # noqa: F401
from midex.contract.schema import load_schema
from midex.contract.settings import get_settings
from midex.formats import formats

with contextlib.suppress(Exception):
    load_schema(get_settings().schemas)
    formats()
