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
# capped, so a body of a million tiny fields or one endless header costs nothing to refuse; and
# the bytes read from the body are counted, whatever they are (max_body_bytes), so nothing after
# the closing boundary, with or without Content-Length, is read past the cap.
MAX_FIELD_BYTES = 1024  # one form field's value
MAX_PARTS = 16  # the file and the form fields together
MAX_FORM_BYTES = 8 * 1024  # every form field's value together
# (a part's headers are bounded by python-multipart itself: a longer one is a malformed body)
MAX_OVERHEAD_BYTES = 64 * 1024  # every part's headers and boundaries, a preamble or epilogue


def max_body_bytes(max_file_bytes: int) -> int:
    """The most bytes read from an upload's body: the file, the form fields, the overhead."""
    return max_file_bytes + MAX_FORM_BYTES + MAX_OVERHEAD_BYTES


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
    """The multipart parser's callbacks: the file part is written to `received`'s folder, the
    form fields kept, every limit checked as the bytes arrive."""

    def __init__(self, received: ReceivedUpload, max_bytes: int) -> None:
        self.received = received
        self.max_bytes = max_bytes
        self.headers: dict[str, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.part: tuple[str, str] | None = None  # ("file", "") or ("field", its name)
        self.out: BinaryIO | None = None
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
        self.part = None
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
        received = self.received
        disposition = self.headers.get("content-disposition", b"")
        _, opts = parse_options_header(disposition)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if received.path is not None:
                raise UploadRefused(400, "send one file per upload")
            filename = opts.get(b"filename")
            if filename is None:
                raise UploadRefused(400, "the part 'file' must be a file with a file name")
            received.file_name = check_file_name(filename.decode("utf-8", "replace"))
            received.path = received.folder / received.file_name
            self.out = received.path.open("wb")
            self.part = ("file", "")
        else:
            self.part = ("field", name)
            received.fields[name] = ""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part is None:
            return
        kind, name = self.part
        if kind == "file":
            self.received.size += end - start
            if self.received.size > self.max_bytes:
                raise UploadRefused(
                    413, f"the file is larger than the limit of {self.max_bytes} bytes"
                )
            assert self.out is not None
            self.out.write(data[start:end])
        else:
            self.form_bytes += end - start
            if self.form_bytes > MAX_FORM_BYTES:
                raise UploadRefused(
                    413, f"the form fields are longer than {MAX_FORM_BYTES} bytes together"
                )
            value = self.received.fields[name] + data[start:end].decode("utf-8", "replace")
            if len(value) > MAX_FIELD_BYTES:
                raise UploadRefused(400, f"form field {name[:40]!r} is too long")
            self.received.fields[name] = value

    def on_part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


def _body_too_long(cap: int, max_bytes: int) -> UploadRefused:
    return UploadRefused(
        413,
        f"the upload is longer than the limit of {cap} bytes for the whole body (a file of at "
        f"most {max_bytes} bytes and its form fields); send the file and its form fields only, "
        "nothing after the closing boundary",
    )


async def receive_upload(request: Any, staging: Path, max_bytes: int) -> ReceivedUpload:
    """Parse `request`'s multipart body as it streams in; the part named `file` is the file."""
    content_type = request.headers.get("content-type", "")
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "send the file as multipart/form-data with a part named 'file'")
    cap = max_body_bytes(max_bytes)
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > cap:
        raise _body_too_long(cap, max_bytes)
    staging.mkdir(parents=True, exist_ok=True)
    received = ReceivedUpload(Path(tempfile.mkdtemp(prefix="upload-", dir=staging)))
    parts = _Parts(received, max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())
    read = 0
    try:
        # counted here, not in the parser's callbacks: bytes after the closing boundary (the
        # epilogue) reach no callback, and a chunked body has no Content-Length to check
        async for chunk in request.stream():
            read += len(chunk)
            if read > cap:
                raise _body_too_long(cap, max_bytes)
            parser.write(chunk)
        parser.finalize()
        if parts.out is not None:  # the body ended inside the file part
            raise UploadRefused(400, "the multipart body is incomplete; send the whole file")
        if received.path is None:
            raise UploadRefused(
                400, "no part named 'file' in the upload; attach the file as 'file'"
            )
        if received.size == 0:
            raise UploadRefused(400, "the uploaded file is empty")
    except UploadRefused:
        parts.on_part_end()
        received.cleanup()
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        parts.on_part_end()
        received.cleanup()
        raise UploadRefused(
            400, "the multipart body is malformed; send the file as multipart/form-data"
        ) from exc
    return received
