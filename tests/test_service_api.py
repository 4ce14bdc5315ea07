"""The HTTP service over a real socket (uvicorn on 127.0.0.1): tokens and roles, the access
matrix, uploads (streamed, limited, checked), consumer queries on a release, bad requests. The
release is three small files processed and published by midex.stages once for the module (the
run's Spark session); uploads over HTTP go to a stand-in for Airflow's REST API (tests may not
start Airflow's api-server on this machine: its log servers bind to all interfaces), which also
tests the Airflow trigger path. Processing uploads in the service: tests/test_service_flow.py."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from tests.conftest import DEMO
from tests.service_support import (
    RELEASE_FILES,
    AirflowStub,
    files_under,
    publish_release,
    serve,
)

LIMIT = 4096
MX_FILE = (DEMO / "mx_banxico_inegi_2018_2022.csv").read_bytes()


@pytest.fixture(scope="module")
def deployment(spark, tmp_path_factory: pytest.TempPathFactory):
    from midex.contract.settings import Settings
    from midex.service import create_app
    from midex.service.tokens import issue_token
    from midex.stages import publish
    from midex.storage.catalog import ProviderKind

    stub = AirflowStub()
    home = tmp_path_factory.mktemp("service-api")
    settings = Settings(
        home=home,
        upload_max_bytes=LIMIT,
        airflow_url=stub.url,
        airflow_username="midex",
        airflow_password="secret",
    )
    app = create_app(settings)
    ctx = app.state.ctx
    ctx.catalog.add_provider("MX_INEGI", "INEGI", ProviderKind.national, ["MEX"])
    ctx.catalog.add_provider("PH_PSA", "PSA", ProviderKind.national, ["PHL"])
    tokens = {
        "mx": issue_token(ctx.catalog, "provider", "MX_INEGI", "MX_INEGI")[0],
        "ph": issue_token(ctx.catalog, "provider", "PH_PSA", "PH_PSA")[0],
        "consumer": issue_token(ctx.catalog, "consumer", "a researcher")[0],
        "admin": issue_token(ctx.catalog, "admin", "the data engineer")[0],
    }
    # release 1 as midex publishes it, then the same data again as an embargoed release 2
    _, published = publish_release(ctx, spark, tmp_path_factory.mktemp("release-files"))
    publish(ctx, spark, embargo_until=datetime.now(UTC) + timedelta(days=30))
    with serve(app) as url:
        clients = {
            who: httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {t}"} if t else {}, timeout=30
            )
            for who, t in {**tokens, "anonymous": None, "wrong": "mdx_" + "x" * 43}.items()
        }
        # one submission of each provider, uploaded through the API
        subs = {}
        for who, name in (("mx", "mx.csv"), ("ph", "ph.csv")):
            r = clients[who].post("/api/submissions", files={"file": (name, MX_FILE)})
            assert r.status_code == 202, r.text
            subs[who] = r.json()["id"]
        yield {"url": url, "ctx": ctx, "clients": clients, "subs": subs, "stub": stub,
               "settings": settings, "tokens": tokens, "app": app,
               "published": published}  # fmt: skip
        for c in clients.values():
            c.close()
    stub.close()


def _status(deployment: dict, who: str, method: str, path: str) -> httpx.Response:
    path = path.format(mx=deployment["subs"]["mx"], ph=deployment["subs"]["ph"])
    client = deployment["clients"][who]
    if method == "UPLOAD":
        return client.post(path, files={"file": ("again.csv", MX_FILE)}, data={"new": "true"})
    if method == "POST":
        body = {"role": "consumer", "name": "x"} if path == "/api/tokens" else {}
        return client.post(path, json=body)
    return client.get(path)


# role x endpoint x own/other. mx is the provider MX_INEGI; {mx} its submission, {ph} another's.
MATRIX = [
    # endpoint                                         anonymous wrong mx  consumer admin
    ("GET", "/api/submissions",                            401, 401, 200, 403, 200),
    ("GET", "/api/submissions/{mx}",                       401, 401, 200, 403, 200),
    ("GET", "/api/submissions/{ph}",                       401, 401, 403, 403, 200),
    ("GET", "/api/submissions/{mx}/report",                401, 401, 200, 403, 200),
    ("GET", "/api/submissions/{ph}/report",                401, 401, 403, 403, 200),
    ("POST", "/api/submissions/{ph}/retry",                401, 401, 403, 403, 409),
    ("POST", "/api/submissions/{mx}/retry",                401, 401, 409, 403, 409),
    ("UPLOAD", "/api/submissions",                         401, 401, 202, 403, 400),
    ("GET", "/api/me",                                     401, 401, 200, 200, 200),
    ("GET", "/api/releases",                               401, 401, 200, 200, 200),
    ("GET", "/api/releases/1",                             401, 401, 200, 200, 200),
    ("GET", "/api/tables",                                 401, 401, 200, 200, 200),
    ("GET", "/api/tables/observations",                    401, 401, 200, 200, 200),
    ("GET", "/api/tables/remittances_gdp/download",        401, 401, 200, 200, 200),
    ("GET", "/api/explain/remittances_gdp?REF_AREA=MEX&TIME_PERIOD=2020", 401, 401, 200, 200, 200),
    ("GET", "/api/groups",                                 401, 401, 200, 200, 200),
    ("GET", "/api/providers",                              401, 401, 403, 403, 200),
    ("POST", "/api/tokens",                                401, 401, 403, 403, 201),
    ("POST", "/api/releases",                              401, 401, 403, 403, 202),
]  # fmt: skip
ROLES = ["anonymous", "wrong", "mx", "consumer", "admin"]


@pytest.mark.parametrize(
    ("method", "path", "who", "expected"),
    [
        pytest.param(m, p, who, row[i], id=f"{who}-{m}-{p}")
        for (m, p, *row) in MATRIX
        for i, who in enumerate(ROLES)
    ],
)
def test_access_matrix(deployment: dict, method: str, path: str, who: str, expected: int) -> None:
    r = _status(deployment, who, method, path)
    assert r.status_code == expected, r.text
    if expected in (401, 403):
        detail = r.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 20  # a sentence, not a code
        if expected == 401:
            assert "token" in detail
    if who == "mx" and path == "/api/submissions" and method == "GET":
        assert {s["provider"] for s in r.json()} == {"MX_INEGI"}


@pytest.mark.parametrize("who", ["consumer", "mx"])
def test_embargoed_release_is_invisible_until_its_time(deployment: dict, who: str) -> None:
    client = deployment["clients"][who]
    assert [r["release"] for r in client.get("/api/releases").json()] == [1]
    assert client.get("/api/tables").json()["release"] == 1  # latest visible, not 2
    r = client.get("/api/tables/observations?release=2")
    assert r.status_code == 403 and "embargo" in r.json()["detail"]
    admin = deployment["clients"]["admin"]
    assert [r["release"] for r in admin.get("/api/releases").json()] == [2, 1]


def test_anonymous_read_when_configured(deployment: dict) -> None:
    from midex.service import create_app
    from midex.service.processing import Processor

    settings = deployment["settings"].model_copy(update={"anonymous_read": True})
    with serve(create_app(settings, processor=Processor())) as url, httpx.Client(base_url=url) as anon:  # fmt: skip
        assert [r["release"] for r in anon.get("/api/releases").json()] == [1]
        assert anon.get("/api/tables/observations?area=MEX").json()["total"] == 3
        assert anon.get("/api/tables/observations?release=2").status_code == 403
        for path in (
            "/api/submissions",
            "/api/providers",
            f"/api/submissions/{deployment['subs']['mx']}",
        ):
            r = anon.get(path)
            assert r.status_code == 401 and "token" in r.json()["detail"]


def test_upload_lands_unchanged_and_triggers_airflow(deployment: dict) -> None:
    ctx = deployment["ctx"]
    sub = ctx.catalog.submission(deployment["subs"]["mx"])
    assert sub.provider_code == "MX_INEGI" and sub.status == "received"  # the catalog queues it
    assert Path(sub.landing_uri).read_bytes() == MX_FILE
    assert sub.sha256 == hashlib.sha256(MX_FILE).hexdigest()
    runs = [q for q in deployment["stub"].requests if q["path"].endswith("/dagRuns")]
    mine = [q for q in runs if q["body"]["conf"] == {"submission_id": sub.id}]
    assert mine and mine[0]["path"] == "/api/v2/dags/midex_intake/dagRuns"
    assert mine[0]["body"]["logical_date"] is None
    assert mine[0]["auth"] == "Bearer jwt-for-midex"  # from POST /auth/token


def test_admin_publish_triggers_the_release_dag(deployment: dict) -> None:
    r = deployment["clients"]["admin"].post("/api/releases", json={})
    assert r.status_code == 202 and r.json()["dag_id"] == "midex_release"


def test_admin_uploads_for_a_named_provider_and_provider_cannot_impersonate(
    deployment: dict,
) -> None:
    admin, mx = deployment["clients"]["admin"], deployment["clients"]["mx"]
    r = admin.post(
        "/api/submissions",
        files={"file": ("a.csv", MX_FILE)},
        data={"provider": "PH_PSA", "new": "true"},
    )
    assert r.status_code == 202 and r.json()["provider"] == "PH_PSA"
    r = mx.post("/api/submissions", files={"file": ("a.csv", MX_FILE)}, data={"provider": "PH_PSA"})
    assert r.status_code == 403 and "own provider" in r.json()["detail"]


def test_report_formats(deployment: dict) -> None:
    from midex.contract.findings import Finding, write_findings

    ctx, mx = deployment["ctx"], deployment["clients"]["mx"]
    sid = deployment["subs"]["mx"]
    planted = Finding("error", "codelist", 7, None, "REF_AREA", "Mexcio", None, "unknown country")
    write_findings(ctx.lake.findings_file(sid), [planted])
    body = mx.get(f"/api/submissions/{sid}/report").json()
    assert body == {"submission": sid, "status": "received", "findings": [planted.to_dict()]}
    rows = list(
        pacsv.read_csv(
            io.BytesIO(mx.get(f"/api/submissions/{sid}/report?format=csv").content)
        ).to_pylist()
    )
    assert rows[0]["row"] == 7 and rows[0]["value"] == "Mexcio"
    page = mx.get(f"/api/submissions/{sid}/report?format=html")
    assert page.headers["content-type"].startswith("text/html") and "Mexcio" in page.text
    assert mx.get(f"/api/submissions/{sid}/report?format=xml").status_code == 422


def test_query_filters_and_paging(deployment: dict) -> None:
    # the release holds the 7 rows of RELEASE_FILES, in series-key order: IND, MEX, then PHL
    c = deployment["clients"]["consumer"]
    r = c.get(
        "/api/tables/observations", params={"area": "MEX,PHL", "indicator": "REMIT_IN"}
    ).json()
    assert r["total"] == 4 and {x["REF_AREA"] for x in r["rows"]} == {"MEX", "PHL"}
    # aliases work; the period range includes the sub-periods of its last year
    r = c.get("/api/tables/observations", params={"indicator": "BX.TRF.PWKR.CD.DT", "period_from": "2020", "period_to": "2020"}).json()  # fmt: skip
    assert sorted(x["TIME_PERIOD"] for x in r["rows"]) == ["2020", "2020-Q3"]
    r = c.get("/api/tables/observations", params={"group": "WB_LMC"}).json()  # PHL and IND
    assert {x["REF_AREA"] for x in r["rows"]} == {"PHL", "IND"}
    page1 = c.get("/api/tables/observations", params={"limit": 3}).json()
    page3 = c.get("/api/tables/observations", params={"limit": 3, "offset": 6}).json()
    assert page1["total"] == 7 and len(page1["rows"]) == 3 and len(page3["rows"]) == 1
    assert page1["rows"][0]["REF_AREA"] == "IND"
    last = page3["rows"][0]
    assert (last["REF_AREA"], last["INDICATOR"], last["TIME_PERIOD"]) == (
        "PHL",
        "REMIT_IN",
        "2020-Q3",
    )
    meta = c.get("/api/tables").json()
    by_name = {t["name"]: t for t in meta["tables"]}
    # a row per annual country-year with remittances: MEX 2019, MEX 2020, PHL 2019, IND 2021
    # (PHL 2020 has only GDP; 2020-Q3 is not a year)
    assert by_name["remittances_gdp"]["rows"] == 4 and by_name["remittances_gdp"]["sdg"] == "17.3.2"
    assert "REMIT_IN_PCT_GDP" in by_name["remittances_gdp"]["column_docs"]


def test_downloads(deployment: dict) -> None:
    from midex.release.bundle import read_table

    c, ctx = deployment["clients"]["consumer"], deployment["ctx"]
    release = ctx.catalog.release(1)
    parquet = c.get("/api/tables/observations/download", params={"format": "parquet", "release": 1})
    assert parquet.status_code == 200
    assert pq.read_table(io.BytesIO(parquet.content)).equals(read_table(release, "observations"))
    csv = c.get("/api/tables/observations/download", params={"format": "csv", "area": "PHL"})
    table = pacsv.read_csv(io.BytesIO(csv.content))
    assert table.num_rows == 3 and set(table.column("REF_AREA").to_pylist()) == {"PHL"}
    assert "attachment" in csv.headers["content-disposition"]
    bad = c.get("/api/tables/observations/download", params={"format": "exe"})
    assert bad.status_code == 400 and "csv" in bad.json()["detail"]


def test_explain_names_the_submissions_and_rows(deployment: dict) -> None:
    c = deployment["clients"]["consumer"]
    mx = deployment["published"]["MX_INEGI"]
    r = c.get("/api/explain/remittances_gdp", params={"REF_AREA": "MEX", "TIME_PERIOD": "2020"})
    [row] = r.json()["rows"]
    assert row["row"]["REMIT_IN_USD"] == pytest.approx(42.88e9)
    assert row["row"]["REMIT_IN_PCT_GDP"] == pytest.approx(42.88 / 1090 * 100)
    sources = {(o["INDICATOR"], o["SUBMISSION_ID"], o["SOURCE_FILE"], o["SOURCE_ROW"], o["SOURCE_VALUE"]) for o in row["observations"]}  # fmt: skip
    file_name = RELEASE_FILES["MX_INEGI"][0]  # lines 3 and 4 of the file (1 is the header)
    assert sources == {("REMIT_IN", mx.id, file_name, 3, "42.88"), ("GDP", mx.id, file_name, 4, "1090")}  # fmt: skip
    r = c.get("/api/explain/observations", params={"REF_AREA": "PHL", "INDICATOR": "REMIT_IN", "TIME_PERIOD": "2020-Q3"})  # fmt: skip
    [row] = r.json()["rows"]
    assert [(o["PROVIDER"], o["SOURCE_ROW"]) for o in row["observations"]] == [("PH_PSA", 3)]
    for bad in ({"REF_AREA": "MEX' OR 1=1"}, {"x;drop": "1"}, {}):
        r = c.get("/api/explain/remittances_gdp", params=bad)
        assert r.status_code == 400, r.text


def test_token_cli_shows_once_stores_hash_and_rotates(deployment: dict, cli, monkeypatch) -> None:
    from midex.storage.catalog import Token

    ctx = deployment["ctx"]
    monkeypatch.setenv("MIDEX_HOME", str(ctx.settings.home))
    ctx.catalog.add_provider("WB", "World Bank", "agency", [])
    first = cli("provider", "token", "WB", "--json")
    assert first.code == 0, first.err
    token = first.json()["token"]
    with ctx.catalog.session() as s:
        records = list(s.exec(select(Token).where(Token.provider_code == "WB")))
    assert [r.token_sha256 for r in records] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(r.model_dump()) for r in records)  # only the hash is kept
    url = deployment["url"]
    assert httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}).json()["provider"] == "WB"  # fmt: skip
    again = cli("provider", "token", "WB")
    assert again.code == 1 and "--rotate" in again.err
    rotated = cli("provider", "token", "WB", "--rotate", "--json")
    new = rotated.json()["token"]
    assert new != token
    assert httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401  # fmt: skip
    assert httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200  # fmt: skip
    consumer = cli("token", "add", "--role", "consumer", "--name", "OECD")
    assert consumer.code == 0 and "shown once" in consumer.out
    assert cli("provider", "token", "NOPE").code == 1


# ---- bad requests: a clear 4xx, nothing written, nothing leaked ---------------------------


def _no_leak(r: httpx.Response, settings: Any) -> None:
    text = r.text
    assert "Traceback" not in text and str(settings.home) not in text and 'File "' not in text


def _raw_upload(client: httpx.Client, body: bytes, content_type: str, **kw: Any) -> httpx.Response:
    return client.post(
        "/api/submissions", content=body, headers={"Content-Type": content_type}, **kw
    )


BOUNDARY = "midexboundary"


def _multipart(filename: str, data: bytes, close: bool = True) -> bytes:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n").encode()  # fmt: skip
    return head + data + (f"\r\n--{BOUNDARY}--\r\n".encode() if close else b"")


def _fields(**values: str) -> bytes:
    return b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in values.items()
    )


BAD_UPLOADS = {
    "oversized": (_multipart("big.csv", b"x" * (LIMIT + 1)), 413, "limit"),
    "oversized-by-length-header": (
        _multipart("big.csv", b"x" * (LIMIT + 100_000)),
        413,
        "the whole body",
    ),
    "not-multipart": (b"REF_AREA,INDICATOR\n", "text/csv", 400),
    "truncated-multipart": (_multipart("a.csv", MX_FILE[:100], close=False), 400, "incomplete"),
    "garbage-multipart": (b"\x00\x01garbage without boundaries", 400, "file"),
    "no-file-part": (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--{BOUNDARY}--\r\n'.encode(),
        400,
        "file",
    ),  # fmt: skip
    "traversal": (_multipart("../../etc/passwd.csv", MX_FILE), 400, "plain name"),
    "traversal-windows": (_multipart("..\\..\\boot.csv", MX_FILE), 400, "plain name"),
    "absolute": (_multipart("/etc/cron.d/x.csv", MX_FILE), 400, "plain name"),
    "empty-file": (_multipart("empty.csv", b""), 400, "empty"),
    # the body is bounded as a whole: many fields, long fields together, endless part headers
    "many-fields": (
        _fields(**{f"f{i}": "1" for i in range(40)}) + _multipart("a.csv", MX_FILE),
        400,
        "more than 16 parts",
    ),
    "long-fields-together": (
        _fields(**{f"f{i}": "v" * 1000 for i in range(12)}) + _multipart("a.csv", MX_FILE),
        413,
        "form fields are longer",
    ),
    "endless-header": (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="a.csv"\r\nX-Pad: {"p" * 20_000}\r\n\r\n'.encode()
        + MX_FILE
        + f"\r\n--{BOUNDARY}--\r\n".encode(),
        400,
        "malformed",
    ),
}


@pytest.mark.fault
@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_and_write_nothing(deployment: dict, case: str) -> None:
    settings, ctx = deployment["settings"], deployment["ctx"]
    before = files_under(settings.landing, settings.lake)
    count = len(ctx.catalog.submissions())
    body, *rest = BAD_UPLOADS[case]
    if case == "not-multipart":
        ctype, status, needle = rest[0], rest[1], "multipart"
    else:
        ctype, (status, needle) = f"multipart/form-data; boundary={BOUNDARY}", rest
    r = _raw_upload(deployment["clients"]["mx"], body, ctype)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    _no_leak(r, settings)
    assert files_under(settings.landing, settings.lake) == before
    assert len(ctx.catalog.submissions()) == count
    assert not any((settings.home / "uploads").iterdir())  # staging cleaned up


@pytest.mark.fault
def test_oversized_chunked_upload_is_cut_off_while_streaming(deployment: dict) -> None:
    settings = deployment["settings"]
    before = files_under(settings.landing, settings.lake)

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        data = _multipart("big.csv", b"y" * (LIMIT * 4))
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    r = deployment["clients"]["mx"].post(
        "/api/submissions", content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )  # fmt: skip
    assert r.status_code == 413
    assert files_under(settings.landing, settings.lake) == before


@pytest.mark.fault
@pytest.mark.parametrize("length_header", [False, True])
def test_bytes_after_the_closing_boundary_count_against_the_body_limit(
    deployment: dict, length_header: bool
) -> None:
    """A whole, valid upload followed by an endless epilogue: the body as a whole is capped (the
    file's limit + the form fields' + part headers), with or without Content-Length; the reading
    stops at the cap, nothing lands, staging is empty."""
    from midex.service.upload import max_body_bytes

    settings, ctx = deployment["settings"], deployment["ctx"]
    before = files_under(settings.landing, settings.lake)
    count = len(ctx.catalog.submissions())
    cap = max_body_bytes(LIMIT)
    assert LIMIT < cap <= LIMIT + 80 * 1024
    upload = _multipart("fine.csv", MX_FILE.replace(b"2022", b"2099"))
    chunk, total_chunks = b"e" * 4096, 4_000  # 16 MB of epilogue, ~200 times the cap
    sent = 0

    def chunks():  # bounded: the generator stops after total_chunks whatever the server does
        nonlocal sent
        yield upload
        for _ in range(total_chunks):
            sent += 1
            yield chunk

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if length_header:
        headers["Content-Length"] = str(len(upload) + len(chunk) * total_chunks)
    r = deployment["clients"]["mx"].post("/api/submissions", content=chunks(), headers=headers)
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert f"{cap} bytes" in detail and "send the file and its form fields only" in detail
    _no_leak(r, settings)
    assert files_under(settings.landing, settings.lake) == before
    assert len(ctx.catalog.submissions()) == count
    assert not any((settings.home / "uploads").iterdir())
    if not length_header:  # the server stopped reading (and closed): the client could send
        # no more than the cap and what the sockets' buffers hold (~3 MB here), not all 16 MB
        assert sent < total_chunks // 2, sent


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"area": "MEX' OR '1'='1"}, "area"),
        ({"area": "MEX;DROP TABLE submission"}, "area"),
        ({"indicator": "REMIT_IN' --"}, "indicator"),
        ({"period_from": "2019 OR 1=1"}, "period_from"),
        ({"period_to": "2020); DELETE"}, "period_to"),
        ({"group": "x' UNION SELECT token_sha256 FROM token"}, "group"),
        ({"group": "NO_SUCH_GROUP"}, "unknown group"),
        ({"limit": "100000"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_sql_looking_or_bad_filters_are_400(deployment: dict, params: dict, needle: str) -> None:
    r = deployment["clients"]["consumer"].get("/api/tables/observations", params=params)
    assert r.status_code == 400 and needle in r.json()["detail"]
    _no_leak(r, deployment["settings"])
    assert "token_sha256" not in r.text.replace(str(params.get("group", "")[:40]), "")


@pytest.mark.parametrize(
    "path",
    [
        "/api/tables/no_such_table",
        "/api/tables/..%2F..%2Fcatalog.db",
        "/api/tables/no_such_table/download",
        "/api/explain/no_such_table?REF_AREA=MEX&TIME_PERIOD=2020",
        "/api/tables/observations?release=99",
        "/api/submissions/999",
    ],
)
def test_unknown_things_are_404(deployment: dict, path: str) -> None:
    r = deployment["clients"]["admin"].get(path)
    assert r.status_code == 404, r.text
    _no_leak(r, deployment["settings"])


def test_filter_on_a_column_the_table_lacks(deployment: dict) -> None:
    r = deployment["clients"]["consumer"].get("/api/tables/remittances_gdp", params={"indicator": "GDP"})  # fmt: skip
    assert r.status_code == 400 and "no INDICATOR column" in r.json()["detail"]


def test_presigned_upload_needs_object_store(deployment: dict) -> None:
    r = deployment["clients"]["mx"].post("/api/uploads", json={"file_name": "big.csv"})
    assert r.status_code == 409 and "s3://" in r.json()["detail"]


def test_health_ready_docs_and_page(deployment: dict) -> None:
    url = deployment["url"]
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/ready").json()
    assert ready["status"] == "ready" and ready["processing"] == "airflow ok"
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/api/submissions" in spec["paths"] and "/api/tables/{table}" in spec["paths"]
    assert "multipart/form-data" in spec["paths"]["/api/submissions"]["post"]["requestBody"]["content"]  # fmt: skip
    assert httpx.get(f"{url}/docs").status_code == 200
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    assert "https://" not in httpx.get(f"{url}/static/app.js").text  # no CDN, no outside calls
    assert 'src="http' not in page.text and 'href="http' not in page.text
    template = httpx.get(f"{url}/api/template").text
    assert template.splitlines()[0].startswith("REF_AREA,COUNTERPART_AREA,INDICATOR")
    workbook = httpx.get(f"{url}/api/template", params={"format": "xlsx"})
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"  # a zip: xlsx


def test_readme_service_commands_run(midex_home: Path, cli) -> None:
    """The sh block of README's service section, as a user would type it (serve: see below)."""
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    section = readme.split("## The HTTP service and web page", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line, comments=True) for line in block.strip().splitlines()]
    assert cli("provider", "add", "MX_INEGI", "--name", "INEGI", "--kind", "national", "--areas", "MEX").code == 0  # fmt: skip
    ran = 0
    for argv in commands:
        assert argv[0] == "midex"
        if argv[1] == "serve":
            continue
        result = cli(*argv[1:])
        assert result.code == 0, (argv, result.err)
        assert "mdx_" in result.out
        ran += 1
    assert ran == 3


