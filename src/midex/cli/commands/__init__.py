"""CLI commands by area: every module here that defines `register(app)` is registered.

Add a module (e.g. formats.py with `midex check`) without touching midex/cli.py.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all() -> None:
    from midex.cli.app import app

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
