"""No formula reaches a spreadsheet (issue 20): every CSV midex writes for people — the release
tables and bundle, `midex export` (csv, sdmx-csv), the service's downloads, the findings reports
of `midex report` and `midex check` — prefixes a text cell beginning with = + - @ tab or CR
with ', numbers stay numbers, and Parquet and JSON keep the exact text (midex.contract.csvsafe)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli, write

pytestmark = pytest.mark.fault  # the fault and abuse suite: pytest -m fault

HYPERLINK = '=HYPERLINK("http://evil.example/?q=1","click")'
# COMMENT as submitted -> as a spreadsheet must get it in a CSV
COMMENTS = {
    HYPERLINK: "'" + HYPERLINK,
    "+1": "'+1",
    "@SUM(1)": "'@SUM(1)",
    "-2+3": "'-2+3",
    "\tx": "'\tx",
    "a=b, as text": "a=b, as text",
}
SUBMISSION = (
    "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT,COMMENT\n"
    'MEX,FDI_IN,2020,-3.5,0,"=HYPERLINK(""http://evil.example/?q=1"",""click"")"\n'
    "MEX,GDP,2020,1090000,6,+1\n"
    "MEX,REMIT_IN,2020,40600,6,@SUM(1)\n"
    "MEX,POP,2020,126000000,0,-2+3\n"
    'MEX,ODA_RECEIVED,2020,300,6,"\tx"\n'
    'MEX,GNI,2020,1050000,6,"a=b, as text"\n'
)
# rejected: the area and the value as submitted come back in the findings
REJECTED = (
    "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\n"
    '"=HYPERLINK(""http://evil.example"")",GDP,2021,5\n'
    "MEX,GDP,2021,@SUM(1)\n"
)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _comments(rows: list[dict[str, str]]) -> dict[str, str]:
    """COMMENT by indicator."""
    return {r["INDICATOR"]: r["COMMENT"] for r in rows if r.get("COMMENT") is not None}


EXPECTED = dict(
    zip(["FDI_IN", "GDP", "REMIT_IN", "POP", "ODA_RECEIVED", "GNI"], COMMENTS.items(), strict=True)
)  # indicator -> (as submitted, as a CSV must carry it)


# ---- the rule itself (no Spark) ----


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        *COMMENTS.items(),
        ("\rx", "'\rx"),
        # text that is nothing but a negative number is written as it is: no formula in it
        ("-3.5", "-3.5"),
        ("-0.25", "-0.25"),
        ("-.5", "-.5"),
        ("-1E3", "-1E3"),
        ("-12e-3", "-12e-3"),
        # but anything more is prefixed
        ("-3.5\n", "'-3.5\n"),
        ("-1,5", "'-1,5"),
        ("-3.5+A1", "'-3.5+A1"),
        ("-", "'-"),
        ("-e5", "'-e5"),
        ("+3.5", "'+3.5"),
        ("'=x", "'=x"),
        (" =x", " =x"),
        ("", ""),
        ("MEX", "MEX"),
    ],
)
def test_safe_text_and_cell(text: str, safe: str) -> None:
    from midex.contract.csvsafe import safe_cell, safe_text

    assert safe_text(text) == safe
    assert safe_cell(text) == safe


def test_safe_cell_leaves_numbers_and_none() -> None:
    from midex.contract.csvsafe import safe_cell

    assert [safe_cell(v) for v in (-3.5, -2, None, True)] == [-3.5, -2, None, True]


def test_safe_array_in_every_string_layout() -> None:
    """string, large_string, string_view, dictionary, chunked and sliced arrays give what
    safe_text gives value by value; nulls and empty strings stay; unchanged data is not copied."""
    from midex.contract.csvsafe import safe_array, safe_text

    values = [*COMMENTS, "\rx", "", None, "'=x", "ok", "-3.5", "-3.5\n", "-1E3", "-x"]
    expected = [None if v is None else safe_text(v) for v in values]
    for kind in (pa.string(), pa.large_string(), pa.string_view()):
        assert safe_array(pa.array(values, kind)).to_pylist() == expected, kind
    assert safe_array(pa.array(values).dictionary_encode()).to_pylist() == expected
    chunked = pa.chunked_array([values[:3], values[3:]])
    assert safe_array(chunked).to_pylist() == expected
    array = pa.array(values)
    for start in range(len(values)):  # an offset into the buffers is read right
        for stop in range(start, len(values) + 1):
            got = safe_array(array.slice(start, stop - start)).to_pylist()
            assert got == expected[start:stop], (start, stop)
    assert safe_array(pa.array(["=a", ""])).to_pylist() == ["'=a", ""]  # offset at the end
    # a null slot whose bytes begin like a formula stays null
    data, offsets = pa.py_buffer(b"=a=b"), pa.array([0, 2, 4], pa.int32()).buffers()[1]
    validity = pa.array([False, True]).buffers()[1]
    masked = pa.Array.from_buffers(pa.string(), 2, [validity, offsets, data], null_count=1)
    assert safe_array(masked).to_pylist() == [None, "'=b"]
    clean = pa.array(["MEX", "", None, "a-b"])
    assert safe_array(clean) is clean
    numbers = pa.array([-3.5, 2.0])
    assert safe_array(numbers) is numbers


def test_stream_csv_neutralises_text_keeps_numbers_and_hashes_what_it_wrote(tmp_path) -> None:
    """The release's CSV writer (row group by row group, list columns joined): text made safe in
    every row group, a negative number left alone, the digest that of the bytes written."""
    from midex.release.bundle import _csv_bytes, _stream_csv

    table = pa.table(
        {
            "INDICATOR": ["FDI_IN", "GDP", "POP"],
            "OBS_VALUE": [-3.5, -2.0, None],
            "COMMENT": [HYPERLINK, None, "-2+3"],
            "VALIDATION_FLAGS": pa.array([["@flag", "x"], None, []], pa.list_(pa.string())),
        }
    )
    path = tmp_path / "observations.parquet"
    pq.write_table(table, path, row_group_size=2)
    assert pq.ParquetFile(path).num_row_groups == 2
    sink = io.BytesIO()
    digest = _stream_csv(path, sink)
    assert digest == hashlib.sha256(sink.getvalue()).hexdigest()
    rows = _rows(sink.getvalue().decode())
    assert [r["COMMENT"] for r in rows] == ["'" + HYPERLINK, "", "'-2+3"]
    assert [r["OBS_VALUE"] for r in rows] == ["-3.5", "-2", ""]
    assert rows[0]["VALIDATION_FLAGS"] == "'@flag;x"
    assert _csv_bytes(table) == sink.getvalue()  # export and bundle write the same CSV
    assert pq.read_table(path).column("COMMENT").to_pylist() == [HYPERLINK, None, "-2+3"]


def test_findings_csv_neutralises_text_keeps_row_numbers() -> None:
    from midex.contract.findings import Finding, render_csv

    planted = Finding("error", "bad_number", 7, None, "OBS_VALUE", "@SUM(1)", None, "-2+3 ...")
    row = _rows(render_csv([planted]))[0]
    assert (row["row"], row["value"], row["message"]) == ("7", "'@SUM(1)", "'-2+3 ...")


# ---- every writer, end to end from a submission ----


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A lake with the accepted submission published and the rejected one reported."""
    tmp = tmp_path_factory.mktemp("csv-injection")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(tmp / "midex"))
        for var in ("MIDEX_LAKE", "MIDEX_LANDING", "MIDEX_CATALOG_URL"):
            mp.delenv(var, raising=False)
        assert run_cli("init").code == 0
        added = run_cli("provider", "add", "MX", "--name", "INEGI", "--kind", "national",
                        "--areas", "MEX")  # fmt: skip
        assert added.code == 0, added.err
        ids = {}
        for name, text in (("accepted", SUBMISSION), ("rejected", REJECTED)):
            path = write(tmp / f"{name}.csv", text)
            sub = run_cli("submit", str(path), "--provider", "MX", "--json")
            assert sub.code == 0, sub.err
            ids[name] = sub.json()["id"]
        ran = run_cli("run", "--json")
        assert ran.code == 0, ran.err
        statuses = {s["id"]: s["status"] for s in ran.json()["processed"]}
        assert statuses == {ids["accepted"]: "accepted", ids["rejected"]: "rejected"}, ran.out
        release = run_cli("publish", "--json")
        assert release.code == 0, release.err
        yield {"tmp": tmp, "ids": ids, "release": release.json()}


