"""The common schema as data: loads schemas/ (codelists, template, observation, tables).

Everything the code knows about codes, columns and units comes from these files; nothing here
repeats them as Python literals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from midex.contract.digest import sha256_tree
from midex.contract.errors import MidexError
from midex.contract.settings import get_settings

# Lineage, each list once. The cell of the submitted file a value came from (every raw row
# carries it; the readers set it), and with the text found there (findings name both).
CELL_LINEAGE = ("SOURCE_ROW", "SOURCE_SHEET", "SOURCE_COLUMN")
CELL_LINEAGE_TYPES = ("int64", "string", "string")  # their Arrow types (pa.type_for_alias)
CELL_AND_TEXT = (*CELL_LINEAGE, "SOURCE_VALUE")
# what UNIT_MULT may be: a power of ten from 10^-12 to 10^15
UNIT_MULT_RANGE = (-12, 15)
# the unit code of values in local currency, converted to US dollars with an exchange rate
LCU = "LCU"


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    aliases: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Codelist:
    id: str
    codes: tuple[Code, ...]
    default: str | None = None

    def code_set(self) -> frozenset[str]:
        return frozenset(c.code for c in self.codes)

    def lookup(self) -> dict[str, str]:
        """Every accepted spelling (code or alias, upper-cased) -> canonical code."""
        table: dict[str, str] = {}
        for c in self.codes:
            table[c.code.upper()] = c.code
            for alias in c.aliases:
                table[str(alias).strip().upper()] = c.code
        return table

    def get(self, code: str) -> Code:
        for c in self.codes:
            if c.code == code:
                return c
        raise KeyError(code)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False
    default: str | None = None
    type: str = "string"
    nullable: bool = True
    codelist: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Schema:
    root: Path
    indicators: Codelist
    units: Codelist
    sex: Codelist
    age: Codelist
    obs_status: Codelist
    nature: Codelist
    missing_markers: tuple[str, ...]
    template_columns: tuple[Column, ...]
    observation_columns: tuple[Column, ...]
    series_key: tuple[str, ...]
    area_overrides: dict[str, str]  # upper-cased label -> area code (reviewed corrections)
    area_aggregates: frozenset[str]
    # areas beyond ISO 3166-1 (reporting areas, residual categories): code -> (kind, name)
    area_extra: dict[str, tuple[str, str]]
    partner_totals: frozenset[str]  # upper-cased labels meaning "all partners" (-> _Z)
    mapping_version: str

    def codelist(self, name: str) -> Codelist:
        return getattr(self, name)

    def table(self, name: str) -> dict[str, Any]:
        path = self.root / "tables" / f"{name}.yaml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in (self.root / "tables").glob("*.yaml")))
            raise MidexError(f"unknown table {name!r}; known tables: {known}")
        return _read_yaml(path)

    def table_names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "tables").glob("*.yaml"))


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise MidexError(f"cannot read schema file {path}: {exc}") from exc


def _codelist(path: Path) -> Codelist:
    doc = _read_yaml(path)
    codes = []
    for entry in doc["codes"]:
        attrs = {k: v for k, v in entry.items() if k not in ("code", "name", "aliases")}
        codes.append(
            Code(
                code=str(entry["code"]),
                name=str(entry.get("name", entry["code"])),
                aliases=tuple(str(a) for a in entry.get("aliases") or ()),
                attrs=attrs,
            )
        )
    return Codelist(id=doc["codelist"], codes=tuple(codes), default=doc.get("default"))


def mapping_version(root: Path) -> str:
    """Content hash of every schema file: recorded on each observation as MAPPING_VERSION."""
    files = sorted(root.rglob("*.yaml"))
    return sha256_tree((p, p.relative_to(root).as_posix()) for p in files)[:12]


def _area_overrides(doc: dict[str, Any]) -> dict[str, str]:
    """Upper-cased label -> code: the reviewed overrides, then every reporting area's and
    residual's code and aliases (schemas/areas/overrides.yaml)."""
    out = {str(k).strip().upper(): str(v) for k, v in (doc.get("overrides") or {}).items()}
    for kind in ("reporting_areas", "residuals"):
        for area in doc.get(kind) or ():
            code = str(area["code"])
            for label in [code, *(area.get("aliases") or ())]:
                key = str(label).strip().upper()
                if out.setdefault(key, code) != code:
                    raise MidexError(
                        f"schemas/areas/overrides.yaml: {label!r} is given to both "
                        f"{out[key]} and {code}; keep one"
                    )
    return out


@cache
def _load(root: Path, version: str) -> Schema:
    cl = root / "codelists"
    template = _read_yaml(root / "template.yaml")
    observation = _read_yaml(root / "observation.yaml")
    overrides = _read_yaml(root / "areas" / "overrides.yaml")
    return Schema(
        root=root,
        indicators=_codelist(cl / "indicators.yaml"),
        units=_codelist(cl / "units.yaml"),
        sex=_codelist(cl / "sex.yaml"),
        age=_codelist(cl / "age.yaml"),
        obs_status=_codelist(cl / "obs_status.yaml"),
        nature=_codelist(cl / "nature.yaml"),
        missing_markers=tuple(str(m) for m in _read_yaml(cl / "missing_markers.yaml")["codes"]),
        template_columns=tuple(Column(**c) for c in template["columns"]),
        observation_columns=tuple(Column(**c) for c in observation["columns"]),
        series_key=tuple(observation["series_key"]),
        area_overrides=_area_overrides(overrides),
        area_aggregates=frozenset(str(a) for a in overrides.get("aggregates") or ()),
        area_extra={
            str(a["code"]): (kind, str(a["name"]))
            for kind in ("reporting_areas", "residuals")
            for a in overrides.get(kind) or ()
        },
        partner_totals=frozenset(
            str(v).strip().upper() for v in overrides.get("partner_totals") or ()
        ),
        mapping_version=version,
    )


def load_schema(root: Path | None = None) -> Schema:
    """Load schemas/ (cached per content version, so an edited file is picked up). The library
    always says which folder (a Context's settings.schemas); None, the settings' own, is for
    tests and interactive use."""
    root = Path(root if root is not None else get_settings().schemas).resolve()
    if not (root / "codelists").is_dir():
        raise MidexError(f"schema folder {root} has no codelists/; set MIDEX_SCHEMAS")
    return _load(root, mapping_version(root))
