"""Country resolution: ISO3, ISO2, M49 numeric or a name in any common spelling -> ISO3.

country_converter does the matching; schemas/areas/overrides.yaml holds reviewed corrections and
the aggregate codes the sources publish. Unique values are converted once on the driver and the
result joined back in Spark, so no Python runs per row.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from midex.contract.schema import Schema

NOT_APPLICABLE = "_Z"


@dataclass(frozen=True)
class AreaResolution:
    value: str
    iso3: str | None
    problem: str | None  # why it did not resolve, with what to do


@cache
def _converter() -> Any:  # a country_converter.CountryConverter (the package has no types)
    import country_converter as coco

    logging.getLogger("country_converter").setLevel(logging.ERROR)
    return coco.CountryConverter()


@cache
def iso3_codes() -> frozenset[str]:
    return frozenset(str(c) for c in _converter().data["ISO3"].dropna())


def area_codes(schema: Schema) -> frozenset[str]:
    """The areas codelist: ISO 3166-1 alpha-3, the reviewed reporting areas without one (XKX,
    CHI) and the residual categories (XON, XOS, _X); without _Z (not applicable)."""
    return iso3_codes() | frozenset(schema.area_overrides.values()) | frozenset(schema.area_extra)


def residual_codes(schema: Schema) -> frozenset[str]:
    """The residual categories (XON, XOS, _X): the part of a breakdown by partner that a source
    could not attribute to one area; partners, never a country of their own."""
    return frozenset(code for code, (kind, _) in schema.area_extra.items() if kind == "residuals")


def reporting_area_codes(schema: Schema) -> frozenset[str]:
    """Areas a provider can report for: the areas codelist without the residual categories."""
    return area_codes(schema) - residual_codes(schema)


@cache
def _names() -> dict[str, str]:
    data = _converter().data
    names: dict[str, str] = {}
    for col in ("name_short", "name_official"):
        for name, iso3 in zip(data[col], data["ISO3"], strict=True):
            names[str(name)] = str(iso3)
    return names


def suggest(value: str, limit: int = 3) -> list[str]:
    names = _names()
    out: list[str] = []
    seen: set[str] = set()
    for match in difflib.get_close_matches(value, list(names), n=limit * 3, cutoff=0.5):
        if names[match] not in seen:
            seen.add(names[match])
            out.append(f"{match} ({names[match]})")
    return out[:limit]


@cache
def _subnational_patterns(path: Path, version: str) -> tuple[re.Pattern[str], ...]:
    doc = yaml.safe_load(path.read_text("utf-8")) or {}
    return tuple(re.compile(str(p)) for p in doc.get("subnational_patterns") or ())


@cache
def _iso2_codes() -> frozenset[str]:
    return frozenset(str(c) for c in _converter().data["ISO2"].dropna())


def area_kind(value: str, schema: Schema) -> str | None:
    """'aggregate', 'former' or 'subnational' for an area that is knowingly not a country (per
    schemas/areas/overrides.yaml); None for anything else (a country, or unknown)."""
    key = value.strip().upper()
    if key in schema.area_aggregates:
        return "aggregate"
    kind = non_countries(schema).kind(value)
    if kind is not None:
        return kind
    path = schema.root / "areas" / "overrides.yaml"
    for pattern in _subnational_patterns(path, schema.mapping_version):
        # a region code of a country: its first two letters are the country's (ISO2 or Eurostat)
        if pattern.match(key) and (key[:2] in _iso2_codes() or key[:2] in schema.area_overrides):
            return "subnational"
    return None


NOT_A_COUNTRY = {
    "aggregate": "is an aggregate (a group of countries), not a country",
    "former": "is a former state or a part of a country with no ISO 3166-1 code today",
    "subnational": "is a sub-national region, not a country",
}


def resolve_areas(values: list[str], schema: Schema) -> list[AreaResolution]:
    """Resolve each distinct submitted area string (already trimmed)."""
    known = area_codes(schema)
    out: dict[str, AreaResolution] = {}
    to_convert: list[str] = []
    for value in values:
        key = value.strip().rstrip("*").strip().upper()  # UN DESA footnote marks: "Polynesia*"
        if not key:
            continue
        kind = None if key in schema.area_overrides else area_kind(value, schema)
        if key == NOT_APPLICABLE:
            out[value] = AreaResolution(value, NOT_APPLICABLE, None)
        elif kind is not None:
            out[value] = AreaResolution(value, None, f"'{value}' {NOT_A_COUNTRY[kind]}")
        elif key in schema.area_overrides:
            out[value] = AreaResolution(value, schema.area_overrides[key], None)
        else:
            to_convert.append(value)
    if to_convert:
        # M49 codes come as strings ("004"); country_converter wants them as integers.
        # UN DESA marks footnotes with a trailing "*" ("Polynesia*")
        names = [v.strip().rstrip("*").strip() for v in to_convert]
        query: list[str | int] = [int(v) if v.isdigit() else v for v in names]
        converted = _converter().convert(query, to="ISO3", not_found=None)
        if not isinstance(converted, list):
            converted = [converted]
        for value, iso3 in zip(to_convert, converted, strict=True):
            if isinstance(iso3, list):
                iso3s = [c for c in iso3 if c in known]
                iso3 = iso3s[0] if len(iso3s) == 1 else None
            if isinstance(iso3, str) and iso3 in known:
                out[value] = AreaResolution(value, iso3, None)
            else:
                hints = suggest(value.strip())
                hint = f"; did you mean {' or '.join(hints)}?" if hints else ""
                out[value] = AreaResolution(
                    value,
                    None,
                    f"unknown country '{value}'{hint} Use an ISO 3166 alpha-3 code (e.g. MEX)",
                )
    return [out[v] for v in values if v in out]


# -- labels a file uses for what is not a country (schemas/areas/overrides.yaml); readers of
# agency files leave them out and say so in the parse notes


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
