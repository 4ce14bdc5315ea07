"""The release report: one self-contained HTML page with inline SVG charts (no scripts, no CDN).

Charts: remittances vs ODA vs FDI for the largest recipients, donors' ODA % GNI against the 0.7%
line, the largest corridor asymmetries, coverage by provider; then the tables and their sources.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
TOP = 10


def _latest_per_area(rows: list[dict[str, Any]], key: str = "REF_AREA") -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r[key] not in latest or r["TIME_PERIOD"] > latest[r[key]]["TIME_PERIOD"]:
            latest[r[key]] = r
    return list(latest.values())


def _num(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:,.1f} bn"
    if a >= 1e6:
        return f"{v / 1e6:,.1f} m"
    if a >= 1e3:
        return f"{v / 1e3:,.1f} k"
    return f"{v:,.2f}"


def hbar_chart(
    title: str,
    labels: list[str],
    series: list[tuple[str, list[float | None]]],
    fmt: Any = _num,
    reference: tuple[float, str] | None = None,
    fixed_range: tuple[float, float] | None = None,
) -> str:
    """Horizontal grouped bars as an SVG element; negative values extend left of zero."""
    if not labels:
        return f"<h3>{escape(title)}</h3><p class=empty>No data in this release.</p>"
    values = [v for _, vs in series for v in vs if v is not None]
    lo = min([0.0, *values]) if fixed_range is None else fixed_range[0]
    hi = max([0.0, *values]) if fixed_range is None else fixed_range[1]
    if reference is not None:
        hi = max(hi, reference[0] * 1.1)
    span = (hi - lo) or 1.0
    label_w, plot_w, value_w = 150, 460, 90
    bar_h, gap = 12, 8
    group_h = bar_h * len(series) + gap
    legend_h = 22
    height = legend_h + group_h * len(labels) + 20
    width = label_w + plot_w + value_w

    def x(v: float) -> float:
        return label_w + (v - lo) / span * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for i, (name, _) in enumerate(series):
        lx = label_w + i * 150
        parts.append(
            f'<rect x="{lx}" y="4" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>'
            f'<text x="{lx + 14}" y="13" font-size="11">{escape(name)}</text>'
        )
    for row, label in enumerate(labels):
        y0 = legend_h + row * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + group_h / 2}" font-size="11" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for i, (_, vs) in enumerate(series):
            v = vs[row]
            y = y0 + i * bar_h
            if v is None:
                parts.append(
                    f'<text x="{x(0) + 3}" y="{y + bar_h - 2}" font-size="9" fill="#888">n/a</text>'
                )
                continue
            left, right = sorted((x(0), x(max(lo, min(hi, v)))))
            parts.append(
                f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 0.5):.1f}" '
                f'height="{bar_h - 2}" fill="{COLOURS[i % len(COLOURS)]}">'
                f"<title>{escape(label)}: {escape(fmt(v))}</title></rect>"
                f'<text x="{label_w + plot_w + 4}" y="{y + bar_h - 2}" font-size="9">'
                f"{escape(fmt(v))}</text>"
            )
    bottom = legend_h + group_h * len(labels)
    parts.append(
        f'<line x1="{x(0):.1f}" y1="{legend_h}" x2="{x(0):.1f}" y2="{bottom}" stroke="#333"/>'
    )
    if reference is not None:
        rx = x(reference[0])
        parts.append(
            f'<line x1="{rx:.1f}" y1="{legend_h}" x2="{rx:.1f}" y2="{bottom}" stroke="#d62728" '
            f'stroke-dasharray="4 3"/><text x="{rx + 3:.1f}" y="{bottom + 14}" font-size="11" '
            f'fill="#d62728">{escape(reference[1])}</text>'
        )
    parts.append("</svg>")
    return f"<h3>{escape(title)}</h3>" + "".join(parts)


def _rows(data: dict[str, pa.Table], name: str) -> list[dict[str, Any]]:
    return data[name].to_pylist() if name in data else []


def finance_chart(data: dict[str, pa.Table]) -> str:
    rows = [r for r in _latest_per_area(_rows(data, "development_finance")) if r["REMIT_IN_USD"]]
    rows.sort(key=lambda r: -r["REMIT_IN_USD"])
    rows = rows[:TOP]
    return hbar_chart(
        f"Remittances, ODA and FDI received — the {TOP} largest remittance recipients "
        "(latest year, US$)",
        [f"{r['REF_AREA']} {r['TIME_PERIOD']}" for r in rows],
        [
            ("Remittances", [r["REMIT_IN_USD"] for r in rows]),
            ("Net ODA", [r["ODA_RECEIVED_USD"] for r in rows]),
            ("Net FDI", [r["FDI_IN_USD"] for r in rows]),
        ],
    )


def oda_chart(data: dict[str, pa.Table]) -> str:
    rows = [r for r in _latest_per_area(_rows(data, "oda_target")) if r["ODA_PCT_GNI"] is not None]
    rows.sort(key=lambda r: -r["ODA_PCT_GNI"])
    # the target as the table publishes it (TARGET_PCT, from schemas/tables/oda_target.yaml)
    target = next((r["TARGET_PCT"] for r in rows if r.get("TARGET_PCT") is not None), None)
    return hbar_chart(
        f"Donors' net ODA as % of GNI (latest year) against the {target:g}% target (SDG 17.2.1)"
        if target is not None
        else "Donors' net ODA as % of GNI (latest year) (SDG 17.2.1)",
        [f"{r['REF_AREA']} {r['TIME_PERIOD']}" for r in rows],
        [("ODA % of GNI", [r["ODA_PCT_GNI"] for r in rows])],
        fmt=lambda v: f"{v:.2f}%",
        reference=(target, f"{target:g}% target") if target is not None else None,
    )


def corridor_chart(data: dict[str, pa.Table]) -> str:
    # corridors are areas × areas × years (2M rows at 10M observations): the largest are picked
    # with pyarrow, only they become Python rows
    rows: list[dict[str, Any]] = []
    table = data.get("corridors")
    if table is not None and table.num_rows:
        size = pc.max_element_wise(
            pc.abs(pc.fill_null(table["STOCK_ASYMMETRY"], 0.0)),
            pc.abs(pc.fill_null(table["REMIT_ASYMMETRY"], 0.0)),
        )
        mask = pc.greater(size, 0.0)
        table, size = table.filter(mask), size.filter(mask)
        largest = pc.array_sort_indices(size, order="descending")[:TOP]  # stable: ties in order
        rows = table.take(largest).to_pylist()
    return hbar_chart(
        "Largest corridor asymmetries: (one side − the other) / mean of the two",
        [f"{r['ORIGIN']}→{r['DESTINATION']} {r['TIME_PERIOD']}" for r in rows],
        [
            ("Stocks (destination − origin)", [r["STOCK_ASYMMETRY"] for r in rows]),
            ("Remittances (receiver − sender)", [r["REMIT_ASYMMETRY"] for r in rows]),
        ],
        fmt=lambda v: f"{v:+.0%}",
        fixed_range=(-2.0, 2.0),
    )


def coverage_chart(data: dict[str, pa.Table]) -> str:
    values: dict[str, int] = defaultdict(int)
    areas: dict[str, set[str]] = defaultdict(set)
    for r in _rows(data, "coverage"):
        values[r["PROVIDER"]] += r["N_PERIODS"] or 0
        areas[r["PROVIDER"]].add(r["REF_AREA"])
    providers = sorted(values, key=lambda p: -values[p])
    return hbar_chart(
        "Coverage by provider: area × indicator × period values supplied, and areas",
        providers,
        [
            ("values", [float(values[p]) for p in providers]),
            ("areas", [float(len(areas[p])) for p in providers]),
        ],
        fmt=lambda v: f"{v:,.0f}",
    )


def _tables_section(manifest: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(str(t.get('kind', '')))}</td>"
        f"<td class=num>{t['rows']:,}</td><td>{escape(str(t.get('description') or ''))}</td>"
        f"<td><code>{escape(t['sha256'][:16])}…</code></td></tr>"
        for name, t in manifest["tables"].items()
    )
    return (
        "<h2>Tables</h2><table><tr><th>table</th><th>kind</th><th>rows</th><th>what</th>"
        f"<th>sha256 (Parquet)</th></tr>{rows}</table>"
    )


def _sources_section(manifest: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class=num>{s['id']}</td><td>{escape(str(s['provider']))}</td>"
        f"<td>{escape(str(s['file']))}</td><td>{escape(str(s['accepted_at'] or ''))}</td></tr>"
        for s in manifest["source_submissions"]
    )
    warnings = "".join(
        f"<li>{escape(w['table'])} {escape(str(w.get('column') or ''))}: "
        f"{escape(w['message'])} [{escape(w['rule'])}]</li>"
        for w in manifest.get("checks", {}).get("warnings", [])
    )
    return (
        "<h2>Source submissions</h2><table><tr><th>id</th><th>provider</th><th>file</th>"
        f"<th>accepted at (UTC)</th></tr>{rows}</table>"
        + (f"<h2>Check warnings</h2><ul>{warnings}</ul>" if warnings else "")
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:960px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}.num{text-align:right}.empty{color:#888}code{font-size:12px}
h3{margin-top:2em;font-size:15px}
"""


def release_report(manifest: dict[str, Any], data: dict[str, pa.Table]) -> str:
    """The whole page for one release, from its manifest and its tables."""
    meta = [
        ("created", manifest["created_at"]),
        ("as of", manifest.get("as_of") or "latest accepted"),
        ("embargo until", manifest.get("embargo_until") or "none"),
        ("mapping version", manifest["mapping_version"]),
    ]
    meta_html = "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>" for k, v in meta)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>midex release {manifest['release']}</title><style>{STYLE}</style></head><body>"
        f"<h1>midex release {manifest['release']}</h1><table>{meta_html}</table>"
        "<h2>Charts</h2>"
        + finance_chart(data)
        + oda_chart(data)
        + corridor_chart(data)
        + coverage_chart(data)
        + _tables_section(manifest)
        + _sources_section(manifest)
        + "</body></html>\n"
    )
