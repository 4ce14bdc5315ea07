"""The `midex` Typer application and the helpers its commands share.

Commands live in midex.cli.main (the core ones) and in midex.cli.commands.* (one module per area, each
found and registered automatically); midex.cli.main.main is the console entry point.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from midex.storage.catalog import Submission

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from midex.stages import Context

app = typer.Typer(
    name="midex",
    help="Data exchange and harmonisation for migration and development statistics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
provider_app = typer.Typer(help="Register and list data providers.", no_args_is_help=True)
app.add_typer(provider_app, name="provider")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (last line).")]


def open_context() -> Context:
    from midex.stages import Context

    return Context.open()


def open_spark() -> SparkSession:
    from midex.runtime.spark import build_session

    return build_session()


def emit_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str, ensure_ascii=False))


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 1e15 else f"{v:.4g}"
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        return str(v)

    texts = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(t[i]) for t in texts)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for t in texts:
        lines.append(
            "  ".join(
                v.rjust(w) if v[:1].isdigit() or v[:1] == "-" else v.ljust(w)
                for v, w in zip(t, widths, strict=True)
            ).rstrip()
        )
    return "\n".join(lines)


def submission_dict(sub: Submission) -> dict[str, Any]:
    return {
        "id": sub.id,
        "provider": sub.provider_code,
        "file": sub.file_name,
        "format": sub.format,
        "mode": str(sub.mode),
        "sha256": sub.sha256,
        "size_bytes": sub.size_bytes,
        "status": str(sub.status),
        "received_at": sub.received_at,
        "parsed_at": sub.parsed_at,
        "harmonised_at": sub.harmonised_at,
        "validated_at": sub.validated_at,
        "accepted_at": sub.accepted_at,
        "resolved_at": sub.resolved_at,
        "rows_raw": sub.rows_raw,
        "rows_harmonised": sub.rows_harmonised,
        "rows_quarantined": sub.rows_quarantined,
        "errors": sub.errors,
        "warnings": sub.warnings,
        "error": sub.error,
        "notes": sub.notes or [],
    }
