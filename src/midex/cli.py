"""The `midex` command line. Exit codes: 0 success, 1 the operation failed, 2 usage error.

Every command calls the same functions as the DAGs and the service (midex.pipeline); errors are
one clear line on standard error, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from midex.catalog import ProviderKind, Submission
from midex.errors import MidexError, UsageError

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


def _ctx():  # type: ignore[no-untyped-def]
    from midex.pipeline import Context

    return Context.open()


def _spark():  # type: ignore[no-untyped-def]
    from midex.spark import build_session

    return build_session()


def _emit_json(obj: Any) -> None:
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


@app.command()
def init() -> None:
    """Create the catalog, lake and landing folders (idempotent)."""
    from midex.pipeline import init as do_init

    ctx = _ctx()
    do_init(ctx)
    typer.echo(f"midex home {ctx.settings.home} ready (catalog {ctx.settings.catalog_url})")


@provider_app.command("add")
def provider_add(
    code: str,
    name: Annotated[str, typer.Option("--name", help="Full name of the provider.")],
    kind: Annotated[ProviderKind, typer.Option("--kind", help="national or agency.")],
    areas: Annotated[
        str | None, typer.Option("--areas", help="ISO3 codes a national provider may report.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a provider."""
    from midex.countries import iso3_codes

    area_list = [a.strip().upper() for a in (areas or "").split(",") if a.strip()]
    unknown = [a for a in area_list if a not in iso3_codes()]
    if unknown:
        raise UsageError(f"--areas: {', '.join(unknown)} not ISO 3166 alpha-3 codes")
    if kind == ProviderKind.national and not area_list:
        raise UsageError("a national provider needs --areas (the ISO3 codes it may report)")
    ctx = _ctx()
    ctx.catalog.init()
    p = ctx.catalog.add_provider(code, name, kind, area_list)
    if as_json:
        _emit_json({"code": p.code, "name": p.name, "kind": str(p.kind), "areas": p.areas})
    else:
        typer.echo(f"provider {p.code} ({p.kind}) registered")


