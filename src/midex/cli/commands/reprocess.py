"""`midex reprocess [--provider P] [--indicator I] [--all]`: re-harmonise after a mapping change."""

from __future__ import annotations

from typing import Annotated

import typer

from midex.cli.app import JsonOpt, emit_json, open_context, open_spark


def register(app: typer.Typer) -> None:
    @app.command()
    def reprocess(
        provider: Annotated[
            str | None, typer.Option("--provider", help="Only this provider's submissions.")
        ] = None,
        indicator: Annotated[
            str | None, typer.Option("--indicator", help="Only submissions with this indicator.")
        ] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every submission.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Re-harmonise submissions made with an older mapping version (schemas/) or older
        exchange rates, then resolve again. Running it twice changes nothing the second time."""
        from midex.stages import reprocess as do_reprocess

        ctx = open_context()
        ctx.catalog.init()
        done = do_reprocess(ctx, open_spark(), provider, indicator, all_)
        subs = [ctx.catalog.submission(i) for i in done]
        if as_json:
            emit_json(
                {
                    "mapping_version": ctx.schema.mapping_version,
                    "reprocessed": [{"id": s.id, "status": str(s.status)} for s in subs],
                }
            )
        elif not subs:
            typer.echo(
                f"nothing to reprocess: all up to date (mapping {ctx.schema.mapping_version})"
            )
        else:
            for s in subs:
                typer.echo(f"submission {s.id} ({s.file_name}): reprocessed, {s.status}")
