"""Groups of areas (schemas/groups/*.yaml: M49 regions, income groups, RCPs): the aggregates'
members, the `group_members` table every release publishes, the service's /api/groups and the
release checks' group codes. Plain configuration and pyarrow: no Spark."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import yaml

from midex.contract.errors import MidexError
from midex.contract.schema import Schema


@dataclass(frozen=True)
class Group:
    type: str
    code: str
    name: str
    members: tuple[str, ...]
    source: str


def load_groups(schema: Schema) -> list[Group]:
    """Every group of schemas/groups/*.yaml (M49 regions, income groups, RCPs)."""
    folder = Path(schema.root) / "groups"
    groups: list[Group] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MidexError(f"cannot read group file {path}: {exc}") from exc
        file_source = (doc.get("source") or {}).get("url", "")
        for g in doc["groups"]:
            if g["code"] in seen:
                raise MidexError(f"{path}: group code {g['code']} is defined twice")
            seen.add(g["code"])
            groups.append(
                Group(
                    type=doc["group_type"],
                    code=str(g["code"]),
                    name=str(g["name"]),
                    members=tuple(sorted({str(m) for m in g["members"]})),
                    source=str(g.get("url") or file_source),
                )
            )
    return groups


GROUP_MEMBERS_SCHEMA = (
    "GROUP_TYPE string, GROUP_CODE string, GROUP_NAME string, REF_AREA string, SOURCE string"
)


def group_members_table(schema: Schema) -> pa.Table:
    """GROUP_TYPE, GROUP_CODE, GROUP_NAME, REF_AREA, SOURCE: one row per member of a group,
    sorted by GROUP_CODE and REF_AREA (the release writes it as it is, byte for byte)."""
    rows = [(g.type, g.code, g.name, m, g.source) for g in load_groups(schema) for m in g.members]
    names = [part.split()[0] for part in GROUP_MEMBERS_SCHEMA.split(", ")]
    table = pa.table({n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)})
    return table.sort_by([("GROUP_CODE", "ascending"), ("REF_AREA", "ascending")])
