"""Eurostat bulk TSV and SDMX (CSV 1.0/2.0, ML 2.1 generic and structure-specific) readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.formats import detect_format, read_submission
from tests.conftest import write

COLS = ("REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "OBS_STATUS", "COMMENT", "SOURCE_ROW")


def table_rows(parsed, cols=COLS) -> list[tuple]:
    return list(zip(*(parsed.table.column(c).to_pylist() for c in cols), strict=True))


EUROSTAT = (
    "indic_de,geo\\time\t2019 \t2017 \t2018 \n"
    "CNMIGRAT,EL\t: \t-15027 \t-27007 e\n"
    "CNMIGRAT,EL3\t1 \t2 \t3 \n"
    "CNMIGRAT,UK\t43110 b\t12 cu\t: c\n"
    "CNMIGRAT,EU27_2020\t1 \t2 \t3 \n"
)


def test_eurostat_tsv_flags_missing_and_areas(tmp_path: Path) -> None:
    path = write(tmp_path / "demo_r_gind3.tsv", EUROSTAT)
    assert detect_format(path, load_schema()) == "eurostat-tsv"
    parsed = read_submission(path, "auto", load_schema())
    assert table_rows(parsed) == [
        ("EL", "CNMIGRAT", "2017", "-15027", None, None, 2),
        ("EL", "CNMIGRAT", "2018", "-27007", "E", None, 2),
        ("UK", "CNMIGRAT", "2019", "43110", "B", None, 4),
        ("UK", "CNMIGRAT", "2017", "12", None, "Eurostat flag c; Eurostat flag u", 4),
    ]
    notes = " | ".join(parsed.notes)
    assert "1 rows of NUTS regions (sub-national, not countries) left out: EL3" in notes
    assert "1 rows of aggregates (EU, euro area, …) left out: EU27_2020" in notes
    assert "2 cells marked ':'" in notes
    assert "flags kept in COMMENT (no OBS_STATUS for them): c, u" in notes


def test_eurostat_damaged_row_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "x.tsv", "indic_de,geo\\time\t2019 \nCNMIGRAT\t1 \n")
    with pytest.raises(MidexError, match="x.tsv: row 2: 'CNMIGRAT' has 1 codes"):
        read_submission(path, "eurostat-tsv", load_schema())


SDMX_CSV_1 = (
    "DATAFLOW,FREQ,REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,OBS_STATUS\n"
    "MX:REMIT(1.0),A,PHL,BX.TRF.PWKR.CD.DT,2022,38.05,USD,9,E\n"
    "MX:REMIT(1.0),A,MEX,BX.TRF.PWKR.CD.DT,2022,61.1,USD,9,A\n"
)
SDMX_CSV_2 = (
    "STRUCTURE,STRUCTURE_ID,ACTION,FREQ,GEO,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT,OBS_STATUS\n"
    "dataflow,ESTAT:MIGR(1.0),I,A,LU,CNMIGRAT,2015,11159,NR,P\n"
)


def test_sdmx_csv_1_and_2(tmp_path: Path) -> None:
    one = write(tmp_path / "v1.csv", SDMX_CSV_1)
    assert detect_format(one, load_schema()) == "sdmx-csv"
    cols = ("REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "UNIT_MULT", "OBS_STATUS")
    assert table_rows(read_submission(one, "auto", load_schema()), cols + ("SOURCE_ROW",)) == [
        ("PHL", "BX.TRF.PWKR.CD.DT", "2022", "38.05", "9", "E", 2),
        ("MEX", "BX.TRF.PWKR.CD.DT", "2022", "61.1", "9", "A", 3),
    ]
    two = write(tmp_path / "v2.csv", SDMX_CSV_2)
    assert detect_format(two, load_schema()) == "sdmx-csv"
    parsed = read_submission(two, "auto", load_schema())
    # Eurostat-style ids (GEO, UNIT) map through schemas/formats/sdmx.yaml; NR is persons
    assert table_rows(parsed, cols + ("UNIT_MEASURE",)) == [
        ("LU", "CNMIGRAT", "2015", "11159", "0", "P", "PERSONS")
    ]


STRUCTURE_SPECIFIC = """<?xml version="1.0" encoding="UTF-8"?>
<m:StructureSpecificData xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message"
 xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/structurespecific"
 xmlns:u="urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=MX:REMIT(1.0):ObsLevelDim:TIME_PERIOD"
 xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <m:Header><m:ID>T1</m:ID><m:Test>true</m:Test><m:Prepared>2024-01-01T00:00:00</m:Prepared>
    <m:Sender id="MX"/>
    <m:Structure dimensionAtObservation="TIME_PERIOD" structureID="STR1">
      <c:StructureUsage><Ref id="REMIT" agencyID="MX" version="1.0"/></c:StructureUsage>
    </m:Structure></m:Header>
  <u:DataSet s:structureRef="STR1" xsi:type="u:DataSetType">
    <Series REF_AREA="PHL" INDICATOR="REMIT_IN" UNIT_MULT="6" FREQ="A">
      <Obs TIME_PERIOD="2021" OBS_VALUE="36685.7" OBS_STATUS="A"/>
      <Obs TIME_PERIOD="2022" OBS_VALUE="38050.1" OBS_STATUS="P"/>
    </Series>
  </u:DataSet>
