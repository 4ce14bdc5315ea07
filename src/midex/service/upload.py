"""Streaming multipart upload: the file part goes to a staging file chunk by chunk, counted
against the size limit as it arrives; nothing reaches landing or the lake unless it is whole,
within the limit and well named."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from midex.storage.landed import safe_file_name

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


async def receive_upload(request: Any, staging: Path, max_bytes: int) -> ReceivedUpload:
    """Parse `request`'s multipart body as it streams in; the part named `file` is the file."""
    content_type = request.headers.get("content-type", "")
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "send the file as multipart/form-data with a part named 'file'")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
        raise UploadRefused(413, f"the file is larger than the limit of {max_bytes} bytes")
    staging.mkdir(parents=True, exist_ok=True)
    received = ReceivedUpload(Path(tempfile.mkdtemp(prefix="upload-", dir=staging)))
    state: dict[str, Any] = {
        "headers": {}, "field": b"", "value": b"", "part": None, "out": None,
        "parts": 0, "form_bytes": 0,
    }  # fmt: skip

    def on_part_begin() -> None:
        state["headers"] = {}
        state["part"] = None
        state["parts"] += 1
        if state["parts"] > MAX_PARTS:
            raise UploadRefused(
                400,
                f"the upload has more than {MAX_PARTS} parts; send the file and its form "
                "fields (format, mode, provider, new) only",
            )

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        disposition = state["headers"].get("content-disposition", b"")
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
            state["out"] = received.path.open("wb")
            state["part"] = ("file", None)
        else:
            state["part"] = ("field", name)
            received.fields[name] = ""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        kind, name = state["part"] or (None, None)
        if kind == "file":
            received.size += end - start
            if received.size > max_bytes:
                raise UploadRefused(413, f"the file is larger than the limit of {max_bytes} bytes")
            state["out"].write(data[start:end])
        elif kind == "field":
            assert name is not None  # a field part has its name (on_headers_finished)
            state["form_bytes"] += end - start
            if state["form_bytes"] > MAX_FORM_BYTES:
                raise UploadRefused(
                    413, f"the form fields are longer than {MAX_FORM_BYTES} bytes together"
                )
            value = received.fields[name] + data[start:end].decode("utf-8", "replace")
            if len(value) > MAX_FIELD_BYTES:
                raise UploadRefused(400, f"form field {name[:40]!r} is too long")
            received.fields[name] = value

    def on_part_end() -> None:
        if state["out"] is not None:
            state["out"].close()
            state["out"] = None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if state["out"] is not None:  # the body ended inside the file part
            raise UploadRefused(400, "the multipart body is incomplete; send the whole file")
        if received.path is None:
            raise UploadRefused(
                400, "no part named 'file' in the upload; attach the file as 'file'"
            )
        if received.size == 0:
            raise UploadRefused(400, "the uploaded file is empty")
    except UploadRefused:
        if state["out"] is not None:
            state["out"].close()
        received.cleanup()
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        if state["out"] is not None:
            state["out"].close()
        received.cleanup()
        raise UploadRefused(
            400, "the multipart body is malformed; send the file as multipart/form-data"
        ) from exc
    return received
