"""Which area labels in a provider's file are not countries, from schemas/areas/overrides.yaml.

Readers of agency files leave aggregates (World, regions, income groups) and former states out of
the observations and say so in the parse notes; the lists are reviewed data, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from midex.contract.schema import Schema


@dataclass(frozen=True)
class NonCountries:
    aggregates: frozenset[str]  # upper-cased codes and names
    former: frozenset[str]

    def kind(self, value: str | None) -> str | None:
        """'aggregate', 'former' or None (maybe a country) for an area label as written."""
        if value is None:
            return None
        key = value.strip().rstrip("*").strip().upper()
        if not key:
            return None
        if key in self.aggregates:
            return "aggregate"
        if key in self.former:
            return "former"
        return None


@cache
def _load(path: Path, version: str) -> NonCountries:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}

    def keys(*lists: str) -> frozenset[str]:
        return frozenset(str(v).strip().upper() for name in lists for v in doc.get(name) or ())

    return NonCountries(keys("aggregates", "aggregate_names"), keys("former_areas"))


def non_countries(schema: Schema) -> NonCountries:
    return _load(schema.root / "areas" / "overrides.yaml", schema.mapping_version)


NOTE_WHAT = {
    "aggregate": "rows of aggregates (regions, income groups, World) left out",
    "former": "rows of former states or parts of countries (no ISO 3166-1 code today) left out",
}