</m:StructureSpecificData>
"""

GENERIC = """<?xml version="1.0" encoding="UTF-8"?>
<message:GenericData xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message"
 xmlns:generic="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic"
 xmlns:common="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">
  <message:Header><message:ID>G1</message:ID><message:Test>true</message:Test>
    <message:Prepared>2024-01-01T00:00:00</message:Prepared><message:Sender id="MX"/>
    <message:Structure structureID="STR1" dimensionAtObservation="TIME_PERIOD">
      <common:Structure><Ref agencyID="MX" id="REMIT" version="1.0"/></common:Structure>
    </message:Structure></message:Header>
  <message:DataSet structureRef="STR1">
    <generic:Series>
      <generic:SeriesKey>
        <generic:Value id="REF_AREA" value="MEX"/><generic:Value id="INDICATOR" value="REMIT_IN"/>
      </generic:SeriesKey>
      <generic:Attributes><generic:Value id="UNIT_MULT" value="9"/></generic:Attributes>
      <generic:Obs>
        <generic:ObsDimension value="2022"/><generic:ObsValue value="61.1"/>
        <generic:Attributes><generic:Value id="OBS_STATUS" value="E"/></generic:Attributes>
      </generic:Obs>
    </generic:Series>
  </message:DataSet>
</message:GenericData>
"""


def test_sdmx_ml_structure_specific_and_generic(tmp_path: Path) -> None:
    cols = ("REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE", "UNIT_MULT", "OBS_STATUS")
    ss = write(tmp_path / "ss.xml", STRUCTURE_SPECIFIC)
    assert detect_format(ss, load_schema()) == "sdmx-ml"
    assert table_rows(read_submission(ss, "auto", load_schema()), cols + ("SOURCE_ROW",)) == [
        ("PHL", "REMIT_IN", "2021", "36685.7", "6", "A", 1),
        ("PHL", "REMIT_IN", "2022", "38050.1", "6", "P", 2),
    ]
    generic = write(tmp_path / "generic.xml", GENERIC)
    assert detect_format(generic, load_schema()) == "sdmx-ml"
    assert table_rows(read_submission(generic, "auto", load_schema()), cols) == [
        ("MEX", "REMIT_IN", "2022", "61.1", "9", "E")
    ]


def test_sdmx_damaged_xml_is_one_clear_error(tmp_path: Path) -> None:
    broken = write(tmp_path / "cut.xml", STRUCTURE_SPECIFIC[:900])
    with pytest.raises(MidexError, match="cut.xml: cannot read as sdmx-ml"):
        read_submission(broken, "sdmx-ml", load_schema())
