"""What every stage needs (settings, catalog, lake, schema, a stop flag), and `init`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from midex.contract.schema import Schema, load_schema
from midex.contract.settings import Settings, get_settings
from midex.storage.catalog import (
    Catalog,
    open_catalog,
)
from midex.storage.lake import Lake

if TYPE_CHECKING:
    pass


@dataclass
class Context:
    """What every stage needs: settings, catalog, lake and schema."""

    settings: Settings
    catalog: Catalog
    lake: Lake
    schema: Schema
    # set when the process is stopping (the service on SIGTERM): a running stage is cut short
    # and recorded as interrupted, and no other stage starts
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(cls, settings: Settings | None = None) -> Context:
        settings = settings or get_settings()
        catalog = open_catalog(settings.catalog_url)
        assert settings.lake is not None
        return cls(settings, catalog, Lake(settings.lake), load_schema(settings.schemas))


def init(ctx: Context) -> None:
    """Create the catalog tables, the lake zones and the landing folder; idempotent."""
    ctx.settings.home.mkdir(parents=True, exist_ok=True)
    ctx.catalog.init()
    ctx.lake.init()
    assert ctx.settings.landing is not None
    ctx.settings.landing.mkdir(parents=True, exist_ok=True)
