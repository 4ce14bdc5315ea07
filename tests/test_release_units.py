"""Release pieces on tiny inputs: table suites (GX), diff, --where parsing, the report, groups."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
import yaml

from midex.contract.areas import reporting_area_codes
from midex.contract.errors import MidexError
from midex.contract.groups import load_groups
from midex.contract.schema import load_schema
from midex.quality.table_checks import load_table_suite, suite_path
from midex.release.bundle import check_release_tables, filter_rows
from midex.release.provenance import diff_table, parse_where
from midex.release.report import hbar_chart
from tests.conftest import REPO

RCP_CODES = {
    "RCP_COLOMBO", "RCP_ABU_DHABI", "RCP_BUDAPEST", "RCP_PUEBLA", "RCP_RABAT", "RCP_BALI",
    "RCP_IGAD", "RCP_MIDSA", "RCP_MIDWA",
}  # fmt: skip


def test_groups_are_data_with_sources_and_real_members() -> None:
    groups = load_groups(load_schema())
    by_type: dict[str, list] = {}
    for g in groups:
        by_type.setdefault(g.type, []).append(g)
    assert set(by_type) == {"m49_region", "income", "rcp"}
    assert {g.code for g in by_type["rcp"]} == RCP_CODES
    for g in by_type["rcp"]:
        assert g.source.startswith("http"), g.code  # each process cited with its page
    colombo = next(g for g in groups if g.code == "RCP_COLOMBO")
    assert {"PHL", "NPL", "BGD", "LKA"} <= set(colombo.members) and "SAU" not in colombo.members
    puebla = next(g for g in groups if g.code == "RCP_PUEBLA")
    assert {"MEX", "USA", "CAN", "GTM"} <= set(puebla.members)
    world = {m for g in by_type["m49_region"] if g.code in {
        "M49_002", "M49_009", "M49_019", "M49_142", "M49_150"} for m in g.members}  # fmt: skip
    assert len(world) > 240  # the five M49 regions cover every country
    # ISO 3166-1 or a reporting area (XKX, CHI); never a residual (XON, XOS, _X)
    known = reporting_area_codes(load_schema())
    for g in groups:
        assert set(g.members) <= known, (g.code, set(g.members) - known)
    for path in (REPO / "schemas" / "groups").glob("*.yaml"):
        header = path.read_text().split("\n", 12)
        assert any(re.search(r"20\d\d", line) for line in header), f"{path.name} says its date"
        assert yaml.safe_load(path.read_text())["source"]


def test_every_table_has_a_suite_naming_only_its_columns() -> None:
    schema = load_schema()
    for name in schema.table_names():
        columns = {c["name"] for c in schema.table(name)["columns"]}
        suite = load_table_suite(suite_path(REPO / "expectations", name), name, schema)
        assert any(e.rule == "one_row_per_grain" and e.severity == "error" for e in suite)
        for e in suite:
            named = [e.kwargs["column"]] if "column" in e.kwargs else []
            named += e.kwargs.get("column_list") or []
            assert set(named) <= columns, (name, e.rule, set(named) - columns)


@pytest.mark.spark
def test_an_error_level_table_check_stops_the_release(spark) -> None:
    schema = load_schema()
    columns = ", ".join(f"{c['name']} {c['type']}" for c in schema.table("oda_target")["columns"])
    good = spark.createDataFrame([("SWE", "2020", 5.9e9, 540e9, 1.09, 0.7, 0.0, True)], columns)
    assert check_release_tables({"oda_target": good}, schema, REPO / "expectations") == []
    bad = spark.createDataFrame(
        [
            ("SWE", "2020", 5.9e9, 540e9, 1.09, 0.7, 0.0, True),
            ("SWE", "2020", 5.9e9, 540e9, 1.09, 0.7, -1.0, True),  # duplicate, negative gap
            ("XXX", "2020", 1.0, 1.0, 100.0, 0.7, 0.0, True),  # not ISO3; a warning-level 100%
        ],
        columns,
    )
    with pytest.raises(MidexError) as err:
        check_release_tables({"oda_target": bad}, schema, REPO / "expectations")
    message = str(err.value)
    assert message.startswith("release stopped: 3 table check(s) failed")
    assert "one_row_per_grain" in message and "gap_not_negative" in message
    assert "oda_target column REF_AREA" in message and "XXX" in message
    warned = {"plausible_oda_share"}
    assert not any(w in message for w in warned)  # warnings do not stop a release


def test_diff_lists_added_removed_and_revised_values() -> None:
    old = pa.table(
        {"REF_AREA": ["MEX", "GTM", "NPL"], "TIME_PERIOD": ["2020"] * 3,
         "V": [1.0, 2.0, 3.0], "W": [None, 5.0, 6.0]}
    )  # fmt: skip
    new = pa.table(
        {"REF_AREA": ["MEX", "GTM", "SLV"], "TIME_PERIOD": ["2020"] * 3,
         "V": [1.0, 2.5, 7.0], "W": [4.0, 5.0, None]}
    )  # fmt: skip
    changes = diff_table("t", old, new, ["REF_AREA", "TIME_PERIOD"])
    got = {(c["change"], c["key"]["REF_AREA"], c["column"], c["old"], c["new"]) for c in changes}
    assert got == {
        ("added", "SLV", "V", None, 7.0),
        ("removed", "NPL", "V", 3.0, None),
        ("removed", "NPL", "W", 6.0, None),
        ("revised", "GTM", "V", 2.0, 2.5),
        ("revised", "MEX", "W", None, 4.0),
    }
    assert diff_table("t", old, old, ["REF_AREA", "TIME_PERIOD"]) == []


def test_where_parsing_and_filtering() -> None:
    assert parse_where(["REF_AREA=MEX", "TIME_PERIOD = 2020"]) == {
        "REF_AREA": "MEX",
        "TIME_PERIOD": "2020",
    }
    with pytest.raises(MidexError, match="COLUMN=VALUE"):
        parse_where(["MEX"])
    data = pa.table({"A": ["x", "y"], "N": [1, 2], "B": [True, None]})
    assert filter_rows(data, {"N": "2"}).column("A").to_pylist() == ["y"]
    assert filter_rows(data, {"B": "True"}).column("A").to_pylist() == ["x"]
    with pytest.raises(MidexError, match="no such column"):
        filter_rows(data, {"Z": "1"})


def test_bar_chart_is_inline_svg_with_the_reference_line() -> None:
    svg = hbar_chart("t", ["SWE", "ITA"], [("ODA", [1.1, None])], reference=(0.7, "0.7% target"))
    assert svg.count("<rect") == 2  # the legend and SWE's bar; ITA has none
    assert "n/a" in svg and "0.7% target" in svg and "stroke-dasharray" in svg
    assert "No data" in hbar_chart("empty", [], [("x", [])])


def test_release_files_are_streamed_one_area_and_one_row_group_at_a_time(tmp_path) -> None:
    """The release's big tables never sit whole in memory: area files are concatenated into one
    Parquet file in area order (a column missing from an older file comes back null), and the
    CSV is written row group by row group with its SHA-256 taken on the way; list columns are
    joined with ';'."""
    import csv
    import hashlib
    import io

    import pyarrow.parquet as pq

    from midex.contract.settings import get_settings
    from midex.quality.validate import load_suite
    from midex.release.bundle import _stream_csv
    from midex.storage.lake import Lake

    # VALIDATION_FLAGS holds the warning rules a value raised (errors reject the file instead)
    flagged = ["change_from_previous", "ratio_coherence"]
    suite = load_suite(get_settings().expectations / "harmonised.yaml", load_schema())
    assert [suite.severity(rule) for rule in flagged] == ["warning", "warning"]
    folder = tmp_path / "observations"
    folder.mkdir()
    flags = pa.list_(pa.string())
    pq.write_table(  # written before VALIDATION_FLAGS existed
        pa.table({"REF_AREA": ["MEX"] * 2, "OBS_VALUE": [1.0, 2.0]}), folder / "MEX-0.parquet"
    )
    pq.write_table(
        pa.table(
            {
                "REF_AREA": ["AFG", "AFG"],
                "OBS_VALUE": [3.0, None],
                "VALIDATION_FLAGS": pa.array([flagged, None], flags),
            }
        ),
        folder / "AFG-0.parquet",
    )
    pq.write_table(
        pa.table(
            {"REF_AREA": ["AFG"], "OBS_VALUE": [4.0], "VALIDATION_FLAGS": pa.array([[]], flags)}
        ),
        folder / "AFG-1.parquet",
    )
    target = tmp_path / "observations.parquet"
    Lake.concat_by_area(folder, target)
    source = pq.ParquetFile(target)
    assert source.num_row_groups == 3  # one per area file
    table = source.read()
    assert table.column("REF_AREA").to_pylist() == ["AFG", "AFG", "AFG", "MEX", "MEX"]
    assert table.column("OBS_VALUE").to_pylist() == [3.0, None, 4.0, 1.0, 2.0]
    assert table.column("VALIDATION_FLAGS").to_pylist() == [
        flagged, None, [], None, None,
    ]  # fmt: skip

    sink = io.BytesIO()
    digest = _stream_csv(target, sink)
    text = sink.getvalue()
    assert digest == hashlib.sha256(text).hexdigest()
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert [r["REF_AREA"] for r in rows] == ["AFG", "AFG", "AFG", "MEX", "MEX"]  # one header
    assert rows[0]["VALIDATION_FLAGS"] == "change_from_previous;ratio_coherence"
    assert rows[1]["VALIDATION_FLAGS"] == "" and rows[2]["VALIDATION_FLAGS"] == ""

    empty = tmp_path / "empty.parquet"
    pq.write_table(table.slice(0, 0), empty)
    sink = io.BytesIO()
    _stream_csv(empty, sink)
    assert sink.getvalue().decode().splitlines() == ['"REF_AREA","OBS_VALUE","VALIDATION_FLAGS"']


def test_ahead_keeps_order_raises_worker_errors_and_stops_with_its_consumer() -> None:
    """The release builds the next table's file and encodes CSV in a worker thread: items come
    in order, a failure in the worker reaches the caller, and a caller that stops early does not
    leave the worker running (or producing further)."""
    import threading

    from midex.release.bundle import ahead

    assert list(ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("row group 2 is corrupt")

    got = []
    with pytest.raises(ValueError, match="row group 2 is corrupt"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [1]

    produced = []

    def counting():
        for i in range(1000):
            produced.append(i)
            yield i

    for item in ahead(counting(), depth=2):
        if item == 3:
            break
    assert not any(t.name == "midex-ahead" for t in threading.enumerate())
    assert len(produced) <= 3 + 2 + 2  # what was consumed, queued and in hand: not all 1000

    # the worker fails after the consumer has stopped, with the queue full: nobody waits forever
    def late_failure():
        yield from (1, 2)
        raise ValueError("after the consumer left")

    def consume_one() -> None:
        for _ in ahead(late_failure(), depth=1):
            break

    consumer = threading.Thread(target=consume_one)
    consumer.start()
    consumer.join(timeout=10)
    assert not consumer.is_alive()
