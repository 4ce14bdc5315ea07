"""Findings: one shape for every problem a submission has, from parsing to validation."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from midex.contract.csvsafe import safe_cell


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" rejects the submission, "warning" flags it
    rule: str
    row: int | None  # as the provider sees it: file line or sheet row (header = row 1)
    sheet: str | None
    column: str | None
    value: str | None
    series_key: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """The order of every report: by row as the provider sees it, then column, rule, message."""
    return sorted(
        findings,
        key=lambda f: (
            f.row is None,
            f.row or 0,
            f.sheet or "",
            f.column or "",
            f.rule,
            f.message,
        ),
    )


def summarise(findings: list[Finding]) -> dict[str, Any]:
    by_rule: Counter[tuple[str, str]] = Counter((f.severity, f.rule) for f in findings)
    return {
        "errors": sum(1 for f in findings if f.severity == "error"),
        "warnings": sum(1 for f in findings if f.severity == "warning"),
        "rules": [
            {"severity": sev, "rule": rule, "count": n}
            for (sev, rule), n in sorted(by_rule.items())
        ],
    }


def write_findings(path: Path, findings: list[Finding]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([f.to_dict() for f in findings], ensure_ascii=False), "utf-8")
    tmp.replace(path)


def read_findings(path: Path) -> list[Finding]:
    if not path.exists():
        return []
    return [Finding(**d) for d in json.loads(path.read_text("utf-8"))]


# --- reports: the same findings as text, CSV and a self-contained HTML page -------------------

FIELDS = ("severity", "rule", "row", "sheet", "column", "value", "series_key", "message")


def _where(f: Finding) -> str:
    parts = [f"row {f.row}" if f.row is not None else "the whole file"]
    if f.sheet:
        parts.append(f"sheet {f.sheet}")
    if f.column:
        parts.append(f"column {f.column}")
    if f.value is not None:
        parts.append(f"value '{f.value}'")
    return ", ".join(parts)


def _groups(findings: list[Finding]) -> list[tuple[str, str, list[Finding]]]:
    """Findings grouped by (severity, rule): errors first, then by rule name."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.severity, f.rule), []).append(f)
    order = sorted(groups, key=lambda k: (k[0] != "error", k[1]))
    return [(sev, rule, groups[(sev, rule)]) for sev, rule in order]


def verdict(findings: list[Finding]) -> str:
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if errors:
        return (
            f"{errors} error(s), {warnings} warning(s): the file is rejected; fix every error "
            "and send it again"
        )
    if warnings:
        return (
            f"{warnings} warning(s), no errors: the file is accepted; the values with a warning "
            "are flagged — check them"
        )
    return "no problems found: the file is accepted"


def render_text(title: str, findings: list[Finding], notes: list[str] | None = None) -> str:
    """A readable report grouped by rule: each problem with where it is and what to do."""
    lines = [title, verdict(findings)]
    for note in notes or []:
        lines.append(f"note: {note}")
    for severity, rule, group in _groups(findings):
        lines.append("")
        lines.append(f"{severity.upper()} {rule}: {len(group)} finding(s)")
        for f in group:
            key = f" [{f.series_key}]" if f.series_key else ""
            lines.append(f"  {_where(f)}{key}: {f.message}")
    return "\n".join(lines)


def render_csv(findings: list[Finding]) -> str:
    """One line per finding, with a header; a submitted value or message that begins like a
    formula is prefixed with ' (midex.contract.csvsafe), the JSON report keeps the exact text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for f in findings:
        d = f.to_dict()
        writer.writerow(["" if d[k] is None else safe_cell(d[k]) for k in FIELDS])
    return out.getvalue()


def render_html(
    title: str, status: str, findings: list[Finding], notes: list[str] | None = None
) -> str:
    """A self-contained page (inline style, no scripts or links) a provider can open offline."""

    def cell(v: Any) -> str:
        return "" if v is None else escape(str(v))

    summary_rows = "".join(
        f'<tr class="{sev}"><td>{sev}</td><td>{escape(rule)}</td><td>{len(group)}</td></tr>'
        for sev, rule, group in _groups(findings)
    )
    sections = []
    for sev, rule, group in _groups(findings):
        rows = "".join(
            f'<tr class="{sev}"><td>{cell(f.row)}</td><td>{cell(f.sheet)}</td>'
            f"<td>{cell(f.column)}</td><td><code>{cell(f.value)}</code></td>"
            f"<td>{cell(f.series_key)}</td><td>{cell(f.message)}</td></tr>"
            for f in group
        )
        sections.append(
            f'<h2 class="{sev}">{escape(sev)}: {escape(rule)} ({len(group)})</h2>'
            "<table><thead><tr><th>row</th><th>sheet</th><th>column</th><th>value</th>"
            f"<th>series key</th><th>what to do</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    note_items = "".join(f"<li>{escape(n)}</li>" for n in notes or [])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
        "th{background:#f0f0f0}tr.error td:first-child{color:#a00}"
        "tr.warning td:first-child{color:#a60}h2.error{color:#a00}h2.warning{color:#a60}"
        "</style></head><body>"
        f"<h1>{escape(title)}</h1><p><strong>status: {escape(status)}</strong> — "
        f"{escape(verdict(findings))}</p>"
        + (f"<ul>{note_items}</ul>" if note_items else "")
        + "<table><thead><tr><th>severity</th><th>rule</th><th>findings</th></tr></thead>"
        f"<tbody>{summary_rows}</tbody></table>" + "".join(sections) + "</body></html>\n"
    )
