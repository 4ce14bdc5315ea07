"""The `midex` command line. Exit codes: 0 success, 1 the operation failed, 2 usage error.

Every command calls the same functions as the DAGs and the service (midex.stages); errors are
one clear line on standard error, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

import midex.cli.commands
from midex.cli.app import (
    JsonOpt,
    app,
    emit_json,
    format_table,
    open_context,
    open_spark,
    provider_app,
    submission_dict,
)
from midex.contract.errors import MidexError, UsageError
from midex.contract.settings import get_settings
from midex.storage.catalog import MAX_ID, ProviderKind, SubmissionMode


@app.command()
def init() -> None:
    """Create the catalog, lake and landing folders (idempotent)."""
    from midex.stages import init as do_init

    ctx = open_context()
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
    from midex.contract.areas import reporting_area_codes
    from midex.contract.schema import load_schema

    area_list = [a.strip().upper() for a in (areas or "").split(",") if a.strip()]
    schema = load_schema(get_settings().schemas)
    unknown = [a for a in area_list if a not in reporting_area_codes(schema)]
    if unknown:
        raise UsageError(
            f"--areas: {', '.join(unknown)} not ISO 3166 alpha-3 codes nor reporting areas "
            "of schemas/areas/overrides.yaml"
        )
    if kind == ProviderKind.national and not area_list:
        raise UsageError("a national provider needs --areas (the ISO3 codes it may report)")
    ctx = open_context()
    ctx.catalog.init()
    p = ctx.catalog.add_provider(code, name, kind, area_list)
    if as_json:
        emit_json({"code": p.code, "name": p.name, "kind": str(p.kind), "areas": p.areas})
    else:
        typer.echo(f"provider {p.code} ({p.kind}) registered")


@provider_app.command("list")
def provider_list(as_json: JsonOpt = False) -> None:
    """List registered providers."""
    rows = [
        {"code": p.code, "name": p.name, "kind": str(p.kind), "areas": ",".join(p.areas)}
        for p in open_context().catalog.providers()
    ]
    if as_json:
        emit_json(rows)
    else:
        typer.echo(format_table(rows, ["code", "name", "kind", "areas"]))


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="The file to submit, kept unchanged.")],
    provider: Annotated[str, typer.Option("--provider", help="Provider code.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto (detect), template, wdi, eurostat-tsv, sdmx-csv, sdmx-ml or "
            "layout:<name> (a YAML file in schemas/layouts/).",
        ),
    ] = "auto",
    mode: Annotated[
        SubmissionMode,
        typer.Option(
            "--mode",
            help="merge (add and revise) or replace (also withdraw your earlier values in the "
            "file's indicators x areas x periods that it no longer contains).",
        ),
    ] = SubmissionMode.merge,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="A new submission even when the file is the same bytes as the provider's "
            "latest one (which is otherwise given back, not queued twice).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Land a file and queue it for processing (`midex run` processes it)."""
    from midex.stages import init as do_init
    from midex.stages import receive

    ctx = open_context()
    do_init(ctx)
    received = receive(ctx, file, provider, fmt, mode, new=new)
    sub = received.submission
    if as_json:
        emit_json({**submission_dict(sub), "repeated": received.repeated})
    elif received.repeated:
        typer.echo(
            f"not queued again: {sub.file_name} is the same bytes as {provider}'s latest "
            f"submission {sub.id} ({sub.status}); `midex status {sub.id}` shows it, "
            "--new submits the file once more"
        )
    else:
        chosen = f"format {sub.format}"
        if fmt == "auto":
            chosen = f"format detected: {sub.format}"
            if sub.format == "template":
                chosen += " (no other format recognised the file)"
        typer.echo(
            f"submission {sub.id} received: {sub.file_name} ({sub.size_bytes} bytes, "
            f"sha256 {sub.sha256[:12]}…, {chosen}); run `midex run` to process it"
        )


@app.command()
def run(
    submission: Annotated[
        int | None,
        typer.Option("--submission", help="Process only this submission.", min=1, max=MAX_ID),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Process pending submissions through every stage, then resolve observations."""
    from midex.stages import init as do_init
    from midex.stages import run as do_run

    ctx = open_context()
    do_init(ctx)
    results, failures = do_run(ctx, open_spark(), submission)
    if as_json:
        emit_json({"processed": [submission_dict(s) for s in results], "failures": failures})
    else:
        if not results and not failures:
            typer.echo("nothing pending (submissions another run is processing are left to it)")
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
    submission_id: Annotated[
        int | None, typer.Argument(help="One submission's details.", min=1, max=MAX_ID)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show submissions and how far each has travelled."""
    ctx = open_context()
    ctx.catalog.init()
    if submission_id is None:
        subs = ctx.catalog.submissions()
        if as_json:
            emit_json([submission_dict(s) for s in subs])
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
        emit_json(data)
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
def demo() -> None:
    """Run the whole pipeline on the bundled sample submissions and print remittances_gdp."""
    from midex.demo import run_demo

    run_demo(open_context(), open_spark(), typer.echo, format_table)


midex.cli.commands.register_all()


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
        if _debug():
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


def _debug() -> bool:
    """MIDEX_DEBUG, read through the settings; a crash while reading them shows its traceback."""
    try:
        return get_settings().debug
    except Exception:  # noqa: BLE001 - the settings themselves are broken: show why
        return True
