"""`midex serve [--host 127.0.0.1] [--port 8000]`: the HTTP API and web page (midex.service)."""

from __future__ import annotations

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
        # on SIGTERM: open requests get 5 s, then the worker stops (EmbeddedWorker.stop)
        uvicorn.run(
            create_app(), host=host, port=port, log_level="info", timeout_graceful_shutdown=5
        )