def test_midex_serve_starts_the_service(midex_home: Path) -> None:
    import subprocess
    import sys
    import time

    from tests.service_support import free_port

    port = free_port()
    midex = Path(sys.executable).parent / "midex"
    proc = subprocess.Popen(
        [str(midex), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "midex serve did not answer"
                time.sleep(0.5)
        assert r.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/releases").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/submissions/99999999999999999999", 422),  # beyond 64 bits
        ("GET", "/api/submissions/0", 422),
        ("GET", "/api/submissions/-5", 422),
        ("GET", "/api/submissions/9223372036854775807", 404),  # a valid id that is not there
        ("GET", "/api/submissions/99999999999999999999/report", 422),
        ("POST", "/api/submissions/99999999999999999999/retry", 422),
        ("GET", "/api/releases/99999999999999999999", 422),
        ("GET", "/api/releases/9223372036854775807", 404),
        ("GET", "/api/releases/99999999999999999999/bundle", 422),
        ("GET", "/api/tables?release=99999999999999999999", 422),
        ("GET", "/api/tables/observations?release=-1", 422),
    ],
)
def test_an_out_of_range_id_is_a_4xx_never_a_500(
    deployment: dict, method: str, path: str, expected: int
) -> None:
    client = deployment["clients"]["admin"]
    r = client.post(path, json={}) if method == "POST" else client.get(path)
    assert r.status_code == expected, r.text


