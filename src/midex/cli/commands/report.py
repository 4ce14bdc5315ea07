"""`midex report ID`: every finding of a submission, as text, JSON, CSV or an offline HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from midex.contract.errors import UsageError
from midex.storage.catalog import MAX_ID

FORMATS = ("text", "json", "csv", "html")


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        submission_id: Annotated[
            int, typer.Argument(help="The submission's id.", min=1, max=MAX_ID)
        ],
        fmt: Annotated[
            str, typer.Option("--format", help="text (default), json, csv or html.")
        ] = "text",
        output: Annotated[
            Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
        ] = None,
    ) -> None:
        """Every finding of a submission: row, sheet, column, value, rule, what to do."""
        from midex.cli.app import open_context
        from midex.contract.findings import read_findings, render_csv, render_html, render_text

        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
        ctx = open_context()
        ctx.catalog.init()
        sub = ctx.catalog.submission(submission_id)
        findings = read_findings(ctx.lake.findings_file(submission_id))
        title = f"submission {sub.id} ({sub.file_name}, provider {sub.provider_code})"
        if fmt == "json":
            import json

            text = json.dumps(
                {
                    "submission": sub.id,
                    "status": str(sub.status),
                    "findings": [f.to_dict() for f in findings],
                },
                ensure_ascii=False,
            )
        elif fmt == "csv":
            text = render_csv(findings).rstrip("\n")
        elif fmt == "html":
            text = render_html(title, str(sub.status), findings, sub.notes).rstrip("\n")
        else:
            text = render_text(f"{title}: {sub.status}", findings, sub.notes)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text + "\n", "utf-8")
            typer.echo(f"wrote the report of submission {sub.id} to {output}", err=True)
