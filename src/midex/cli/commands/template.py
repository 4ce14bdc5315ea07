"""`midex template [--format csv|xlsx] [--output PATH]`: an empty submission template.

The XLSX carries the codelists on extra sheets and drop-down lists (data validation) for
INDICATOR, SEX and UNIT_MEASURE; every code comes from schemas/ (load_schema), none is written
here.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from midex.cli.app import JsonOpt, emit_json
from midex.contract.schema import load_schema
from midex.contract.settings import get_settings
from midex.formats.template_writer import write_csv, write_xlsx


class TemplateFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def register(app: typer.Typer) -> None:
    @app.command()
    def template(
        fmt: Annotated[
            TemplateFormat, typer.Option("--format", help="csv or xlsx (with codelists).")
        ] = TemplateFormat.csv,
        output: Annotated[
            Path | None,
            typer.Option("--output", help="Where to write it (default: midex_template.<fmt>)."),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Write an empty submission template (the XLSX has drop-downs and the codelists)."""
        schema = load_schema(get_settings().schemas)
        path = output or Path(f"midex_template.{fmt.value}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == TemplateFormat.xlsx:
            write_xlsx(path, schema)
        else:
            write_csv(path, schema)
        if as_json:
            emit_json({"path": str(path), "format": fmt.value})
        else:
            typer.echo(
                f"template written to {path}; fill one row per value and check it with "
                f"`midex check {path}`"
            )