@pytest.mark.spark
@pytest.mark.slow
def test_release_csv_and_bundle_are_safe_parquet_keeps_the_text(published) -> None:
    folder = Path(published["release"]["path"])
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["tables"]["observations"]
    with zipfile.ZipFile(folder / manifest["bundle"]) as bundle:
        payload = bundle.read(entry["csv"]["file"])
    assert hashlib.sha256(payload).hexdigest() == entry["csv"]["sha256"]
    rows = _rows(payload.decode())
    assert _comments(rows) == {k: safe for k, (_, safe) in EXPECTED.items()}
    fdi = next(r for r in rows if r["INDICATOR"] == "FDI_IN")
    assert fdi["OBS_VALUE"] == "-3.5"  # a number, not text
    assert fdi["SOURCE_VALUE"] == "-3.5"  # a negative number as submitted: no quote in front
    parquet = pq.read_table(folder / entry["file"]).to_pylist()
    assert _comments(parquet) == {k: submitted for k, (submitted, _) in EXPECTED.items()}


@pytest.mark.spark
@pytest.mark.slow
def test_export_csv_and_sdmx_csv_are_safe_json_keeps_the_text(published) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(published["tmp"] / "midex"))
        exported = run_cli("export", "observations", "--format", "csv")
        sdmx = run_cli("export", "observations", "--format", "sdmx-csv")
        as_json = run_cli("export", "observations", "--format", "json")
    assert exported.code == sdmx.code == as_json.code == 0, (exported.err, sdmx.err)
    safe = {k: s for k, (_, s) in EXPECTED.items()}
    assert _comments(_rows(exported.out)) == safe
    sdmx_rows = _rows(sdmx.out)
    assert _comments(sdmx_rows) == safe
    assert next(r for r in sdmx_rows if r["INDICATOR"] == "FDI_IN")["OBS_VALUE"] == "-3.5"
    exact = {k: submitted for k, (submitted, _) in EXPECTED.items()}
    assert _comments(json.loads(as_json.out)["rows"]) == exact


