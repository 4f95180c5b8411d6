"""A streamed multipart upload: parsed, written and hashed off the event loop.

The handler hands raw body bytes to :meth:`MultipartUpload.feed` on a worker thread; the file
part goes straight to a temp file (never the whole body in memory) while its SHA-256, size and
line count are computed; the size limit is enforced as the bytes arrive.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from email.message import Message
from pathlib import Path

from ..defaults import upload_too_large
from ..errors import InsufficientStorage, InvalidRequest, PayloadTooLarge
from ..formatting import human_bytes
from .direct import DirectWrites
from .multipart import MultipartError, PartHeaders, StreamingMultipartParser
from .names import clean_filename
from .writeback import WriteBehind

MAX_FIELD_BYTES = 64 * 1024
FILE_FIELD = "file"
#: Files whose lines are counted (``num_lines``); other uploads skip the count (0.4 CPU-s a GiB).
LINE_FORMATS = (".jsonl", ".json", ".txt", ".csv", ".tsv", ".md")


def no_space(directory: Path, needed: int, *, at_least: bool = False) -> InsufficientStorage:
    """The 507 of an upload that does not fit: how much it needs and how much is free."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        free = 0
    need = f"{'at least ' if at_least else ''}{human_bytes(needed)} ({needed} bytes)"
    return InsufficientStorage(
        f"not enough disk space for the upload: it needs {need}, "
        f"{human_bytes(free)} ({free} bytes) free in {directory}; free some space and try again"
    )


def _is_no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class TempFile:
    """A temp file receiving bytes, hashing and counting lines as it grows.

    Its bytes go to the disk by direct writes (:class:`DirectWrites`, no page cache) where the
    file system allows, else its writeback follows the writes a window behind
    (:class:`WriteBehind`); either way the fsync of :meth:`commit` has little left to write.
    """

    def __init__(self, path: Path, *, count_lines: bool = True, direct: bool = True):
        self.path = path
        self.count_lines = count_lines
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.newlines = 0
        self.last_byte = b""
        self._direct = DirectWrites(self._fd) if direct else None
        if self._direct is not None and not self._direct.enabled:
            self._direct = None
        self._behind = WriteBehind(self._fd)
        self._behind.enabled = self._behind.enabled and self._direct is None

    def write(self, data: bytes, expected: int | None = None) -> None:
        view = memoryview(data)
        try:
            if self._direct is not None:
                self._direct.write(data)
                view = view[len(view) :]
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            if not _is_no_space(exc):
                raise
            written = self.size + len(data) - len(view)
            if self._direct is not None:  # the stage that failed held earlier bytes too
                written = self.size - self._direct.fill
            if expected is not None and expected > written:
                raise no_space(self.path.parent, expected - written) from None
            raise no_space(self.path.parent, len(view) or len(data), at_least=True) from None
        self.sha256.update(data)
        if self.count_lines:
            self.newlines += data.count(b"\n")
        if data:
            self.last_byte = data[-1:]
        self.size += len(data)
        self._behind.advance(self.size)

    def num_lines(self) -> int:
        assert self.count_lines, "the lines of this file were not counted"
        if self.size == 0:
            return 0
        return self.newlines + (0 if self.last_byte == b"\n" else 1)

    def end_writes(self) -> None:
        """Write what is still staged, so that the file on disk holds every byte."""
        if self._direct is not None:
            try:
                self._direct.finish()
            except OSError as exc:
                if _is_no_space(exc):
                    raise no_space(self.path.parent, self._direct.fill, at_least=True) from None
                raise

    def commit(self) -> None:
        """Flush to disk before the file is published (the durability guarantee)."""
        try:
            self.end_writes()
            os.fsync(self._fd)
        except OSError as exc:
            if _is_no_space(exc):
                raise no_space(self.path.parent, self.size, at_least=True) from None
            raise
        os.close(self._fd)
        self._fd = -1

    def discard(self) -> None:
        if self._direct is not None:
            self._direct.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class MultipartUpload:
    """Incremental parser of one ``multipart/form-data`` upload request."""

    def __init__(
        self,
        content_type: str,
        temp_path: Path,
        max_file_bytes: int,
        *,
        expected_bytes: int | None = None,
    ):
        header = Message()
        header["Content-Type"] = content_type or "text/plain"
        if header.get_content_type() != "multipart/form-data":
            raise InvalidRequest(
                "uploads must be multipart/form-data with a 'file' part (and optionally 'purpose')"
            )
        raw_boundary = header.get_param("boundary")
        boundary = (
            raw_boundary.encode("latin-1", "replace") if isinstance(raw_boundary, str) else b""
        )
        if not boundary:
            raise InvalidRequest("multipart/form-data request without a boundary")
        self.max_file_bytes = max_file_bytes
        self.temp_path = temp_path
        self.expected_bytes = expected_bytes  # the declared body size, when there is one
        if expected_bytes is not None:
            try:
                free = shutil.disk_usage(temp_path.parent).free
            except OSError:
                free = None
            if free is not None and expected_bytes > free:
                raise no_space(temp_path.parent, expected_bytes)
        self.file: TempFile | None = None
        self.filename: str | None = None
        self.file_content_type: str | None = None
        self.fields: dict[str, str] = {}
        self._part: PartHeaders | None = None
        self._part_is_file = False
        self._part_buffer = bytearray()
        try:
            self._parser = StreamingMultipartParser(
                boundary, self._on_part_begin, self._on_part_data, self._on_part_end
            )
        except MultipartError as exc:
            raise InvalidRequest(str(exc)) from None

    @property
    def complete(self) -> bool:
        return self._parser.complete

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except MultipartError as exc:
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
    def _on_part_begin(self, headers: PartHeaders) -> None:
        self._part = headers
        self._part_buffer = bytearray()
        self._part_is_file = headers.name == FILE_FIELD
        if self._part_is_file:
            if self.file is not None:
                raise InvalidRequest("the multipart body has more than one 'file' part")
            self.filename = clean_filename(headers.filename)
            self.file_content_type = headers.content_type
            try:
                self.file = TempFile(
                    self.temp_path, count_lines=self.filename.lower().endswith(LINE_FORMATS)
                )
            except OSError as exc:
                if not _is_no_space(exc):
                    raise
                raise no_space(self.temp_path.parent, self.expected_bytes or 1) from None

    def _on_part_data(self, data: bytes) -> None:
        if self._part_is_file:
            assert self.file is not None
            if self.file.size + len(data) > self.max_file_bytes:
                raise PayloadTooLarge(upload_too_large(self.max_file_bytes))
            self.file.write(data, self.expected_bytes)
            return
        if len(self._part_buffer) + len(data) > MAX_FIELD_BYTES:
            name = self._part.name if self._part else "?"
            raise InvalidRequest(f"form field {name[:64]!r} is larger than 64 KiB")
        self._part_buffer += data

    def _on_part_end(self) -> None:
        if self._part_is_file and self.file is not None:
            self.file.end_writes()  # the file is read (lines, requests) before its commit
        if not self._part_is_file and self._part is not None and self._part.name:
            try:
                self.fields[self._part.name] = self._part_buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"form field {self._part.name[:64]!r} is not UTF-8") from None