@provider_app.command("list")
def provider_list(as_json: JsonOpt = False) -> None:
    """List registered providers."""
    rows = [
        {"code": p.code, "name": p.name, "kind": str(p.kind), "areas": ",".join(p.areas)}
        for p in _ctx().catalog.providers()
    ]
    if as_json:
        _emit_json(rows)
    else:
        typer.echo(format_table(rows, ["code", "name", "kind", "areas"]))


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="The file to submit, kept unchanged.")],
    provider: Annotated[str, typer.Option("--provider", help="Provider code.")],
    fmt: Annotated[str, typer.Option("--format", help="auto or template.")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Land a file and queue it for processing (`midex run` processes it)."""
    from midex.pipeline import init as do_init
    from midex.pipeline import submit as do_submit

    ctx = _ctx()
    do_init(ctx)
    sub = do_submit(ctx, file, provider, fmt)
    if as_json:
        _emit_json(submission_dict(sub))
    else:
        typer.echo(
            f"submission {sub.id} received: {sub.file_name} ({sub.size_bytes} bytes, "
            f"sha256 {sub.sha256[:12]}…, format {sub.format}); run `midex run` to process it"
        )


@app.command()
def run(
    submission: Annotated[
        int | None, typer.Option("--submission", help="Process only this submission.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Process pending submissions through every stage, then resolve observations."""
    from midex.pipeline import init as do_init
    from midex.pipeline import run as do_run

    ctx = _ctx()
    do_init(ctx)
    results, failures = do_run(ctx, _spark(), submission)
    if as_json:
        _emit_json({"processed": [submission_dict(s) for s in results], "failures": failures})
    else:
        if not results and not failures:
            typer.echo("nothing pending")
        for s in results:
            detail = f"{s.rows_harmonised or 0} observations"
            if s.errors:
                detail += f", {s.errors} error(s): `midex report {s.id}` lists them"
            if s.warnings:
                detail += f", {s.warnings} warning(s)"
            typer.echo(f"submission {s.id} ({s.file_name}): {s.status} — {detail}")
        for f in failures:
            typer.echo(f"failed: {f}", err=True)
    if failures:
        raise typer.Exit(1)


@app.command()
def status(
    submission_id: Annotated[int | None, typer.Argument(help="One submission's details.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show submissions and how far each has travelled."""
    ctx = _ctx()
    ctx.catalog.init()
    if submission_id is None:
        subs = ctx.catalog.submissions()
        if as_json:
            _emit_json([submission_dict(s) for s in subs])
            return
        rows = [submission_dict(s) for s in subs]
        typer.echo(
            format_table(
                rows,
                ["id", "provider", "file", "status", "rows_harmonised", "errors", "warnings"],
            )
            if rows
            else "no submissions yet"
        )
        return
    sub = ctx.catalog.submission(submission_id)
    data = submission_dict(sub)
    data["validation"] = sub.validation
    data["stages"] = [
        {"stage": r.stage, "started_at": r.started_at, "finished_at": r.finished_at, "ok": r.ok}
        for r in ctx.catalog.stage_runs(submission_id)
    ]
    if as_json:
        _emit_json(data)
        return
    for key in ("id", "provider", "file", "format", "sha256", "status", "error"):
        if data[key] is not None:
            typer.echo(f"{key:>16}: {data[key]}")
    for key in ("received_at", "parsed_at", "harmonised_at", "validated_at", "resolved_at"):
        if data[key] is not None:
            typer.echo(f"{key:>16}: {data[key]:%Y-%m-%d %H:%M:%S}")
    typer.echo(
        f"{'rows':>16}: {sub.rows_raw or 0} read, {sub.rows_harmonised or 0} harmonised, "
        f"{sub.rows_quarantined or 0} quarantined"
    )
    for note in sub.notes or []:
        typer.echo(f"{'note':>16}: {note}")
    if sub.validation:
        typer.echo(
            f"{'validation':>16}: {sub.validation['errors']} error(s), "
            f"{sub.validation['warnings']} warning(s)"
        )
        for r in sub.validation["rules"]:
            typer.echo(f"{'':>18}{r['severity']:<8} {r['rule']}: {r['count']}")


@app.command()
def report(
    submission_id: int,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Every finding of a submission: row, column, value, rule, what to do."""
    from midex.findings import read_findings

    ctx = _ctx()
    sub = ctx.catalog.submission(submission_id)
    findings = read_findings(ctx.lake.findings_file(submission_id))
    if fmt == "json":
        _emit_json(
            {
                "submission": sub.id,
                "status": str(sub.status),
                "findings": [f.to_dict() for f in findings],
            }
        )
        return
    if fmt != "text":
        raise UsageError("--format must be text or json")
    typer.echo(f"submission {sub.id} ({sub.file_name}): {sub.status}, {len(findings)} finding(s)")
    for f in findings:
        where = f"row {f.row}" if f.row is not None else "file"
        if f.column:
            where += f", column {f.column}"
        typer.echo(f"  {f.severity:<7} {where}: {f.message} [{f.rule}]")


@app.command()
def publish(
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", help="Publish what was current then (UTC).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute the impact tables and write a new immutable, numbered release."""
    from midex.pipeline import publish as do_publish

    ctx = _ctx()
    ctx.catalog.init()
    release = do_publish(ctx, _spark(), as_of=as_of)
    if as_json:
        _emit_json(
            {
                "release": release.number,
                "path": release.path,
                "tables": release.tables,
                "submissions": release.submission_ids,
            }
        )
    else:
        tables = ", ".join(f"{k} ({v} rows)" for k, v in release.tables.items())
        typer.echo(f"release {release.number} published at {release.path}: {tables}")


@app.command()
def tables(
    release: Annotated[int | None, typer.Option("--release", help="Release number.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the tables of a release (latest by default)."""
    from midex.release import read_manifest

    ctx = _ctx()
    ctx.catalog.init()
    rel = ctx.catalog.release(release)
    manifest = read_manifest(rel)
    rows = [
        {"table": name, "rows": t["rows"], "columns": len(t["columns"]), "sha256": t["sha256"]}
        for name, t in manifest["tables"].items()
    ]
    if as_json:
        _emit_json({"release": rel.number, "tables": rows})
    else:
        typer.echo(f"release {rel.number} ({rel.created_at:%Y-%m-%d %H:%M:%S} UTC)")
        typer.echo(format_table(rows, ["table", "rows", "columns", "sha256"]))


@app.command()
def export(
    table: str,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    release: Annotated[int | None, typer.Option("--release", help="Release number.")] = None,
    output: Annotated[str, typer.Option("--output", help="File path, or - for stdout.")] = "-",
) -> None:
    """Export a published table (latest release by default)."""
    from midex.release import export as do_export

    ctx = _ctx()
    ctx.catalog.init()
    do_export(ctx.catalog.release(release), table, fmt, output)
    if output != "-":
        typer.echo(f"wrote {table} to {output}", err=True)


@app.command()
def demo() -> None:
    """Run the whole pipeline on the bundled sample submissions and print remittances_gdp."""
    from midex.demo import run_demo

    run_demo(_ctx(), _spark(), typer.echo)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    try:
        # standalone mode: typer prints usage errors and exits 2, --help exits 0
        app(args=argv, prog_name="midex", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UsageError as exc:
        typer.echo(f"midex: usage error: {exc}", err=True)
        return 2
    except MidexError as exc:
        typer.echo(f"midex: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not bad input: one line, the traceback on request
        if os.environ.get("MIDEX_DEBUG"):
            raise
        typer.echo(
            f"midex: internal error: {type(exc).__name__}: {exc} "
            "(set MIDEX_DEBUG=1 for the traceback)",
            err=True,
        )
        return 1
    return 0


def console() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console()
