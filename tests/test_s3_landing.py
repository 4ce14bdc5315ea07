"""Landing in an S3-compatible store: moto's server on 127.0.0.1 speaks the real S3 protocol over
HTTP (it does not check signatures, so nothing here relies on authorization). Covers submit →
object, parse reading an s3:// landed file, and the service's presigned upload + confirm."""

from __future__ import annotations

import hashlib
import os
import shutil

import httpx
import pytest

from tests.conftest import DEMO
from tests.service_support import free_port, serve

BUCKET = "midex-landing"
MX_FILE = (DEMO / "mx_banxico_inegi_2018_2022.csv").read_bytes()


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}  # fmt: skip
    # moto accepts any credentials; these only keep boto3 from looking for real ones
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path):
    from midex.contract.settings import Settings

    prefix = f"landing-{tmp_path.name}"
    return Settings(home=tmp_path / "home", landing=f"s3://{BUCKET}/{prefix}/", s3_endpoint_url=s3_endpoint)  # fmt: skip


def _objects(settings, prefix: str = "") -> dict[str, bytes]:
    from midex.storage.landing_s3 import S3Location, client

    root = S3Location.parse(settings.landing_s3)
    s3 = client(settings)
    listed = s3.list_objects_v2(Bucket=root.bucket, Prefix=f"{root.key}/{prefix}")
    return {
        o["Key"][len(root.key) + 1 :]: s3.get_object(Bucket=root.bucket, Key=o["Key"])[
            "Body"
        ].read()
        for o in listed.get("Contents", [])
    }


def _ctx(settings):
    from midex.stages import Context, init
    from midex.storage.catalog import ProviderKind

    ctx = Context.open(settings)
    init(ctx)
    ctx.catalog.add_provider("MX_INEGI", "INEGI", ProviderKind.national, ["MEX"])
    return ctx


def test_settings_split_an_s3_landing(s3_settings) -> None:
    assert s3_settings.landing_s3.startswith(f"s3://{BUCKET}/landing-")
    assert not s3_settings.landing_s3.endswith("/")
    assert s3_settings.landing == s3_settings.home / "landing"  # local staging only


def test_submit_lands_the_bytes_unchanged_and_parse_reads_them(s3_settings, tmp_path) -> None:
    from midex.stages import parse_stage, submit

    ctx = _ctx(s3_settings)
    source = tmp_path / "mexico 2022.csv"
    source.write_bytes(MX_FILE)
    sub = submit(ctx, source, "MX_INEGI")
    sha = hashlib.sha256(MX_FILE).hexdigest()
    key = f"provider=MX_INEGI/{sha}/mexico_2022.csv"
    assert sub.landing_uri == f"{s3_settings.landing_s3}/{key}"
    assert _objects(s3_settings) == {key: MX_FILE}
    assert not any(s3_settings.landing.iterdir())  # nothing landed in the folder
    again = submit(ctx, source, "MX_INEGI")  # the same bytes: the same object, once
    assert again.landing_uri == sub.landing_uri and len(_objects(s3_settings)) == 1
    parsed = parse_stage(ctx, sub.id)
    assert parsed.status == "parsed" and parsed.rows_raw == MX_FILE.count(b"\n") - 1
    import pyarrow.parquet as pq

    raw = pq.read_table(ctx.lake.submission_dir("raw", sub.id))
    assert raw.column("REF_AREA").to_pylist()[0] == "Mexico"
    assert raw.column("SOURCE_ROW").to_pylist()[0] == 2  # the header is row 1


def test_parse_of_a_missing_object_rejects_with_a_clear_message(s3_settings, tmp_path) -> None:
    from midex.stages import parse_stage, submit
    from midex.storage.landing_s3 import S3Location, client

    ctx = _ctx(s3_settings)
    source = tmp_path / "gone.csv"
    source.write_bytes(MX_FILE.replace(b"Mexico", b"MEX"))
    sub = submit(ctx, source, "MX_INEGI")
    loc = S3Location.parse(sub.landing_uri)
    client(s3_settings).delete_object(Bucket=loc.bucket, Key=loc.key)
    out = parse_stage(ctx, sub.id)
    assert out.status == "rejected" and "cannot read the landed file" in out.error


@pytest.fixture
def service(s3_settings):
    from midex.service import create_app
    from midex.service.processing import Processor
    from midex.service.tokens import issue_token

    app = create_app(s3_settings.model_copy(update={"upload_max_bytes": 2000}), processor=Processor())  # fmt: skip
    ctx = app.state.ctx
    from midex.storage.catalog import ProviderKind

    ctx.catalog.add_provider("MX_INEGI", "INEGI", ProviderKind.national, ["MEX"])
    ctx.catalog.add_provider("PH_PSA", "PSA", ProviderKind.national, ["PHL"])
    token = issue_token(ctx.catalog, "provider", "MX_INEGI", "MX_INEGI")[0]
    other = issue_token(ctx.catalog, "provider", "PH_PSA", "PH_PSA")[0]
    auth = {"Authorization": f"Bearer {token}"}
    with (
        serve(app) as url,
        httpx.Client(base_url=url, headers=auth) as c,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {other}"}) as o,
    ):
        yield {"client": c, "other": o, "ctx": ctx, "settings": s3_settings}