@pytest.mark.fault
def test_a_format_that_is_a_path_is_refused_without_showing_one(deployment: dict) -> None:
    client = deployment["clients"]["mx"]
    for fmt in ("layout:../areas/overrides", "layout:/etc/passwd", "layout:nope"):
        r = client.post("/api/submissions", files={"file": ("x.csv", MX_FILE)},
                        data={"format": fmt})  # fmt: skip
        assert r.status_code == 400, (fmt, r.status_code, r.text)
        text = r.text
        assert str(deployment["settings"].home) not in text and "/schemas" not in text
        assert "reporting_areas" not in text  # nothing read from a file that is not a layout


def test_an_upload_retried_with_the_same_bytes_is_not_queued_twice(deployment: dict) -> None:
    """A provider on a poor connection retries an upload: the same bytes as its latest
    submission give that submission back (200, repeated), unless it asks for a new one; the
    format is left for processing to find (nothing is parsed inside the request)."""
    client = deployment["clients"]["ph"]
    body = MX_FILE.replace(b"Mexico", b"Philippines") + b"\n"
    first = client.post("/api/submissions", files={"file": ("ph-2.csv", body)})
    assert first.status_code == 202 and first.json()["format"] == "auto", first.text
    again = client.post("/api/submissions", files={"file": ("ph-2 (retry).csv", body)})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["repeated"] is True
    assert "send new=true" in again.json()["processing"]
    forced = client.post("/api/submissions", files={"file": ("ph-2.csv", body)},
                         data={"new": "true"})  # fmt: skip
    assert forced.status_code == 202 and forced.json()["id"] != first.json()["id"]
    assert forced.json()["repeated"] is False


