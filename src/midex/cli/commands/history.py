"""`midex history REF_AREA INDICATOR [--period P]`: every version of a series, with its fate."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from midex.cli.app import JsonOpt, emit_json, format_table, open_context, open_spark
from midex.contract.errors import MidexError

COLUMNS = [
    "TIME_PERIOD", "COUNTERPART_AREA", "SEX", "AGE", "OBS_VALUE", "UNIT_MEASURE", "OBS_STATUS",
    "NATURE", "PROVIDER", "SUBMISSION_ID", "FILE", "MODE", "ACCEPTED_AT", "RESOLUTION",
]  # fmt: skip


def series_history(ctx: Any, spark: Any, area: str, indicator: str, period: str | None) -> list:
    """Every accepted version of the series of `area` and `indicator` (names, ISO2/ISO3/M49 and
    aliases accepted), oldest first per key, each with RESOLUTION: won (the published value),
    lost (another provider's current value), superseded (revised later) or withdrawn."""
    from pyspark.sql import functions as F

    from midex.contract.areas import resolve_areas
    from midex.contract.clock import as_utc
    from midex.contract.periods import WRITE, normalise_period
    from midex.stages import resolution

    resolved = resolve_areas([area.strip()], ctx.schema)
    if not resolved or resolved[0].iso3 is None:
        raise MidexError(resolved[0].problem if resolved else "REF_AREA is empty")
    iso3 = resolved[0].iso3
    code = ctx.schema.indicators.lookup().get(indicator.strip().upper())
    if code is None:
        raise MidexError(f"unknown indicator {indicator!r}; use a code from indicators.yaml")
    result = resolution(ctx, spark)
    if result is None:
        return []
    versions = result.versions.where((F.col("REF_AREA") == iso3) & (F.col("INDICATOR") == code))
    if period:
        canonical = normalise_period(period)
        if canonical is None:
            raise MidexError(f"--period {period!r} is not a period; write {WRITE}")
        versions = versions.where(F.col("TIME_PERIOD") == canonical)
    subs = {s.id: s for s in ctx.catalog.submissions()}
    rows = []
    for r in versions.collect():
        sub = subs[r.SUBMISSION_ID]
        row = {c: r[c] for c in COLUMNS if c in r.__fields__}
        row.update(
            FILE=sub.file_name,
            MODE=str(sub.mode),
            ACCEPTED_AT=as_utc(sub.accepted_at) if sub.accepted_at else None,
        )
        rows.append(row)
    key = ("TIME_PERIOD", "COUNTERPART_AREA", "SEX", "AGE")
    rows.sort(key=lambda x: (*[x[k] for k in key], x["ACCEPTED_AT"], x["SUBMISSION_ID"]))
    return [{"REF_AREA": iso3, "INDICATOR": code, **r} for r in rows]


def register(app: typer.Typer) -> None:
    @app.command()
    def history(
        ref_area: Annotated[str, typer.Argument(help="Country: ISO3, ISO2, M49 or a name.")],
        indicator: Annotated[str, typer.Argument(help="Indicator code or alias.")],
        period: Annotated[str | None, typer.Option("--period", help="Only this period.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Every version of a series: value, provider, submission, acceptance time, fate."""
        ctx = open_context()
        ctx.catalog.init()
        rows = series_history(ctx, open_spark(), ref_area, indicator, period)
        if as_json:
            emit_json(rows)
        elif not rows:
            typer.echo(f"no accepted values for {ref_area} {indicator}")
        else:
            typer.echo(format_table(rows, ["REF_AREA", "INDICATOR", *COLUMNS]))
