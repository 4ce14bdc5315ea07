"""What the routes share, kept on the app's state by `create_app` and handed to them as
dependencies: the stages' Context (settings, catalog, lake, schema), the settings, the processor
(embedded worker or Airflow) and the failed-login limiter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from midex.contract.settings import Settings
from midex.service.processing import Processor
from midex.service.tokens import FailedLogins
from midex.stages.context import Context


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def settings(request: Request) -> Settings:
    return context(request).settings


def processor(request: Request) -> Processor:
    chosen: Processor = request.app.state.processor
    return chosen


def failed_logins(request: Request) -> FailedLogins:
    limiter: FailedLogins = request.app.state.failed_logins
    return limiter


Ctx = Annotated[Context, Depends(context)]
Config = Annotated[Settings, Depends(settings)]
Processing = Annotated[Processor, Depends(processor)]
Limiter = Annotated[FailedLogins, Depends(failed_logins)]
