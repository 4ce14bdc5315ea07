"""`midex spark-archive`: build the JVM class archive that makes Spark drivers start faster
(midex.runtime.class_archive; `make install` runs it)."""

from __future__ import annotations

import time

import typer

from midex.cli.app import JsonOpt, emit_json


def register(app: typer.Typer) -> None:
    @app.command("spark-archive")
    def spark_archive(as_json: JsonOpt = False) -> None:
        """Record the classes a Spark driver loads into a class-data-sharing archive, used by
        every later session and spark-submit job (MIDEX_SPARK_CLASS_ARCHIVE; "" turns it off)."""
        from midex.contract.settings import get_settings
        from midex.runtime.class_archive import build

        start = time.perf_counter()
        path = build(get_settings())
        seconds = round(time.perf_counter() - start, 1)
        size = path.stat().st_size
        if as_json:
            emit_json({"archive": str(path), "bytes": size, "seconds": seconds})
        else:
            typer.echo(f"class archive {path} ({size / 2**20:.0f} MiB) built in {seconds} s")