def test_tokens_are_listed_revoked_and_failed_logins_limited(tmp_path: Path, cli) -> None:
    """`midex token list` and `revoke`: a revoked token stops working at once. Failed logins
    from one address past the limit get 429 with Retry-After; a valid token is never slowed."""
    from midex.contract.settings import Settings
    from midex.service import create_app
    from midex.service.tokens import issue_token

    settings = Settings(home=tmp_path / "home", auth_failures_per_minute=3)
    app = create_app(settings)
    catalog = app.state.ctx.catalog
    good, record = issue_token(catalog, "consumer", "a researcher")
    doomed, doomed_record = issue_token(catalog, "consumer", "a former partner")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(settings.home))
        listed = cli("token", "list", "--json").json()
        assert [(t["id"], t["name"], t["revoked_at"], t["expires_at"]) for t in listed] == [
            (record.id, "a researcher", "", ""), (doomed_record.id, "a former partner", "", "")]  # fmt: skip
        assert good not in cli("token", "list").out  # the token itself is never shown
    with serve(app) as url:

        def get(token: str) -> httpx.Response:
            return httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"})

        assert get(doomed).status_code == 200
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MIDEX_HOME", str(settings.home))
            assert cli("token", "revoke", str(doomed_record.id)).code == 0
        assert get(doomed).status_code == 401  # at once
        wrong = "mdx_" + "y" * 43
        codes = [get(wrong).status_code for _ in range(2)]  # 3 failures so far, with doomed's
        assert codes == [401, 401]
        limited = get(wrong)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "too many failed authentications" in limited.json()["detail"]
        assert get(good).status_code == 200  # a valid token from the same address still works


