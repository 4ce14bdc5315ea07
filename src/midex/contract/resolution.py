"""The resolution rules (schemas/resolution.yaml), checked: which areas each kind of provider
may report, and per indicator the priority of provider kinds, the tolerance beyond which
sources disagree and whether a non-zero value beats an exact 0. Plain configuration: the
resolve transform (midex.transforms.resolve) turns it into a Spark table, harmonisation reads
a provider's areas from it, and `midex check` does too, without Spark."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from midex.contract.errors import MidexError
from midex.contract.providers import ProviderKind
from midex.contract.schema import Schema

RULES_FILE = "resolution.yaml"
SCOPES = ("own_areas", "any")


@dataclass(frozen=True)
class IndicatorRule:
    priority: tuple[str, ...]  # provider kinds, most trusted first
    tolerance: float
    # when sources disagree and one says exactly 0, the non-zero value wins (0 = "not reported")
    prefer_non_zero: bool = False


@dataclass(frozen=True)
class ResolutionRules:
    """schemas/resolution.yaml, checked: provider scope, and priority + tolerance per indicator."""

    scope: dict[str, str]
    default: IndicatorRule
    indicators: dict[str, IndicatorRule]

    def rule(self, indicator: str) -> IndicatorRule:
        return self.indicators.get(indicator, self.default)

    def allowed_areas(self, kind: str, areas: list[str]) -> tuple[str, ...]:
        """Areas a provider may report; empty = any."""
        return tuple(areas) if self.scope.get(kind, "any") == "own_areas" else ()


def _rule(doc: dict[str, Any], where: str, base: IndicatorRule | None) -> IndicatorRule:
    kinds = {k.value for k in ProviderKind}
    unknown = set(doc) - {"priority", "tolerance", "prefer_non_zero"}
    if unknown:
        raise MidexError(
            f"{where}: unknown key(s) {sorted(unknown)}; use priority, tolerance, prefer_non_zero"
        )
    priority = tuple(str(k) for k in doc.get("priority", base.priority if base else ()))
    if not priority or set(priority) - kinds or len(set(priority)) != len(priority):
        raise MidexError(
            f"{where}: priority must list provider kinds ({', '.join(sorted(kinds))}) once each"
        )
    tolerance = doc.get("tolerance", base.tolerance if base else 0.05)
    if not isinstance(tolerance, int | float) or tolerance < 0:
        raise MidexError(f"{where}: tolerance must be a non-negative number such as 0.05")
    prefer = doc.get("prefer_non_zero", base.prefer_non_zero if base else False)
    if not isinstance(prefer, bool):
        raise MidexError(f"{where}: prefer_non_zero must be true or false")
    return IndicatorRule(priority, float(tolerance), prefer)


def load_rules(schema: Schema) -> ResolutionRules:
    path = schema.root / RULES_FILE
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MidexError(f"cannot read resolution rules {path}: {exc}") from exc
    scope = {str(k): str(v) for k, v in (doc.get("scope") or {}).items()}
    kinds = {k.value for k in ProviderKind}
    for kind, value in scope.items():
        if kind not in kinds or value not in SCOPES:
            raise MidexError(
                f"{path}: scope.{kind}: {value!r}; use a provider kind "
                f"({', '.join(sorted(kinds))}) mapped to one of {', '.join(SCOPES)}"
            )
    default = _rule(doc.get("default") or {}, f"{path}: default", None)
    known = schema.indicators.code_set()
    indicators = {}
    for code, entry in (doc.get("indicators") or {}).items():
        if code not in known:
            raise MidexError(f"{path}: indicators.{code} is not a code of indicators.yaml")
        indicators[str(code)] = _rule(entry or {}, f"{path}: indicators.{code}", default)
    return ResolutionRules(scope, default, indicators)
