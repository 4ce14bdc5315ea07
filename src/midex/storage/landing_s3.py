"""Landing in an S3-compatible object store (AWS S3, MinIO, …) through boto3.

Used when MIDEX_LANDING is `s3://bucket/prefix`. The layout is the folder landing's:
`<prefix>/provider=<code>/<sha256>/<name>`, written once and never changed. Large files may be
uploaded by the provider straight to the store with a presigned PUT URL under
`<prefix>/incoming/provider=<code>/<uuid>/<name>`; confirming that upload hashes the object,
copies it to its sha256 address and deletes the incoming object.

Spark never reads the landing zone: the parse stage downloads the object to a temporary file
(`download_to_temp`) and writes raw/ in the lake.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midex.contract.digest import copy_hashed, sha256_and_size
from midex.contract.errors import MidexError
from midex.storage.landed import LandedFile, safe_file_name

if TYPE_CHECKING:
    from midex.contract.settings import Settings

INCOMING = "incoming"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not url.startswith("s3://"):
            raise MidexError(f"{url!r} is not an s3:// URL")
        bucket, _, key = url[len("s3://") :].partition("/")
        if not bucket:
            raise MidexError(f"{url!r} names no bucket; write s3://bucket/prefix")
        return cls(bucket, key.strip("/"))

    def child(self, *parts: str) -> S3Location:
        return S3Location(self.bucket, "/".join(p for p in (self.key, *parts) if p))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def client(settings: Settings) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region)


def _root(settings: Settings) -> S3Location:
    if not settings.landing_s3:
        raise MidexError("MIDEX_LANDING is not an s3:// URL; object-store landing is off")
    return S3Location.parse(settings.landing_s3)


def _exists(s3: Any, loc: S3Location) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=loc.bucket, Key=loc.key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def land_file_s3(settings: Settings, source: Path, provider_code: str) -> LandedFile:
    """Upload `source` unchanged to `<prefix>/provider=<code>/<sha256>/<name>` (once)."""
    if not source.is_file():
        raise MidexError(f"{source}: no such file; check the path")
    sha, size = sha256_and_size(source)
    name = safe_file_name(source.name)
    target = _root(settings).child(f"provider={provider_code}", sha, name)
    s3 = client(settings)
    if not _exists(s3, target):
        # one PUT (or multipart for large files) makes the object appear whole or not at all
        s3.upload_file(str(source), target.bucket, target.key)
    return LandedFile(path=source, file_name=name, sha256=sha, size_bytes=size, uri=target.url)


def download_to_temp(settings: Settings, url: str) -> Path:
    """Download an s3:// object into a fresh temporary folder; the caller removes the folder."""
    from botocore.exceptions import ClientError

    loc = S3Location.parse(url)
    folder = Path(tempfile.mkdtemp(prefix="midex-landed-"))
    path = folder / safe_file_name(loc.key.rsplit("/", 1)[-1])
    try:
        client(settings).download_file(loc.bucket, loc.key, str(path))
    except ClientError as exc:
        path.unlink(missing_ok=True)
        folder.rmdir()
        raise MidexError(
            f"{url}: cannot read the landed file ({exc}); is the store reachable?"
        ) from exc
    return path


@dataclass(frozen=True)
class PresignedUpload:
    upload_id: str
    url: str
    key: str
    expires_in: int
    file_name: str


def presign_upload(
    settings: Settings, provider_code: str, file_name: str, expires_in: int = 3600
) -> PresignedUpload:
    """A URL the provider PUTs the file to directly; `confirm_upload` then lands it."""
    name = safe_file_name(file_name)
    upload_id = uuid.uuid4().hex
    loc = _root(settings).child(INCOMING, f"provider={provider_code}", upload_id, name)
    url = client(settings).generate_presigned_url(
        "put_object", Params={"Bucket": loc.bucket, "Key": loc.key}, ExpiresIn=expires_in
    )
    return PresignedUpload(upload_id, url, loc.key, expires_in, name)


def incoming_location(settings: Settings, provider_code: str, upload_id: str) -> S3Location:
    """The one object uploaded under `upload_id` for this provider (the id is opaque hex)."""
    if not upload_id.isalnum() or len(upload_id) != 32:
        raise MidexError("unknown upload id; ask for a new upload URL")
    folder = _root(settings).child(INCOMING, f"provider={provider_code}", upload_id)
    listed = client(settings).list_objects_v2(Bucket=folder.bucket, Prefix=folder.key + "/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    if len(keys) != 1:
        raise MidexError(
            f"no file was uploaded for upload {upload_id}; PUT the file to the URL first"
        )
    return S3Location(folder.bucket, keys[0])


def object_head(settings: Settings, loc: S3Location) -> tuple[int, str]:
    """An object's size and ETag (what identifies these bytes: land_incoming reads only them)."""
    head = client(settings).head_object(Bucket=loc.bucket, Key=loc.key)
    return int(head["ContentLength"]), str(head["ETag"])


class ObjectChanged(MidexError):
    """The incoming object is not the one whose size was checked (replaced, or grown)."""


def delete(settings: Settings, loc: S3Location) -> None:
    client(settings).delete_object(Bucket=loc.bucket, Key=loc.key)


def land_incoming(
    settings: Settings, loc: S3Location, provider_code: str, etag: str, max_bytes: int
) -> LandedFile:
    """Hash an uploaded incoming object, copy it to its sha256 address, delete the incoming one.
    Only the object whose size was checked is read (`etag`, from object_head) and never more
    than `max_bytes`: an object replaced or grown since raises ObjectChanged, nothing landed.

    Returns a LandedFile whose `path` is a local temporary copy (for format detection); the
    caller removes its folder."""
    from botocore.exceptions import ClientError

    s3 = client(settings)
    folder = Path(tempfile.mkdtemp(prefix="midex-landed-"))
    local = folder / safe_file_name(loc.key.rsplit("/", 1)[-1])
    changed = ObjectChanged(
        f"{loc.key.rsplit('/', 1)[-1]}: the uploaded file changed while it was confirmed (sent "
        "again, or larger than allowed); upload it again and confirm once"
    )
    try:
        body = s3.get_object(Bucket=loc.bucket, Key=loc.key, IfMatch=etag)["Body"]
        with local.open("wb") as out:
            sha, size = copy_hashed(body, out, max_bytes)  # hashed as it is read: read once
        if size > max_bytes:
            raise changed
    except ClientError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise changed from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    name = local.name
    target = _root(settings).child(f"provider={provider_code}", sha, name)
    if not _exists(s3, target):
        # the upload just read, not whatever is there now
        source = {"Bucket": loc.bucket, "Key": loc.key}
        s3.copy(source, target.bucket, target.key, ExtraArgs={"CopySourceIfMatch": etag})
    s3.delete_object(Bucket=loc.bucket, Key=loc.key)
    return LandedFile(path=local, file_name=name, sha256=sha, size_bytes=size, uri=target.url)
