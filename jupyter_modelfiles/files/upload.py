"""A streamed multipart upload: parsed, written and hashed off the event loop.

The handler hands raw body bytes to :meth:`MultipartUpload.feed` on a worker thread; the file
part goes straight to a temp file (never the whole body in memory) while its SHA-256, size and
line count are computed; the size limit is enforced as the bytes arrive.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import InvalidRequest, PayloadTooLarge
from .names import clean_filename

MAX_FIELD_BYTES = 64 * 1024
FILE_FIELD = "file"


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


class TempFile:
    """A temp file receiving bytes, hashing and counting lines as it grows."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.newlines = 0
        self.last_byte = b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.sha256.update(data)
        self.newlines += data.count(b"\n")
        if data:
            self.last_byte = data[-1:]
        self.size += len(data)

    def num_lines(self) -> int:
        if self.size == 0:
            return 0
        return self.newlines + (0 if self.last_byte == b"\n" else 1)

    def commit(self) -> None:
        """Flush to disk before the file is published."""
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class MultipartUpload:
    """Incremental parser of one ``multipart/form-data`` upload request."""

    def __init__(self, content_type: str, temp_path: Path, max_file_bytes: int):
        mime, params = parse_options_header(content_type or "")
        if mime != b"multipart/form-data":
            raise InvalidRequest(
                "uploads must be multipart/form-data with a 'file' part (and optionally 'purpose')"
            )
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidRequest("multipart/form-data request without a boundary")
        self.max_file_bytes = max_file_bytes
        self.temp_path = temp_path
        self.file: TempFile | None = None
        self.filename: str | None = None
        self.file_content_type: str | None = None
        self.fields: dict[str, str] = {}
        self.complete = False
        self._part_name: str | None = None
        self._part_is_file = False
        self._part_buffer = bytearray()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        callbacks: dict[str, Any] = {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_end": self._on_end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except (InvalidRequest, PayloadTooLarge):
            raise
        except Exception as exc:  # the parser's own errors: malformed body
            raise InvalidRequest(f"malformed multipart body: {exc}") from None

    def finish(self) -> None:
        """Called when the body is complete; raises if it was cut short."""
        if not self.complete:
            raise InvalidRequest(
                "the multipart body is truncated (no closing boundary); the upload was discarded"
            )
        if self.file is None:
            raise InvalidRequest("the multipart body has no 'file' part")

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()

    # -- parser callbacks ----------------------------------------------------------------
    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part_name = None
        self._part_is_file = False
        self._part_buffer = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _on_headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition", b"")
        _, params = parse_options_header(disposition)
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._part_name = name
        raw_filename = params.get(b"filename")
        if name == FILE_FIELD:
            if self.file is not None:
                raise InvalidRequest("the multipart body has more than one 'file' part")
            self._part_is_file = True
            self.filename = clean_filename(
                raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
            )
            ctype = self._headers.get("content-type")
            self.file_content_type = ctype.decode("latin-1").strip() if ctype else None
            self.file = TempFile(self.temp_path)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part_is_file:
            assert self.file is not None
            if self.file.size + (end - start) > self.max_file_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than the limit of {_human(self.max_file_bytes)} "
                    f"({self.max_file_bytes} bytes); ask an admin to raise "
                    "ModelFilesApp.max_upload_size"
                )
            self.file.write(data[start:end])
            return
        if len(self._part_buffer) + (end - start) > MAX_FIELD_BYTES:
            raise InvalidRequest(f"form field {self._part_name!r} is larger than 64 KiB")
        self._part_buffer += data[start:end]

    def _on_part_end(self) -> None:
        if not self._part_is_file and self._part_name:
            try:
                self.fields[self._part_name] = self._part_buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"form field {self._part_name!r} is not UTF-8") from None

    def _on_end(self) -> None:
        self.complete = True
