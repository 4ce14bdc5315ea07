"""Releases for consumers: `midex publish`, `tables`, `export`, `explain`, `diff`.

publish writes an immutable numbered release (Parquet per table, manifest, CSV bundle, HTML
report); an embargoed release is not the default for the others until its time has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from midex.cli.app import JsonOpt, emit_json, format_table, open_context, open_spark
from midex.storage.catalog import MAX_ID

TIME_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
]
ReleaseOpt = Annotated[
    int | None,
    typer.Option(
        "--release",
        help="Release number (default: the latest not under embargo).",
        min=1,
        max=MAX_ID,
    ),
]


def publish(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            help="Publish what was current then, by acceptance time (UTC unless an offset is "
            "given), e.g. 2026-03-01 or 2026-03-01T12:00:00.",
            formats=TIME_FORMATS,
        ),
    ] = None,
    embargo_until: Annotated[
        datetime | None,
        typer.Option(
            "--embargo-until",
            help="Until then (UTC unless an offset is given) the release is not the default "
            "for export, tables, explain and diff.",
            formats=TIME_FORMATS,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute the impact tables, check them, and write a new immutable, numbered release."""
    from midex.stages import publish as do_publish

    ctx = open_context()
    ctx.catalog.init()
    release = do_publish(ctx, open_spark(), as_of=as_of, embargo_until=embargo_until)
    if as_json:
        emit_json(
            {
                "release": release.number,
                "path": release.path,
                "tables": release.tables,
                "submissions": release.submission_ids,
                "as_of": release.as_of,
                "embargo_until": release.embargo_until,
                "bundle": f"{release.path}/release-{release.number}.zip",
                "report": f"{release.path}/report.html",
            }
        )
    else:
        tables = ", ".join(f"{k} ({v} rows)" for k, v in release.tables.items())
        typer.echo(f"release {release.number} published at {release.path}: {tables}")
        if release.embargo_until:
            typer.echo(f"under embargo until {release.embargo_until:%Y-%m-%d %H:%M:%S} UTC")
        typer.echo(f"report: {release.path}/report.html")


def tables(release: ReleaseOpt = None, as_json: JsonOpt = False) -> None:
    """List the tables of a release (latest by default)."""
    from midex.release.bundle import read_manifest

    ctx = open_context()
    ctx.catalog.init()
    rel = ctx.catalog.release(release)
    manifest = read_manifest(rel)
    rows = [
        {
            "table": name,
            "kind": t.get("kind"),
            "rows": t["rows"],
            "columns": len(t["columns"]),
            "sha256": t["sha256"],
        }
        for name, t in manifest["tables"].items()
    ]
    if as_json:
        emit_json({"release": rel.number, "embargo_until": rel.embargo_until, "tables": rows})
    else:
        typer.echo(f"release {rel.number} ({rel.created_at:%Y-%m-%d %H:%M:%S} UTC)")
        typer.echo(format_table(rows, ["table", "kind", "rows", "columns", "sha256"]))


def export(
    table: str,
    fmt: Annotated[
        str, typer.Option("--format", help="csv, parquet, sdmx-csv (SDMX-CSV 2.0) or json.")
    ] = "csv",
    release: ReleaseOpt = None,
    output: Annotated[str, typer.Option("--output", help="File path, or - for stdout.")] = "-",
) -> None:
    """Export a published table (latest release not under embargo by default)."""
    from midex.release.bundle import export as do_export

    ctx = open_context()
    ctx.catalog.init()
    do_export(ctx.catalog.release(release), table, fmt, output)
    if output != "-":
        typer.echo(f"wrote {table} to {output}", err=True)


EXPLAIN_COLUMNS = [
    "INDICATOR", "REF_AREA", "COUNTERPART_AREA", "TIME_PERIOD", "OBS_VALUE", "PROVIDER",
    "SUBMISSION_ID", "SOURCE_FILE", "SOURCE_ROW", "SOURCE_VALUE", "SOURCE_UNIT",
]  # fmt: skip


def explain(
    table: str,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="COLUMN=VALUE selecting published rows; repeatable."),
    ] = None,
    release: ReleaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show, for the selected published values, the observations they were computed from:
    provider, submission, source row and the value as submitted."""
    from midex.contract.errors import UsageError
    from midex.release.provenance import explain as do_explain
    from midex.release.provenance import parse_where

    if not where:
        raise UsageError("give at least one --where COLUMN=VALUE, e.g. --where REF_AREA=MEX")
    ctx = open_context()
    ctx.catalog.init()
    rel = ctx.catalog.release(release)
    found = do_explain(rel, table, parse_where(where))
    if as_json:
        emit_json({"release": rel.number, "table": table, "rows": found})
        return
    if not found:
        typer.echo(f"no row of {table} in release {rel.number} matches {' '.join(where)}")
        raise typer.Exit(1)
    for item in found:
        shown = ", ".join(f"{k}={_text(v)}" for k, v in item["row"].items() if v is not None)
        typer.echo(f"{table} (release {rel.number}): {shown}")
        if item["observations"]:
            typer.echo(format_table(item["observations"], EXPLAIN_COLUMNS))
        else:
            typer.echo("  (no observations: nothing was reported for this row's inputs)")
        typer.echo("")


def _text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def diff(
    release_a: Annotated[int, typer.Argument(help="The earlier release.", min=1, max=MAX_ID)],
    release_b: Annotated[int, typer.Argument(help="The later release.", min=1, max=MAX_ID)],
    table: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the values added, removed and revised from RELEASE_A to RELEASE_B."""
    from midex.release.provenance import diff as do_diff

    ctx = open_context()
    ctx.catalog.init()
    changes = do_diff(ctx.catalog.release(release_a), ctx.catalog.release(release_b), table)
    if as_json:
        emit_json({"from": release_a, "to": release_b, "changes": changes})
        return
    if not changes:
        typer.echo(f"releases {release_a} and {release_b} hold the same values")
        return
    counts: dict[str, int] = {}
    for c in changes:
        counts[c["change"]] = counts.get(c["change"], 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    typer.echo(f"release {release_a} -> {release_b}: {summary}")
    rows = [
        {
            "table": c["table"],
            "change": c["change"],
            "key": " ".join(_text(v) for v in c["key"].values()),
            "column": c["column"],
            "old": c["old"],
            "new": c["new"],
        }
        for c in changes
    ]
    typer.echo(format_table(rows, ["table", "change", "key", "column", "old", "new"]))


def register(app: typer.Typer) -> None:
    app.command()(publish)
    app.command()(tables)
    app.command()(export)
    app.command()(explain)
    app.command()(diff)
