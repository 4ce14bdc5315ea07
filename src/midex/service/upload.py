"""Streaming multipart upload: the file part goes to a staging file chunk by chunk, counted
against the size limit as it arrives; nothing reaches landing or the lake unless it is whole,
within the limit and well named."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from midex.storage.landing import safe_file_name

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# The multipart body is bounded as a whole, not only its file part: the form fields (format,
# mode, provider, new) are few and short; their number, their bytes and every part's headers are
# capped, so a body of a million tiny fields or one endless header costs nothing to refuse.
MAX_FIELD_BYTES = 1024  # one form field's value
MAX_PARTS = 16  # the file and the form fields together
MAX_FORM_BYTES = 8 * 1024  # every form field's value together
# (a part's headers are bounded by python-multipart itself: a longer one is a malformed body)


class UploadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_file_name(name: str) -> str:
    """A plain file name, or a 400: no folders, no '..', no control characters."""
    if not name or not name.strip():
        raise UploadRefused(400, "the file part has no file name; send the file with its name")
    if "/" in name or "\\" in name or name.strip() in (".", "..") or ".." in name.split("."):
        raise UploadRefused(
            400, "the file name must be a plain name without folders or '..' (e.g. mexico.csv)"
        )
    if any(ord(c) < 32 for c in name) or len(name) > 255:
        raise UploadRefused(400, "the file name has control characters or is too long")
    return safe_file_name(name)


@dataclass
class ReceivedUpload:
    folder: Path
    path: Path | None = None
    file_name: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Parts:
    """The multipart parser's callbacks for one upload: the file part goes to its staging file,
    the form fields to `received.fields`, each within its limits."""

    def __init__(self, received: ReceivedUpload, max_bytes: int) -> None:
        self.received = received
        self.max_bytes = max_bytes
        self.headers: dict[str, bytes] = {}  # the current part's
        self.header_field = b""
        self.header_value = b""
        self.field: str | None = None  # the current part is this form field
        self.out: BinaryIO | None = None  # the staging file, open while the file part streams in
        self.parts = 0
        self.form_bytes = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self.headers = {}
        self.field = None
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadRefused(
                400,
                f"the upload has more than {MAX_PARTS} parts; send the file and its form "
                "fields (format, mode, provider, new) only",
            )

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        disposition = self.headers.get("content-disposition", b"")
        _, opts = parse_options_header(disposition)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            self.begin_file(opts.get(b"filename"))
        else:
            self.field = name
            self.received.fields[name] = ""

    def begin_file(self, filename: bytes | None) -> None:
        """Open the staging file of the (only) file part, under its checked name."""
        received = self.received
        if received.path is not None:
            raise UploadRefused(400, "send one file per upload")
        if filename is None:
            raise UploadRefused(400, "the part 'file' must be a file with a file name")
        received.file_name = check_file_name(filename.decode("utf-8", "replace"))
        received.path = received.folder / received.file_name
        self.out = received.path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is not None:
            self.file_data(self.out, data[start:end])
        elif self.field is not None:
            self.field_data(self.field, data[start:end])

    def file_data(self, out: BinaryIO, chunk: bytes) -> None:
        self.received.size += len(chunk)
        if self.received.size > self.max_bytes:
            raise UploadRefused(413, f"the file is larger than the limit of {self.max_bytes} bytes")
        out.write(chunk)

    def field_data(self, name: str, chunk: bytes) -> None:
        self.form_bytes += len(chunk)
        if self.form_bytes > MAX_FORM_BYTES:
            raise UploadRefused(
                413, f"the form fields are longer than {MAX_FORM_BYTES} bytes together"
            )
        value = self.received.fields[name] + chunk.decode("utf-8", "replace")
        if len(value) > MAX_FIELD_BYTES:
            raise UploadRefused(400, f"form field {name[:40]!r} is too long")
        self.received.fields[name] = value

    def on_part_end(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the staging file if a part left it open."""
        if self.out is not None:
            self.out.close()
            self.out = None


def _boundary(request: Any, max_bytes: int) -> bytes:
    """The multipart boundary; a refusal for another content type or a body declared too long."""
    content_type = request.headers.get("content-type", "")
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "send the file as multipart/form-data with a part named 'file'")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
        raise UploadRefused(413, f"the file is larger than the limit of {max_bytes} bytes")
    return boundary


def _check_whole(parts: _Parts, received: ReceivedUpload) -> None:
    """A refusal unless the body ended after one whole, non-empty file part."""
    if parts.out is not None:  # the body ended inside the file part
        raise UploadRefused(400, "the multipart body is incomplete; send the whole file")
    if received.path is None:
        raise UploadRefused(400, "no part named 'file' in the upload; attach the file as 'file'")
    if received.size == 0:
        raise UploadRefused(400, "the uploaded file is empty")


async def receive_upload(request: Any, staging: Path, max_bytes: int) -> ReceivedUpload:
    """Parse `request`'s multipart body as it streams in; the part named `file` is the file."""
    boundary = _boundary(request, max_bytes)
    staging.mkdir(parents=True, exist_ok=True)
    received = ReceivedUpload(Path(tempfile.mkdtemp(prefix="upload-", dir=staging)))
    parts = _Parts(received, max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        _check_whole(parts, received)
    except UploadRefused:
        parts.close()
        received.cleanup()
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        parts.close()
        received.cleanup()
        raise UploadRefused(
            400, "the multipart body is malformed; send the file as multipart/form-data"
        ) from exc
    return received