def test_an_expired_token_no_longer_works(tmp_path: Path, cli) -> None:
    from midex.contract.settings import Settings
    from midex.service.tokens import issue_token, verify_token
    from midex.storage.catalog import Token

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIDEX_HOME", str(tmp_path / "home"))
        made = cli("token", "add", "--role", "consumer", "--name", "a visitor", "--expires-in",
                   "30", "--json")  # fmt: skip
        assert made.code == 0, made.err
        token = made.json()["token"]
        listed = cli("token", "list", "--json").json()
        assert listed[0]["expires_at"] > datetime.now(UTC).isoformat()[:10]
        for days in ("0", "-1", "nan", "inf", "1e10"):  # each a clear refusal, no traceback
            refused = cli("token", "add", "--role", "consumer", "--name", "x", "--expires-in", days)
            assert refused.code != 0 and "positive number of days, at most 36,500" in refused.err
        for args in (("token", "revoke"), ("report",)):  # ids beyond 64 bits: usage errors
            beyond = cli(*args, str(2**64))
            assert beyond.code == 2 and "9223372036854775807" in beyond.err  # the bound
            assert "Traceback" not in beyond.err + beyond.out
        assert [t["name"] for t in cli("token", "list", "--json").json()] == ["a visitor"]
    from midex.storage.catalog import open_catalog

    catalog = open_catalog(Settings(home=tmp_path / "home").catalog_url)
    assert verify_token(catalog, token) is not None
    with catalog.session() as s:  # thirty days later
        record = s.get(Token, listed[0]["id"])
        record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(record)
        s.commit()
    assert verify_token(catalog, token) is None
    fresh, _ = issue_token(catalog, "consumer", "no expiry")
    assert verify_token(catalog, fresh) is not None


