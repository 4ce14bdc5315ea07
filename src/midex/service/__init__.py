"""The HTTP service (`midex serve`): FastAPI app factory in midex.service.app."""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    from midex.service.app import create_app as _create_app

    return _create_app(*args, **kwargs)