@pytest.mark.spark
@pytest.mark.slow
def test_findings_csv_of_report_and_check_is_safe_json_keeps_the_text(published) -> None:
    rejected = str(published["ids"]["rejected"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(published["tmp"] / "midex"))
        as_csv = run_cli("report", rejected, "--format", "csv")
        as_json = run_cli("report", rejected, "--format", "json")
        checked = run_cli("check", str(published["tmp"] / "rejected.csv"), "--report", "csv")
    assert as_csv.code == as_json.code == 0, as_csv.err
    submitted = {f["value"] for f in as_json.json()["findings"]}
    assert {'=HYPERLINK("http://evil.example")', "@SUM(1)"} <= submitted
    for text in (as_csv.out, checked.out):
        values = {r["value"] for r in _rows(text)}
        assert {'\'=HYPERLINK("http://evil.example")', "'@SUM(1)"} <= values, text
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in values)


@pytest.mark.spark
@pytest.mark.slow
def test_service_downloads_and_findings_reports_are_safe(spark, published) -> None:
    import httpx

    from midex.contract.settings import Settings
    from midex.service import create_app
    from midex.service.tokens import issue_token
    from tests.service_support import serve

    app = create_app(Settings(home=published["tmp"] / "midex"), spark=spark)
    token = issue_token(app.state.ctx.catalog, "admin", "the data engineer")[0]
    safe = {k: s for k, (_, s) in EXPECTED.items()}
    with (
        serve(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c,
    ):
        download = "/api/tables/observations/download"
        whole = c.get(download, params={"format": "csv"})
        filtered = c.get(download, params={"format": "csv", "area": "MEX"})
        sdmx = c.get(download, params={"format": "sdmx-csv"})
        parquet = c.get(download, params={"format": "parquet"})
        rejected = published["ids"]["rejected"]
        report = c.get(f"/api/submissions/{rejected}/report", params={"format": "csv"})
    for response in (whole, filtered, sdmx, parquet, report):
        assert response.status_code == 200, response.text
    for response in (whole, filtered, sdmx):
        assert _comments(_rows(response.text)) == safe
    exact = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert _comments(exact) == {k: submitted for k, (submitted, _) in EXPECTED.items()}
    assert "'@SUM(1)" in {r["value"] for r in _rows(report.text)}
