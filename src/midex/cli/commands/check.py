"""`midex check FILE`: will this file pass? Offline — no Spark, no server, no catalog writes.

The file is parsed by the same readers as on the server (midex.formats.read_submission), then
checked by the offline engine (midex.quality.offline) against the same declarations the server's
Spark plan is generated from: harmonisation's problems (midex.contract.rules) and the validation
suite's rules that need no lake (expectations/harmonised.yaml). Rule names, severities and
messages are the server's, so a file that passes `check` does not fail those rules there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from midex.contract.errors import MidexError, UsageError
from midex.contract.findings import Finding
from midex.contract.schema import Schema
from midex.quality.offline import check_table
from midex.quality.validate import load_suite

REPORTS = ("text", "json", "csv", "html")


@dataclass
class CheckResult:
    file: str
    format: str
    rows: int
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def check_file(
    path: Path,
    fmt: str = "auto",
    provider: str | None = None,
    schema: Schema | None = None,
    suite_path: Path | None = None,
) -> CheckResult:
    """Parse and check a file offline. A file that cannot be read is one error finding.

    `provider`: its areas come from the catalog when it exists (read only); a national
    provider may then only report its own areas, as on the server."""
    from midex.contract.schema import load_schema
    from midex.contract.settings import get_settings
    from midex.formats import detect_format, read_submission

    settings = get_settings()
    schema = schema or load_schema(settings.schemas)
    suite = load_suite(suite_path or settings.expectations / "harmonised.yaml", schema)
    allowed = _allowed_areas(provider, schema) if provider else ()
    chosen = fmt
    try:
        if fmt == "auto":
            chosen = detect_format(path, schema)
        parsed = read_submission(path, chosen, schema, path.name)
    except MidexError as exc:
        finding = Finding("error", "file_unreadable", None, None, None, None, None, str(exc))
        return CheckResult(path.name, chosen, 0, [finding])
    findings, notes = check_table(parsed.table, schema, suite, provider, allowed)
    return CheckResult(
        path.name, parsed.format, parsed.table.num_rows, findings, [*parsed.notes, *notes]
    )


def _allowed_areas(provider: str, schema: Schema) -> tuple[str, ...]:
    from midex.contract.settings import get_settings

    settings = get_settings()
    url = settings.catalog_url
    assert url is not None  # Settings fills it in (the embedded SQLite catalog by default)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise UsageError(
            f"--provider {provider}: no catalog at {url}; leave out --provider, or register "
            "the provider first (`midex provider add`)"
        )
    from midex.contract.resolution import load_rules
    from midex.storage.catalog import open_catalog

    p = open_catalog(url).provider(provider)
    return load_rules(schema).allowed_areas(str(p.kind), list(p.areas))


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        file: Annotated[Path, typer.Argument(help="The file to check, as you would submit it.")],
        fmt: Annotated[
            str, typer.Option("--format", help="File format: auto (default), template, …")
        ] = "auto",
        provider: Annotated[
            str | None,
            typer.Option("--provider", help="Your provider code: also check your areas."),
        ] = None,
        report: Annotated[
            str, typer.Option("--report", help="Report as text (default), json, csv or html.")
        ] = "text",
    ) -> None:
        """Check a file offline before sending it: exit 0 if it would be accepted, 1 if not."""
        import json

        from midex.contract.findings import render_csv, render_html, render_text

        if report not in REPORTS:
            raise UsageError(f"--report must be one of {', '.join(REPORTS)}")
        if not file.is_file():
            raise UsageError(f"{file}: no such file")
        result = check_file(file, fmt, provider)
        status = "would be accepted" if result.accepted else "would be rejected"
        title = f"{result.file} ({result.format}, {result.rows} row(s) read)"
        if report == "json":
            typer.echo(
                json.dumps(
                    {
                        "file": result.file,
                        "format": result.format,
                        "rows": result.rows,
                        "status": "accepted" if result.accepted else "rejected",
                        "notes": result.notes,
                        "findings": [f.to_dict() for f in result.findings],
                    },
                    ensure_ascii=False,
                )
            )
        elif report == "csv":
            typer.echo(render_csv(result.findings).rstrip("\n"))
        elif report == "html":
            typer.echo(render_html(title, status, result.findings, result.notes).rstrip("\n"))
        else:
            typer.echo(render_text(f"{title}: {status}", result.findings, result.notes))
        if not result.accepted:
            raise typer.Exit(1)
