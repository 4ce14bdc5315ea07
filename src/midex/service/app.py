"""The HTTP service: provider uploads and reports, consumer queries and downloads, a web page.

Every route calls the functions the CLI calls (midex.stages, midex.storage.catalog, midex.release.bundle);
the service only adds HTTP, tokens and roles. The routes live in midex.service.routes, one router
per OpenAPI tag; what they share (Context, processor, failed logins) is on the app's state and
reaches them as dependencies (midex.service.state, midex.service.access). OpenAPI at /docs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from midex.contract.errors import MidexError
from midex.contract.settings import Settings, get_settings
from midex.service.processing import Processor, processor_for
from midex.service.routes import ROUTERS
from midex.service.routes.web import STATIC
from midex.service.tokens import FailedLogins
from midex.service.upload import UploadRefused
from midex.stages.context import Context, init

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("midex.service")


def create_app(
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    processor: Processor | None = None,
) -> FastAPI:
    """The service for `settings` (default: the environment). `spark` is the session the
    embedded worker uses (built on first need otherwise); `processor` overrides the choice
    between the embedded worker and Airflow."""
    settings = settings or get_settings()
    ctx = Context.open(settings)
    init(ctx)
    chosen = processor or processor_for(ctx, spark)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen.start()
        yield
        chosen.stop()

    app = FastAPI(
        title="midex",
        description="Submit migration and development statistics; query published releases.",
        version="1",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.failed_logins = FailedLogins(settings.auth_failures_per_minute)
    app.state.processor = chosen
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_error_handlers(app, settings)
    for router in ROUTERS:
        app.include_router(router)
    return app


def add_error_handlers(app: FastAPI, settings: Settings) -> None:
    """A refused or bad request is a 4xx with a sentence; anything else a 500 that shows
    nothing of the deployment (the log has the traceback)."""
    secrets_to_hide = [str(p) for p in (settings.home, settings.lake, settings.landing) if p]

    def clean(message: str) -> str:
        """A MidexError message without the deployment's folders in it."""
        for path in sorted(secrets_to_hide, key=len, reverse=True):
            message = message.replace(path, "…")
        return message

    @app.exception_handler(MidexError)
    async def midex_error(_: Request, exc: MidexError) -> JSONResponse:
        return JSONResponse({"detail": clean(str(exc))}, status_code=400)

    @app.exception_handler(UploadRefused)
    async def upload_refused(_: Request, exc: UploadRefused) -> JSONResponse:
        # the rest of a refused body is not read: the connection closes after the answer
        # (otherwise the server would drain whatever the client goes on sending)
        return JSONResponse(
            {"detail": exc.message}, status_code=exc.status, headers={"Connection": "close"}
        )

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(
            {"detail": "internal error; the service log has the details"}, status_code=500
        )
