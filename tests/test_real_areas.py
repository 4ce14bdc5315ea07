"""Every distinct area label in ../shared/data/real is classified as the reviewed table says.

tests/data/real_area_labels.csv is the reviewed classification of each (column, label) the real
files use: country (ISO 3166-1), reporting area (an area without an ISO code: Kosovo, the Channel
Islands), residual (a partner the source could not attribute: Other North, Other South),
partner_total (a partner "World": the source's own total, _Z), and what is left out: aggregate,
former, subnational. The labels are read from the files independently of midex
(tests/real_areas.py); the kinds and codes come from tests.real_areas.classify_areas over
schemas/areas/overrides.yaml. A change to either shows here as a row to review.

A few labels are classified by review where midex cannot classify them (MIDEX_DIFFERS: the
German words of the Basel-Stadt files and the Vienna district codes; midex says "unknown"). They
occur only in files midex does not accept (tests/test_real_files.py NOT_ACCEPTED), so midex
drops none of them today; a layout for one of those files needs them in overrides.yaml first.
A citizenship breakdown (Vienna's GEO2 AUT/FOR, Basel's "Schweizer"/"Ausländer") is classified
as a partner, COUNTERPART_AREA, as midex's SDMX format reads CITIZEN.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import pytest

from midex.contract.areas import iso3_codes
from midex.contract.schema import load_schema
from tests.conftest import REAL_DATA
from tests.real_areas import KEPT_KINDS, LEFT_OUT_KINDS, area_labels, classify_areas
from tests.test_real_files import NOT_ACCEPTED

pytestmark = pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/real is not there")

TABLE = Path(__file__).parent / "data" / "real_area_labels.csv"

# Real files that hold no area, so tests/real_areas.py has no reader for them
NO_AREAS = {
    "SOURCES.md": "the provenance notes of the files",
    "wb_wdi_Metadata_Indicator_API_DT.ODA.ODAT.GN.ZS_DS2_en_csv_v2_3470450.csv": (
        "one row about the indicator DT.ODA.ODAT.GN.ZS (name, source note, organisation)"
    ),
}

# Labels whose reviewed kind midex's classify_areas does not give (it says ("unknown", "")):
# (role, label) -> (reviewed kind, code, what the label is). Besides these, Vienna's district and
# census-district codes (VIENNA_DISTRICT, REF_AREA: subnational).
C = "COUNTERPART_AREA"
MIDEX_DIFFERS = {
    (C, "Schweiz"): ("country", "CHE", "Switzerland (Basel-Stadt 6761)"),
    (C, "Schweizer"): ("country", "CHE", "Swiss citizens (Basel-Stadt 6761)"),
    (C, "Ausland"): ("aggregate", "", "abroad: every country but Switzerland (Basel-Stadt)"),
    (C, "Ausländer"): ("aggregate", "", "foreign citizens (Basel-Stadt 6761)"),
    (C, "FOR"): ("aggregate", "", "foreign citizens (Vienna's GEO2; AUT: Austrian citizens)"),
    (C, "Unbekannt"): ("residual", "_X", "unknown place (Basel-Stadt 6761)"),
    (C, "unbekannt"): ("residual", "_X", "unknown place (Basel-Stadt 6011)"),
    (C, "übrige Schweiz"): ("subnational", "", "the rest of Switzerland (Basel-Stadt 6011)"),
    (C, "Nordwestschweiz"): ("subnational", "", "north-western Switzerland (Basel-Stadt 6011)"),
}
# Stadt Wien: 90000 all of Vienna, 9DD00 district DD, 9DDSS census district SS of district DD
VIENNA_DISTRICT = re.compile(r"9[0-2][0-9]{3}")


def reviewed() -> dict[tuple[str, str], tuple[str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as fh:
        return {(r["role"], r["label"]): (r["kind"], r["code"]) for r in csv.DictReader(fh)}


def test_every_real_file_with_areas_is_read() -> None:
    present = {p.name for p in REAL_DATA.iterdir()}
    assert present == set(area_labels()) | set(NO_AREAS)
    assert not set(area_labels()) & set(NO_AREAS)


def test_every_area_label_of_the_real_files_is_classified_as_reviewed() -> None:
    schema = load_schema()
    table = reviewed()
    by_role: dict[str, set[str]] = defaultdict(set)
    files: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, pairs in area_labels().items():
        for role, label in pairs:
            by_role[role].add(label)
            files[(role, label)].add(name)
    # the table lists every label of the files, and nothing else
    assert set(table) == {(role, label) for role, labels in by_role.items() for label in labels}
    got = {
        (role, label): kind_code
        for role, labels in by_role.items()
        for label, kind_code in classify_areas(sorted(labels), role, schema).items()
    }
    vienna = {k for k in table if k[0] == "REF_AREA" and VIENNA_DISTRICT.fullmatch(k[1])}
    assert len(vienna) > 250 and all(table[k] == ("subnational", "") for k in vienna)
    assert {k: table.get(k) for k in MIDEX_DIFFERS} == {
        k: (kind, code) for k, (kind, code, _) in MIDEX_DIFFERS.items()
    }
    differs = set(MIDEX_DIFFERS) | vienna
    changed = {k: (table[k], got.get(k)) for k in table if got.get(k) != table[k]}
    unexpected = {k: v for k, v in changed.items() if k not in differs}
    assert not unexpected, f"(reviewed, now) for labels whose classification changed: {unexpected}"
    # the labels midex cannot classify: still the reviewed ones, and in no file midex accepts
    assert set(changed) == differs
    assert {got.get(k) for k in differs} == {("unknown", "")}
    in_accepted_files = {k: files[k] - set(NOT_ACCEPTED) for k in differs}
    assert not {k: v for k, v in in_accepted_files.items() if v}


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
    # Basel-Stadt and Vienna: what their partner words and codes are
    for label, kind_code in [("Schweiz", ("country", "CHE")), ("Schweizer", ("country", "CHE")),
                             ("AUT", ("country", "AUT")), ("Unbekannt", ("residual", "_X")),
                             ("Ausland", ("aggregate", "")), ("FOR", ("aggregate", "")),
                             ("Total", ("partner_total", "_Z"))]:  # fmt: skip
        assert table[("COUNTERPART_AREA", label)] == kind_code, label
    assert table[("REF_AREA", "XKO")] == ("reporting_area", "XKX")  # OECD.Stat GIDDB's Kosovo
