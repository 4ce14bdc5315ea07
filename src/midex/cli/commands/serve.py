"""`midex serve [--host 127.0.0.1] [--port 8000]`: the HTTP API and web page (midex.service)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    ) -> None:
        """Start the HTTP service: upload, reports, queries, downloads; OpenAPI at /docs."""
        import uvicorn

        from midex.service import create_app

        typer.echo(f"midex service on http://{host}:{port}/ (API docs at /docs)")
        # On SIGTERM or SIGINT: open requests get 5 s, then the worker stops (EmbeddedWorker.stop,
        # bounded), then uvicorn raises the signal again: SIGTERM's default action ends the
        # process there, even with a worker thread left behind; SIGINT comes back as
        # KeyboardInterrupt, and Python's exit would wait for that thread: not here.
        service = create_app()
        interrupted = False
        try:
            uvicorn.run(
                service, host=host, port=port, log_level="info", timeout_graceful_shutdown=5
            )
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if getattr(service.state.processor, "abandoned", False):
                # its work did not stop within STOP_WAIT_S: exit without waiting for it, as
                # after kill -9 (the JVM ends with us: its stdin closes)
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(130 if interrupted else 0)
