"""Every distinct area label in ../shared/data/real is classified as the reviewed table says.

tests/data/real_area_labels.csv is the reviewed classification of each (column, label) the real
files use: country (ISO 3166-1), reporting area (an area without an ISO code: Kosovo, the Channel
Islands), residual (a partner the source could not attribute: Other North, Other South),
partner_total (a partner "World": the source's own total, _Z), and what is left out: aggregate,
former, subnational. The labels are read from the files independently of midex
(tests/real_areas.py); the kinds and codes come from midex.contract.areas.classify_areas over
schemas/areas/overrides.yaml. A change to either shows here as a row to review.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from midex.contract.areas import KEPT_KINDS, LEFT_OUT_KINDS, classify_areas, iso3_codes
from midex.contract.schema import load_schema
from tests.conftest import REAL_DATA
from tests.real_areas import area_labels

pytestmark = pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/real is not there")

TABLE = Path(__file__).parent / "data" / "real_area_labels.csv"


def reviewed() -> dict[tuple[str, str], tuple[str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as fh:
        return {(r["role"], r["label"]): (r["kind"], r["code"]) for r in csv.DictReader(fh)}


def test_every_area_label_of_the_real_files_is_classified_as_reviewed() -> None:
    schema = load_schema()
    table = reviewed()
    by_role: dict[str, set[str]] = defaultdict(set)
    for pairs in area_labels().values():
        for role, label in pairs:
            by_role[role].add(label)
    # the table lists every label of the files, and nothing else
    assert set(table) == {(role, label) for role, labels in by_role.items() for label in labels}
    got = {
        (role, label): kind_code
        for role, labels in by_role.items()
        for label, kind_code in classify_areas(sorted(labels), role, schema).items()
    }
    changed = {k: (table[k], got.get(k)) for k in table if got.get(k) != table[k]}
    assert not changed, f"(reviewed, now) for labels whose classification changed: {changed}"


def test_the_reviewed_kinds_and_codes_are_consistent() -> None:
    schema = load_schema()
    table = reviewed()
    assert {kind for kind, _ in table.values()} <= set(KEPT_KINDS) | set(LEFT_OUT_KINDS)
    assert not [k for k, (kind, _) in table.items() if kind == "unknown"]
    for (role, label), (kind, code) in table.items():
        if kind == "country":
            assert code in iso3_codes(), (label, code)
        elif kind in ("reporting_area", "residual"):
            assert schema.area_extra[code][0] == f"{kind}s", (label, code)
        elif kind == "partner_total":
            assert (role, code) == ("COUNTERPART_AREA", "_Z"), label
        else:
            assert code == "", label  # left out: no code
    # the areas the issue named are areas, with the codes other sources use for them
    for label, code in [("CHI", "CHI"), ("830", "CHI"), ("Channel Islands*", "CHI"),
                        ("XKX", "XKX"), ("KSV", "XKX"), ("412", "XKX"), ("Kosovo", "XKX"),
                        ("Holy See", "VAT"), ("Holy See*", "VAT")]:  # fmt: skip
        assert table[("REF_AREA", label)][1] == code, label
    for label, code in [("Other North", "XON"), ("Other South", "XOS"), ("World", "_Z")]:
        assert table[("COUNTERPART_AREA", label)][1] == code, label
    assert table[("REF_AREA", "World")] == ("aggregate", "")  # as a row, World is an aggregate
