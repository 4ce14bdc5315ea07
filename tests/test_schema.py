"""Contract tests: every schema file loads and agrees with DESIGN.md's data contract."""

from __future__ import annotations

from pathlib import Path

import yaml

from midex.contract.areas import iso3_codes
from midex.contract.schema import load_schema
from midex.quality.validate import load_suite

REPO = Path(__file__).resolve().parents[1]

# DESIGN.md "Canonical indicators": code -> aliases, read from the design, not from schemas/.
DESIGN_INDICATORS = {
    "MIG_STOCK": ["SM.POP.TOTL"],
    "EMIG_STOCK": [],
    "MIG_NET": ["SM.POP.NETM"],
    "MIG_INFLOW": [],
    "MIG_OUTFLOW": [],
    "REFUGEES_ASYLUM": ["SM.POP.REFG"],
    "REFUGEES_ORIGIN": ["SM.POP.REFG.OR"],
    "REMIT_IN": ["BX.TRF.PWKR.CD.DT"],
    "REMIT_OUT": ["BM.TRF.PWKR.CD.DT"],
    "REMIT_COST_IN": ["SI.RMT.COST.IB.ZS", "SI_RMT_COST"],
    "REMIT_COST_OUT": ["SI.RMT.COST.OB.ZS"],
    "RECRUIT_COST": ["SL_EMP_RCOST"],
    "GDP": ["NY.GDP.MKTP.CD"],
    "GNI": ["NY.GNP.MKTP.CD"],
    "POP": ["SP.POP.TOTL"],
    "ODA_GIVEN": [],
    "ODA_GIVEN_PCT_GNI": ["DC_ODA_TOTG"],
    "ODA_RECEIVED": ["DT.ODA.ODAT.CD"],
    "FDI_IN": ["BX.KLT.DINV.CD.WD"],
    "EXCHANGE_RATE": ["PA.NUS.FCRF"],
    "REMIT_IN_PCT_GDP": ["BX.TRF.PWKR.DT.GD.ZS"],
    "MIG_STOCK_PCT_POP": ["SM.POP.TOTL.ZS"],
    "ODA_RECEIVED_PCT_GNI": ["DT.ODA.ODAT.GN.ZS"],
}
# beyond the design, each for a source it could not otherwise read right
ADDED_INDICATORS: dict[str, list[str]] = {
    # UNRWA's Palestine refugees: a part UNHCR's REFUGEES_ASYLUM leaves out (issue 19)
    "REFUGEES_UNRWA": [],
}


def test_every_schema_file_parses() -> None:
    files = sorted((REPO / "schemas").rglob("*.yaml"))
    folders = {p.parent.relative_to(REPO / "schemas").as_posix() for p in files}
    assert folders == {".", "areas", "codelists", "formats", "groups", "layouts", "tables"}
    for path in files:
        assert yaml.safe_load(path.read_text("utf-8")) is not None, path


def test_indicator_codelist_has_every_design_indicator_and_alias() -> None:
    schema = load_schema()
    lookup = schema.indicators.lookup()
    assert schema.indicators.code_set() == set(DESIGN_INDICATORS) | set(ADDED_INDICATORS)
    for code, aliases in {**DESIGN_INDICATORS, **ADDED_INDICATORS}.items():
        entry = schema.indicators.get(code)
        assert entry.name and entry.attrs["definition"]
        assert isinstance(entry.attrs["bilateral"], bool)
        assert entry.attrs["unit"] in schema.units.code_set()
        for alias in aliases:
            assert lookup[alias.upper()] == code


def test_codelists_have_their_defaults_and_the_sdmx_codes() -> None:
    schema = load_schema()
    assert schema.sex.code_set() == {"_T", "M", "F"}
    assert schema.sex.lookup()["FEMALE"] == "F"
    assert {"_T", "Y15T64", "Y_GE65"} <= schema.age.code_set()
    assert {"A", "E", "P", "B", "F", "M"} <= schema.obs_status.code_set()
    assert schema.nature.code_set() == {"C", "CA", "E", "M", "G"}
    for codelist in (schema.sex, schema.age, schema.obs_status):
        assert codelist.default in codelist.code_set()


def test_template_and_observation_columns_match_the_design() -> None:
    schema = load_schema()
    assert [c.name for c in schema.template_columns] == [
        "REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "AGE", "TIME_PERIOD",
        "OBS_VALUE", "UNIT_MEASURE", "UNIT_MULT", "OBS_STATUS", "COMMENT",
    ]  # fmt: skip
    assert {c.name for c in schema.template_columns if c.required} == {
        "REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE",
    }  # fmt: skip
    obs = [c.name for c in schema.observation_columns]
    for lineage in ("PROVIDER", "SUBMISSION_ID", "SOURCE_FILE_SHA256", "SOURCE_ROW",
                    "SOURCE_VALUE", "SOURCE_UNIT", "MAPPING_VERSION", "NATURE"):  # fmt: skip
        assert lineage in obs
    assert schema.series_key == (
        "REF_AREA", "COUNTERPART_AREA", "INDICATOR", "SEX", "AGE", "TIME_PERIOD",
    )  # fmt: skip


def test_area_overrides_point_at_real_codes() -> None:
    schema = load_schema()
    known = iso3_codes()
    for source, iso3 in schema.area_overrides.items():
        assert iso3 in known or iso3 in schema.area_extra, source
    # the areas without an ISO 3166-1 code (country_converter knows XKX, as the World Bank does)
    assert not (set(schema.area_extra) - {"XKX"}) & known
    assert {k for k, (kind, _) in schema.area_extra.items() if kind == "residuals"} == {
        "XON", "XOS", "_X"}  # fmt: skip


def test_every_suite_names_only_columns_its_table_has() -> None:
    schema = load_schema()
    columns = {c.name for c in schema.observation_columns}
    for path in (REPO / "expectations").glob("*.yaml"):
        suite = load_suite(path, schema)
        available = columns | set(suite.derive)
        for exp in suite.expectations:
            named = [exp.kwargs.get("column"), *(exp.kwargs.get("column_list") or [])]
            for column in filter(None, named):
                assert column in available, (path.name, exp.rule, column)


def test_impact_table_definitions_name_real_indicators() -> None:
    schema = load_schema()
    for name in schema.table_names():
        definition = schema.table(name)
        for column in definition["columns"]:
            if "from_indicator" in column:
                assert column["from_indicator"] in schema.indicators.code_set()
        assert set(definition["grain"]) <= {c["name"] for c in definition["columns"]}


def test_mapping_version_changes_with_content(tmp_path: Path) -> None:
    import shutil

    from midex.contract.schema import mapping_version

    copy = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", copy)
    before = mapping_version(copy)
    path = copy / "codelists" / "sex.yaml"
    path.write_text(path.read_text() + "\n# reviewed\n")
    assert mapping_version(copy) != before