def test_presigned_upload_then_confirm_registers_the_submission(service) -> None:
    from midex.stages import parse_stage

    c, ctx, settings = service["client"], service["ctx"], service["settings"]
    up = c.post("/api/uploads", json={"file_name": "mexico.csv"})
    assert up.status_code == 201, up.text
    up = up.json()
    assert up["method"] == "PUT" and up["url"].startswith("http://127.0.0.1:")
    put = httpx.put(up["url"], content=MX_FILE)  # straight to the store, not through midex
    assert put.status_code == 200
    r = c.post(up["confirm"], json={"format": "auto"})
    assert r.status_code == 202, r.text
    sub = ctx.catalog.submission(r.json()["id"])
    sha = hashlib.sha256(MX_FILE).hexdigest()
    # the format is found by the parse stage, not while the provider waits for an answer
    assert sub.sha256 == sha and sub.format == "auto" and sub.provider_code == "MX_INEGI"
    assert _objects(settings) == {f"provider=MX_INEGI/{sha}/mexico.csv": MX_FILE}  # incoming gone
    assert parse_stage(ctx, sub.id).status == "parsed"
    assert ctx.catalog.submission(sub.id).format == "template"
    # confirming twice finds nothing left to confirm
    again = c.post(up["confirm"], json={})
    assert again.status_code == 400 and "no file was uploaded" in again.json()["detail"]


def test_presigned_upload_is_per_provider_and_size_checked(service) -> None:
    c, other, settings = service["client"], service["other"], service["settings"]
    up = c.post("/api/uploads", json={"file_name": "big.csv"}).json()
    assert httpx.put(up["url"], content=b"z" * 3000).status_code == 200
    # another provider cannot confirm (or even see) this upload
    stolen = other.post(up["confirm"], json={})
    assert stolen.status_code == 400 and "no file was uploaded" in stolen.json()["detail"]
    r = c.post(up["confirm"], json={})
    assert r.status_code == 413 and "2000 bytes" in r.json()["detail"]
    assert _objects(settings) == {}  # the oversized object is deleted, nothing landed
    bad = c.post("/api/uploads", json={"file_name": "../../x.csv"})
    assert bad.status_code == 400
    forged = c.post("/api/uploads/../../etc/confirm", json={})
    assert forged.status_code == 404
    assert c.post("/api/uploads/" + "z" * 32 + "/confirm", json={}).status_code == 400


def test_upload_through_the_api_lands_in_s3_and_ready_checks_the_bucket(service) -> None:
    c, settings = service["client"], service["settings"]
    r = c.post("/api/submissions", files={"file": ("mx.csv", MX_FILE[:1500])})
    assert r.status_code == 202, r.text
    assert list(_objects(settings).values()) == [MX_FILE[:1500]]
    assert c.get("/ready").json()["landing"] == "ok"


def test_confirm_lands_only_the_object_whose_size_was_checked(s3_settings) -> None:
    """Between the size check (HEAD) and the download, the incoming object may be replaced by a
    bigger one: only the checked bytes (their ETag) are read, never more than the limit, and
    nothing is landed when they are gone."""
    from midex.storage.landing_s3 import (
        INCOMING,
        ObjectChanged,
        _root,
        client,
        land_incoming,
        object_head,
    )

    s3 = client(s3_settings)
    loc = _root(s3_settings).child(INCOMING, "provider=MX_INEGI", "a" * 32, "mx.csv")
    s3.put_object(Bucket=loc.bucket, Key=loc.key, Body=MX_FILE)
    size, etag = object_head(s3_settings, loc)
    assert size == len(MX_FILE)
    s3.put_object(Bucket=loc.bucket, Key=loc.key, Body=MX_FILE + b"z" * 5000)  # swapped
    with pytest.raises(ObjectChanged, match=r"mx\.csv: the uploaded file changed"):
        land_incoming(s3_settings, loc, "MX_INEGI", etag, max_bytes=2000)
    _, etag = object_head(s3_settings, loc)
    with pytest.raises(ObjectChanged):  # its own ETag, but past the limit: read no further
        land_incoming(s3_settings, loc, "MX_INEGI", etag, max_bytes=2000)
    assert set(_objects(s3_settings)) == {f"{INCOMING}/provider=MX_INEGI/{'a' * 32}/mx.csv"}
    s3.put_object(Bucket=loc.bucket, Key=loc.key, Body=MX_FILE)
    _, etag = object_head(s3_settings, loc)
    landed = land_incoming(s3_settings, loc, "MX_INEGI", etag, max_bytes=2000)
    assert landed.path.read_bytes() == MX_FILE and landed.size_bytes == len(MX_FILE)
    shutil.rmtree(landed.path.parent)
    sha = hashlib.sha256(MX_FILE).hexdigest()
    assert _objects(s3_settings) == {f"provider=MX_INEGI/{sha}/mx.csv": MX_FILE}
