"""The service end to end on the embedded worker: files uploaded over HTTP are processed by the
service's own worker thread (the test run's one Spark session), reported, published by an admin
and read back by a consumer — the same midex.stages functions the CLI calls."""

from __future__ import annotations

import csv
import io
import zipfile

import httpx
import pyarrow.parquet as pq
import pytest

from tests.conftest import DEMO
from tests.service_support import serve, wait_final

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MX = DEMO / "mx_banxico_inegi_2018_2022.csv"
PH_DRAFT = DEMO / "ph_psa_2023_draft_with_errors.csv"
# a national provider reporting another country's figure (row 3)
MX_OUT_OF_SCOPE = (
    b"REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,POP,2021,126705138\nPHL,POP,2021,111046913\n"
)


def _line_of(path, *cells: str) -> int:
    """The file line (header = 1) whose first cells are `cells`: what the provider sees."""
    with path.open(encoding="utf-8") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if tuple(row[: len(cells)]) == cells:
                return number
    raise AssertionError(f"{cells} not in {path.name}")


@pytest.fixture(scope="module")
def flow(spark, tmp_path_factory: pytest.TempPathFactory):
    from midex.contract.settings import Settings
    from midex.service import create_app
    from midex.service.tokens import issue_token
    from midex.storage.catalog import ProviderKind

    settings = Settings(home=tmp_path_factory.mktemp("service-flow"))
    app = create_app(settings, spark=spark)
    ctx = app.state.ctx
    ctx.catalog.add_provider("MX_INEGI", "INEGI", ProviderKind.national, ["MEX"])
    ctx.catalog.add_provider("PH_PSA", "PSA", ProviderKind.national, ["PHL"])
    tokens = {
        "mx": issue_token(ctx.catalog, "provider", "MX_INEGI", "MX_INEGI")[0],
        "ph": issue_token(ctx.catalog, "provider", "PH_PSA", "PH_PSA")[0],
        "consumer": issue_token(ctx.catalog, "consumer", "researcher")[0],
        "admin": issue_token(ctx.catalog, "admin", "engineer")[0],
    }
    with serve(app) as url:
        c = {
            who: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {t}"}, timeout=600)
            for who, t in tokens.items()
        }
        ids = {}
        uploads = [
            ("mx", MX.name, MX.read_bytes()),
            ("ph", PH_DRAFT.name, PH_DRAFT.read_bytes()),
            ("mx_other_area", "mx_pop.csv", MX_OUT_OF_SCOPE),
        ]
        for key, name, data in uploads:
            r = c[key[:2]].post("/api/submissions", files={"file": (name, data)})
            assert r.status_code == 202, r.text
            assert r.json()["processing"] == "queued for processing in this service"
            ids[key] = r.json()["id"]
        final = {key: wait_final(c[key[:2]], sid) for key, sid in ids.items()}
        published = c["admin"].post("/api/releases", json={})
        assert published.status_code == 201, published.text
        yield {"c": c, "ids": ids, "final": final, "release": published.json(), "ctx": ctx}
        for client in c.values():
            client.close()


def test_uploads_are_processed_by_the_service_worker(flow) -> None:
    assert flow["final"]["mx"]["status"] == "accepted"
    assert flow["final"]["mx"]["rows_harmonised"] == 11
    assert flow["final"]["ph"]["status"] == "rejected"
    history = flow["c"]["mx"].get("/api/submissions").json()  # newest first, only its own
    assert [s["id"] for s in history] == [flow["ids"]["mx_other_area"], flow["ids"]["mx"]]


def test_a_provider_may_submit_only_for_its_areas(flow) -> None:
    sid = flow["ids"]["mx_other_area"]
    assert flow["final"]["mx_other_area"]["status"] == "rejected"
    findings = flow["c"]["mx"].get(f"/api/submissions/{sid}/report").json()["findings"]
    scope = [(f["row"], f["column"], f["value"]) for f in findings if f["rule"] == "area_out_of_scope"]  # fmt: skip
    assert scope == [(3, "REF_AREA", "PHL")]


def test_report_names_the_planted_errors_by_row_and_column(flow) -> None:
    sid = flow["ids"]["ph"]
    report = flow["c"]["ph"].get(f"/api/submissions/{sid}/report").json()
    assert report["status"] == "rejected"
    errors = {(f["row"], f["column"]) for f in report["findings"] if f["severity"] == "error"}
    assert (_line_of(PH_DRAFT, "Phillipines;GDP;2023;437.1;9;P;PSA national accounts (typo in the country name)"), "REF_AREA") in errors  # fmt: skip
    assert (4, "TIME_PERIOD") in errors and (5, "OBS_VALUE") in errors
    as_csv = flow["c"]["ph"].get(f"/api/submissions/{sid}/report", params={"format": "csv"}).text
    assert "Phillipines" in as_csv
    # the provider of the other submission cannot read this report
    assert flow["c"]["mx"].get(f"/api/submissions/{sid}/report").status_code == 403


def test_published_release_is_queryable_and_downloadable(flow) -> None:
    from midex.release.bundle import read_table

    ctx, consumer = flow["ctx"], flow["c"]["consumer"]
    number = flow["release"]["release"]
    release = ctx.catalog.release(number)
    r = consumer.get("/api/tables/remittances_gdp", params={"area": "MEX", "period_from": "2019", "period_to": "2021"})  # fmt: skip
    body = r.json()
    expected = [
        row
        for row in read_table(release, "remittances_gdp").to_pylist()
        if row["REF_AREA"] == "MEX" and "2019" <= row["TIME_PERIOD"] <= "2021"
    ]
    assert body["total"] == 3 and body["rows"] == expected
    assert body["rows"][1]["REMIT_IN_USD"] == pytest.approx(42.88e9)
    parquet = consumer.get("/api/tables/observations/download", params={"format": "parquet"})
    assert pq.read_table(io.BytesIO(parquet.content)).equals(read_table(release, "observations"))
    sdmx = consumer.get("/api/tables/remittances_gdp/download", params={"format": "sdmx-csv"})
    assert sdmx.status_code == 200 and sdmx.text.splitlines()[0].startswith("STRUCTURE")
    bundle = consumer.get(f"/api/releases/{number}/bundle")
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert "manifest.json" in names and "remittances_gdp.csv" in names


def test_explain_traces_a_published_value_to_the_uploaded_row(flow) -> None:
    r = flow["c"]["consumer"].get("/api/explain/remittances_gdp", params={"REF_AREA": "MEX", "TIME_PERIOD": "2020"})  # fmt: skip
    [row] = r.json()["rows"]
    by_indicator = {o["INDICATOR"]: o for o in row["observations"]}
    remit = by_indicator["REMIT_IN"]
    assert remit["SUBMISSION_ID"] == flow["ids"]["mx"] and remit["SOURCE_FILE"] == MX.name
    assert remit["SOURCE_ROW"] == _line_of(MX, "Mexico", "REMIT_IN", "2020")
    assert remit["SOURCE_VALUE"] == "42.88"
    assert by_indicator["GDP"]["SOURCE_ROW"] == _line_of(MX, "Mexico", "GDP", "2020")
