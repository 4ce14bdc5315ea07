"""Findings: one shape for every problem a submission has, from parsing to validation."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


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
