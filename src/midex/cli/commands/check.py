"""`midex check FILE`: will this file pass? Offline — no Spark, no server, no catalog writes.

The file is parsed by the same readers as on the server (midex.formats.read_submission); its
rows are then mapped with the same codelist lookups (Schema.lookup(), countries.resolve_areas)
and checked with the rules of expectations/harmonised.yaml that need no lake (structure, values,
coherence, and the change from a previous period found in the same file). Rule names, severities
and messages are the server's (midex.contract.rules, midex.quality.validate.finding_for), so a file that passes
`check` does not fail those rules on the server.

Vectorised: every column is mapped once per distinct value (pyarrow `unique` + `take`), problem
rows are found with pyarrow compute; Python runs per row only to group rows for the coherence
and time-series rules and to write the findings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import typer

from midex.contract import periods, rules
from midex.contract.areas import NOT_APPLICABLE, resolve_areas
from midex.contract.errors import MidexError, UsageError
from midex.contract.findings import Finding, sort_findings
from midex.contract.schema import UNIT_MULT_RANGE, Schema
from midex.quality.validate import (
    Suite,
    SuiteExpectation,
    finding_for,
    load_suite,
    ratio_indicators,
)
from midex.transforms.currency import LCU

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


# --- mapping: the same decisions as midex.transforms.harmonise, per distinct value -----------------------


def _trim(arr: pa.Array) -> pa.Array:
    """Spark's trim (spaces only), then '' -> null, like harmonise's _blank_to_null."""
    trimmed = pc.utf8_trim(arr, characters=" ")
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _map(arr: pa.Array, fn: Any, type_: pa.DataType) -> pa.Array:
    """fn applied once per distinct value of `arr`, spread back over the rows."""
    uniq = pc.unique(arr)
    mapped = pa.array([fn(v) for v in uniq.to_pylist()], type=type_)
    return mapped.take(pc.index_in(arr, value_set=uniq))


def _upper_lookup(table: dict[str, str]) -> Any:
    return lambda v: None if v is None else table.get(v.upper())


def _parse_number(v: str | None, markers: frozenset[str]) -> tuple[bool, float | None]:
    """(is_missing, number or None when not a number) for a trimmed OBS_VALUE."""
    if v is None or v.lower() in markers:
        return True, None
    if "_" in v:
        return False, None
    try:
        x = float(v)
    except ValueError:
        return False, None
    if math.isnan(x) or math.isinf(x):
        return False, None
    return False, x


def _parse_mult(v: str | None) -> int | None:
    text = "0" if v is None else v
    try:
        m = int(text)
    except ValueError:
        return None
    low, high = UNIT_MULT_RANGE
    return m if low <= m <= high else None


def _col(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    return table.column(name).combine_chunks().cast(pa.string())


def check_table(
    table: pa.Table,
    schema: Schema,
    suite: Suite,
    provider: str | None = None,
    allowed_areas: tuple[str, ...] = (),
) -> tuple[list[Finding], list[str]]:
    """Every finding the server would report for these raw rows without a lake, and notes."""
    n = table.num_rows
    if n == 0:
        return [
            Finding(
                "error",
                "file_unreadable",
                None,
                None,
                None,
                None,
                None,
                "the file has a header but no data rows",
            )
        ], []
    raw = {c: _col(table, c) for c in (c.name for c in schema.template_columns)}
    source_row = table.column("SOURCE_ROW").to_pylist()
    source_sheet = _col(table, "SOURCE_SHEET").to_pylist()
    source_column = _col(table, "SOURCE_COLUMN").to_pylist()
    t = {c: _trim(a) for c, a in raw.items()}
    notes: list[str] = []

    # areas: every distinct submitted string resolved once
    area_values = sorted(
        set(pc.drop_null(t["REF_AREA"]).to_pylist())
        | set(pc.drop_null(t["COUNTERPART_AREA"]).to_pylist())
    )
    resolved: dict[str, tuple[str | None, str | None]] = {}
    for r in resolve_areas(area_values, schema):
        resolved.setdefault(r.value.strip().upper(), (r.iso3, r.problem))
    ra = _map(
        t["REF_AREA"],
        lambda v: None if v is None else resolved.get(v.upper()),
        pa.struct([("iso3", pa.string()), ("problem", pa.string())]),
    )
    ca = _map(
        t["COUNTERPART_AREA"],
        lambda v: None if v is None else resolved.get(v.upper()),
        pa.struct([("iso3", pa.string()), ("problem", pa.string())]),
    )
    ra_iso3 = pc.struct_field(ra, "iso3").to_pylist()
    ra_problem = pc.struct_field(ra, "problem").to_pylist()
    ca_iso3 = pc.struct_field(ca, "iso3").to_pylist()
    ca_problem = pc.struct_field(ca, "problem").to_pylist()

    indicators = _map(t["INDICATOR"], _upper_lookup(schema.indicators.lookup()), pa.string())
    ind = indicators.to_pylist()
    units = _upper_lookup(schema.units.lookup())
    unit_code = _map(t["UNIT_MEASURE"], units, pa.string()).to_pylist()
    sex = _map(
        pc.fill_null(t["SEX"], schema.sex.default), _upper_lookup(schema.sex.lookup()), pa.string()
    ).to_pylist()
    age = _map(
        pc.fill_null(t["AGE"], schema.age.default), _upper_lookup(schema.age.lookup()), pa.string()
    ).to_pylist()
    period = _map(raw["TIME_PERIOD"], periods.normalise_period, pa.string()).to_pylist()
    markers = frozenset(m.lower() for m in schema.missing_markers if m)
    parsed = _map(
        t["OBS_VALUE"],
        lambda v: _parse_number(v, markers),
        pa.struct([("missing", pa.bool_()), ("number", pa.float64())]),
    )
    missing = pc.struct_field(parsed, "missing").to_pylist()
    number = pc.struct_field(parsed, "number").to_pylist()
    mult = _map(t["UNIT_MULT"], _parse_mult, pa.int64()).to_pylist()
    status_key = pc.if_else(
        pc.is_null(t["OBS_STATUS"]),
        pc.if_else(pa.array(missing, pa.bool_()), "M", schema.obs_status.default),
        t["OBS_STATUS"],
    )
    status = _map(status_key, _upper_lookup(schema.obs_status.lookup()), pa.string()).to_pylist()

    text = {c: a.to_pylist() for c, a in t.items()}
    raw_text = {c: a.to_pylist() for c, a in raw.items()}
    entry = {c.code: c for c in schema.indicators.codes}
    findings: list[Finding] = []
    good: list[int] = []
    lcu_rows = 0
    areas_text = ", ".join(allowed_areas)

    for i in range(n):
        problems: list[tuple[str, str, str]] = []  # rule, column, message

        def add(rule: str, column: str, message: str, found: list = problems) -> None:
            found.append((rule, column, message))

        if text["REF_AREA"][i] is None:
            add(
                "required_value",
                "REF_AREA",
                rules.message(
                    "required_value", column="REF_AREA", fix=rules.fix("required_value", "REF_AREA")
                ),
            )
        elif ra_iso3[i] is None:
            add(
                "unknown_area",
                "REF_AREA",
                ra_problem[i] or rules.message("unknown_area", value=text["REF_AREA"][i]),
            )
        ca_given = text["COUNTERPART_AREA"][i] is not None
        if ca_given and ca_iso3[i] is None:
            add(
                "unknown_area",
                "COUNTERPART_AREA",
                ca_problem[i] or rules.message("unknown_area", value=text["COUNTERPART_AREA"][i]),
            )
        code = ind[i]
        if text["INDICATOR"][i] is None:
            add(
                "required_value",
                "INDICATOR",
                rules.message(
                    "required_value",
                    column="INDICATOR",
                    fix=rules.fix("required_value", "INDICATOR"),
                ),
            )
        elif code is None:
            add(
                "unknown_indicator",
                "INDICATOR",
                rules.message("unknown_indicator", value=text["INDICATOR"][i]),
            )
        attrs = entry[code].attrs if code else {}
        counterpart = ca_iso3[i] or NOT_APPLICABLE
        if ca_given and counterpart != NOT_APPLICABLE and code and not attrs.get("bilateral"):
            add("not_bilateral", "COUNTERPART_AREA", rules.message("not_bilateral", indicator=code))
        for column, value in (("SEX", sex[i]), ("AGE", age[i]), ("OBS_STATUS", status[i])):
            if value is None:
                add(
                    "unknown_code",
                    column,
                    rules.message(
                        "unknown_code",
                        column=column,
                        value=text[column][i],
                        fix=rules.fix("unknown_code", column),
                    ),
                )
        if period[i] is None:
            add(
                "bad_period",
                "TIME_PERIOD",
                rules.message("bad_period", value=text["TIME_PERIOD"][i] or ""),
            )
        if not missing[i] and number[i] is None:
            add("bad_number", "OBS_VALUE", rules.message("bad_number", value=text["OBS_VALUE"][i]))
        if mult[i] is None:
            add(
                "bad_unit_mult",
                "UNIT_MULT",
                rules.message("bad_unit_mult", value=text["UNIT_MULT"][i] or "0"),
            )
        canonical = str(attrs["unit"]) if code else None
        in_lcu = unit_code[i] == LCU and canonical == "USD"
        if text["UNIT_MEASURE"][i] is not None:
            if unit_code[i] is None:
                add(
                    "unknown_unit",
                    "UNIT_MEASURE",
                    rules.message("unknown_unit", value=text["UNIT_MEASURE"][i]),
                )
            elif canonical and unit_code[i] != canonical and not in_lcu:
                add(
                    "unit_mismatch",
                    "UNIT_MEASURE",
                    rules.message(
                        "unit_mismatch", indicator=code, unit=canonical, given=unit_code[i]
                    ),
                )
        if allowed_areas and ra_iso3[i] is not None and ra_iso3[i] not in allowed_areas:
            add(
                "area_out_of_scope",
                "REF_AREA",
                rules.message(
                    "area_out_of_scope", provider=provider, areas=areas_text, area=ra_iso3[i]
                ),
            )
        if problems:
            for rule, column, message in problems:
                findings.append(
                    Finding(
                        "error",
                        rule,
                        source_row[i],
                        source_sheet[i],
                        rules.cell_column(column, source_column[i]),
                        raw_text[column][i],
                        None,
                        message,
                    )
                )
        else:
            good.append(i)
            lcu_rows += in_lcu

    if lcu_rows:
        notes.append(
            f"{lcu_rows} value(s) in local currency are converted to US dollars on the server "
            "with the exchange-rate series; their values are not checked here"
        )
    rows: list[dict[str, Any]] = []
    for i in good:
        lcu = unit_code[i] == LCU
        value = None if missing[i] or lcu else number[i] * 10.0 ** mult[i]
        rows.append(
            {
                "REF_AREA": ra_iso3[i],
                "COUNTERPART_AREA": ca_iso3[i] or NOT_APPLICABLE,
                "INDICATOR": ind[i],
                "SEX": sex[i],
                "AGE": age[i],
                "TIME_PERIOD": period[i],
                "OBS_VALUE": value,
                "SOURCE_ROW": source_row[i],
                "SOURCE_SHEET": source_sheet[i],
                "SOURCE_COLUMN": source_column[i],
                "SOURCE_VALUE": raw_text["OBS_VALUE"][i],
            }
        )
    findings.extend(validate_rows(rows, schema, suite))
    return sort_findings(findings), notes


# --- the suite's rules that need no lake, over harmonised rows ---------------------------------


def validate_rows(rows: list[dict[str, Any]], schema: Schema, suite: Suite) -> list[Finding]:
    """The structure, value, coherence and in-file time-series rules of `suite` over harmonised
    rows (dicts with the observation's columns); the derived fields are named as in the suite."""
    key = list(schema.series_key)
    attrs = {c.code: c.attrs for c in schema.indicators.codes}
    additive = {  # M + F = T holds for counts and amounts only (units marked additive)
        c.code
        for c in schema.indicators.codes
        if schema.units.get(str(c.attrs["unit"])).attrs.get("additive")
    }
    ratios = ratio_indicators(schema)
    failing: dict[str, list[dict[str, Any]]] = defaultdict(list)

    counts: dict[tuple, int] = defaultdict(int)
    sexes: dict[tuple, dict[str, float]] = defaultdict(dict)
    components: dict[tuple, dict[str, float]] = defaultdict(dict)
    partners: dict[tuple, list[float]] = defaultdict(list)  # the partner rows' values
    series: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        counts[tuple(r[k] for k in key)] += 1
        v = r["OBS_VALUE"]
        if v is not None:
            k5 = (r["REF_AREA"], r["COUNTERPART_AREA"], r["INDICATOR"], r["AGE"], r["TIME_PERIOD"])
            if r["SEX"] in ("M", "F"):
                sexes[k5][r["SEX"]] = max(v, sexes[k5].get(r["SEX"], v))
            kr = (r["REF_AREA"], r["COUNTERPART_AREA"], r["SEX"], r["AGE"], r["TIME_PERIOD"])
            components[kr][r["INDICATOR"]] = max(v, components[kr].get(r["INDICATOR"], v))
            if r["COUNTERPART_AREA"] != NOT_APPLICABLE:
                kp = (r["REF_AREA"], r["INDICATOR"], r["SEX"], r["AGE"], r["TIME_PERIOD"])
                partners[kp].append(v)
        ks = (
            r["REF_AREA"],
            r["COUNTERPART_AREA"],
            r["INDICATOR"],
            r["SEX"],
            r["AGE"],
            len(r["TIME_PERIOD"]),
        )
        series[ks].append(r)

    sex_tol = _param(suite, "sex_breakdown")
    ratio_tol = _param(suite, "ratio_coherence")
    partner_tol = _param(suite, "partner_breakdown")
    default_factor = float(suite.params.get("change_factor", 3))
    for r in rows:
        a = attrs[r["INDICATOR"]]
        v = r["OBS_VALUE"]
        if counts[tuple(r[k] for k in key)] > 1:
            failing["series_key_unique"].append(r)
        if v is None:
            continue
        if a.get("non_negative") and v < 0:
            failing["value_not_negative"].append(r)
        if a.get("positive") and v <= 0 and not (a.get("non_negative") and v < 0):
            failing["value_not_positive"].append(r)  # a negative value is reported once, above
        if a.get("percentage") and not 0 <= v <= 100:
            failing["percentage_out_of_range"].append(r)
        if r["SEX"] == "_T" and sex_tol is not None and r["INDICATOR"] in additive:
            k5 = (r["REF_AREA"], r["COUNTERPART_AREA"], r["INDICATOR"], r["AGE"], r["TIME_PERIOD"])
            m, f = sexes[k5].get("M"), sexes[k5].get("F")
            if m is not None and f is not None:
                total = m + f
                if abs(total - v) / max(abs(v), 1.0) > sex_tol:
                    failing["sex_breakdown"].append(
                        {**r, "SEX_MALE": m, "SEX_FEMALE": f, "SEX_SUM": total}
                    )
        kp = (r["REF_AREA"], r["INDICATOR"], r["SEX"], r["AGE"], r["TIME_PERIOD"])
        if (
            r["COUNTERPART_AREA"] == NOT_APPLICABLE
            and partner_tol is not None
            and r["INDICATOR"] in additive
            and partners.get(kp)
        ):
            parts = sum(partners[kp])
            if abs(parts - v) / max(abs(v), 1.0) > partner_tol:
                failing["partner_breakdown"].append(
                    {**r, "PARTNER_SUM": parts, "PARTNER_COUNT": len(partners[kp])}
                )
        if r["INDICATOR"] in ratios and ratio_tol is not None:
            num, den = ratios[r["INDICATOR"]]
            kr = (r["REF_AREA"], r["COUNTERPART_AREA"], r["SEX"], r["AGE"], r["TIME_PERIOD"])
            nv, dv = components[kr].get(num), components[kr].get(den)
            if nv is not None and dv:
                expected = 100.0 * nv / dv
                if abs(v - expected) / max(abs(expected), 1.0) > ratio_tol:
                    failing["ratio_coherence"].append(
                        {
                            **r,
                            "RATIO_EXPECTED": expected,
                            "RATIO_NUMERATOR": num,
                            "RATIO_DENOMINATOR": den,
                        }
                    )
    for group in series.values():
        group.sort(key=lambda r: r["TIME_PERIOD"])
        for before, r in zip(group, group[1:], strict=False):
            v, prev = r["OBS_VALUE"], before["OBS_VALUE"]
            if prev is None or before["TIME_PERIOD"] != periods.previous_period(r["TIME_PERIOD"]):
                continue
            if v is None or v <= 0 or prev <= 0:
                continue
            factor = v / prev
            limit = float(attrs[r["INDICATOR"]].get("change_factor") or default_factor)
            if max(factor, 1.0 / factor) / limit > 1:
                failing["change_from_previous"].append(
                    {
                        **r,
                        "CHANGE_FACTOR": factor,
                        "PREVIOUS_VALUE": prev,
                        "PREVIOUS_PERIOD": before["TIME_PERIOD"],
                        "CHANGE_LIMIT": limit,
                    }
                )
    findings: list[Finding] = []
    for exp in _expectations_by_rule(suite).values():
        findings.extend(finding_for(exp, r, schema) for r in failing.get(exp.rule, []))
    return findings


def _expectations_by_rule(suite: Suite) -> dict[str, SuiteExpectation]:
    out: dict[str, SuiteExpectation] = {}
    for exp in suite.expectations:
        out.setdefault(exp.rule, exp)
    return out


def _param(suite: Suite, rule: str) -> float | None:
    exp = _expectations_by_rule(suite).get(rule)
    return None if exp is None else float(exp.kwargs["max_value"])


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
    from midex.storage.catalog import open_catalog
    from midex.transforms.resolve import load_rules

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