@pytest.mark.fault
def test_twenty_uploads_at_once_land_each_file_once(deployment: dict) -> None:
    """20 uploads arriving together (threads, one connection each): 17 different files of one
    provider, and one file of another provider sent three times at once (an upload retried on a
    poor connection). What the service guarantees: every upload is answered; each distinct file
    is one submission, exactly once (the three identical ones are one: the first answered 202,
    the others 200 `repeated` with its id); every file lands with the very bytes sent."""
    from concurrent.futures import ThreadPoolExecutor

    url, token = deployment["url"], deployment["tokens"]["admin"]
    ctx = deployment["ctx"]
    before = {s.id for s in ctx.catalog.submissions()}
    distinct = [MX_FILE.replace(b"2022", f"{2100 + i}".encode()) for i in range(18)]
    retried = distinct[0]
    sends = [("PH_PSA", retried)] * 3 + [("MX_INEGI", body) for body in distinct[1:]]
    assert len(sends) == 20

    def send(upload: tuple[str, bytes]) -> httpx.Response:
        provider, body = upload
        with httpx.Client(base_url=url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as c:  # fmt: skip
            return c.post("/api/submissions", files={"file": ("same-name.csv", body)},
                          data={"provider": provider})  # fmt: skip

    with ThreadPoolExecutor(20) as pool:  # bounded: each request times out after 60 s
        answers = list(pool.map(send, sends, timeout=300))
    assert all(r.status_code in (200, 202) for r in answers), [r.text for r in answers]
    retried_answers = sorted((r.status_code, r.json()["repeated"]) for r in answers[:3])
    assert retried_answers == [(200, True), (200, True), (202, False)]
    assert len({r.json()["id"] for r in answers[:3]}) == 1
    assert [(r.status_code, r.json()["repeated"]) for r in answers[3:]] == [(202, False)] * 17

    new = [s for s in ctx.catalog.submissions() if s.id not in before]
    sent = {hashlib.sha256(body).hexdigest(): body for body in distinct}
    assert sorted(s.sha256 for s in new) == sorted(sent)  # each distinct file exactly once
    assert {s.id for s in new} == {r.json()["id"] for r in answers}
    for s in new:
        assert s.provider_code == ("PH_PSA" if sent[s.sha256] == retried else "MX_INEGI")
        assert Path(s.landing_uri).read_bytes() == sent[s.sha256]  # landed unchanged


def test_a_retry_past_the_attempt_limit_is_taken_by_the_intake_dag(deployment: dict) -> None:
    """With Airflow, the retry endpoint triggers midex_intake, which skips a failed submission
    past MIDEX_MAX_ATTEMPTS: the retry must put it back where intake takes it (received)."""
    from midex.stages.runner import pending
    from midex.storage.catalog import SubmissionStatus

    ctx, mx = deployment["ctx"], deployment["clients"]["mx"]
    body = MX_FILE + b"\n"  # other bytes: a submission of its own
    r = mx.post("/api/submissions", files={"file": ("crashing.csv", body)}, data={"new": "true"})
    assert r.status_code == 202
    sid = r.json()["id"]
    for _ in range(ctx.settings.max_attempts):  # as the stage records a crash of its own
        run = ctx.catalog.start_stage(sid, "harmonise", alone=True)
        ctx.catalog.finish_stage(run, ok=False, message="the stage crashed")
    ctx.catalog.update_submission(sid, status=SubmissionStatus.failed)
    assert sid not in {s.id for s in pending(ctx)}  # not retried automatically

    r = mx.post(f"/api/submissions/{sid}/retry")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "received"
    assert sid in {s.id for s in pending(ctx)}  # the intake DAG's run takes it
    runs = [q for q in deployment["stub"].requests if q["path"].endswith("/dagRuns")]
    assert [q["body"]["conf"] for q in runs].count({"submission_id": sid}) == 2  # upload, retry


def test_failed_logins_are_counted_per_ipv4_address_and_per_ipv6_64() -> None:
    """Rotating addresses inside one IPv6 /64 (one subscriber's) does not reset the count;
    another IPv4 address, or another /64, has its own."""
    from midex.service.tokens import FailedLogins, client_key

    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7" == client_key("192.0.2.7")
    assert client_key("unknown") == "unknown"
    limiter = FailedLogins(limit=3)
    answers = [limiter.fail(f"2001:db8:1:2::{i:x}") for i in range(1, 6)]
    assert answers[:3] == [None, None, None] and all(a is not None for a in answers[3:])
    assert limiter.fail("2001:db8:1:3::1") is None and limiter.fail("192.0.2.8") is None
