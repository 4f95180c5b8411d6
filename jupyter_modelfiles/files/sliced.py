"""Sliced uploads: one file sent as byte slices, possibly in parallel, then completed.

``create`` names the file and its size (the size limit is checked there and again for every
slice); each slice is written with ``pwrite`` at its offset into one partial file under the
store's temp dir, so slices may arrive in any order and over separate connections; ``complete``
checks that every byte has arrived and hands the partial file to the store, which publishes it
exactly like a ``POST v1/files`` upload. Until then nothing is visible: the partial file has no
record and is deleted on cancel, on expiry (no activity for ``ttl`` seconds) and at start-up.

The SHA-256 follows the bytes as they become contiguous from the start: bytes written at the
hash frontier are hashed from memory, later ones are read back from the file when the frontier
reaches them (one thread at a time; the others never wait for the hash).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..defaults import upload_too_large
from ..errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from ..intervals import Intervals
from .direct import DirectWrites
from .names import clean_filename
from .upload import LINE_FORMATS, _is_no_space, no_space

__all__ = ["SliceWriter", "SlicedUpload", "SlicedUploads"]

READ_BACK = 4 << 20
UPLOAD_TTL = 3600.0


def _overlaps(ranges: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    for begin, stop in ranges:
        if begin < end and start < stop:
            return begin, stop
    return None


@dataclass
class SlicedUpload:
    """One upload in progress: its partial file, the byte ranges received, the running hash."""

    id: str
    filename: str
    purpose: str
    total: int
    path: Path
    fields: dict[str, str]
    mime_type: str | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))
    touched: float = field(default_factory=time.monotonic)
    status: str = "pending"  # pending, completing, completed, cancelled
    received: Intervals = field(default_factory=Intervals)
    writing: dict[int, tuple[int, int]] = field(default_factory=dict)
    sha256: Any = field(default_factory=hashlib.sha256)
    hashed_to: int = 0
    newlines: int = 0
    last_byte: bytes = b""
    count_lines: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _hash_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_slice: int = 0

    # -- the file-like face the store publishes (TempFile's) ---------------------------------
    @property
    def size(self) -> int:
        return self.total

    def num_lines(self) -> int:
        if self.total == 0:
            return 0
        return self.newlines + (0 if self.last_byte == b"\n" else 1)

    def commit(self) -> None:
        """Make the bytes durable before the file is published."""
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.fsync(fd)
        except OSError as exc:
            if _is_no_space(exc):
                raise no_space(self.path.parent, self.total, at_least=True) from None
            raise
        finally:
            os.close(fd)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    # -- state -------------------------------------------------------------------------------
    def received_bytes(self) -> int:
        with self._lock:
            return self.received.total()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            received = list(self.received.items)
        return {
            "id": self.id,
            "object": "upload",
            "filename": self.filename,
            "purpose": self.purpose,
            "bytes": self.total,
            "created_at": self.created_at,
            "status": self.status,
            "received_bytes": sum(stop - begin for begin, stop in received),
            "received": [[begin, stop] for begin, stop in received],
        }

    def _check_open(self) -> None:
        if self.status != "pending":
            raise Conflict(f"upload {self.id} is {self.status}; it takes no more slices")

    # -- slices ------------------------------------------------------------------------------
    def begin_slice(self, offset: int, length: int) -> SliceWriter:
        """Reserve ``[offset, offset + length)`` for one slice request (400 / 409 if it cannot)."""
        if offset < 0 or length < 0:
            raise InvalidRequest("a slice's offset and length must not be negative")
        end = offset + length
        if end > self.total:
            raise InvalidRequest(
                f"the slice [{offset}, {end}) ends past the upload's {self.total} bytes; "
                "the size was declared when the upload was created"
            )
        if length == 0:
            raise InvalidRequest("an empty slice carries nothing; send a Content-Length above 0")
        with self._lock:
            self._check_open()
            clash = _overlaps(self.received.items, offset, end) or _overlaps(
                list(self.writing.values()), offset, end
            )
            if clash is not None:
                raise Conflict(
                    f"the slice [{offset}, {end}) overlaps bytes [{clash[0]}, {clash[1]}) "
                    "already received or being received"
                )
            self._next_slice += 1
            key = self._next_slice
            self.writing[key] = (offset, offset)
            self.touched = time.monotonic()
        return SliceWriter(self, key, offset, length)

    def _written(self, key: int, start: int, end: int) -> None:
        """Bytes ``[start, end)`` of slice ``key`` are in the file (not merely staged)."""
        with self._lock:
            self.writing[key] = (start, end)
            self.touched = time.monotonic()

    def _end_slice(self, key: int, start: int, end: int) -> None:
        """The slice is over: the bytes it wrote count as received, its reservation ends."""
        with self._lock:
            self.writing.pop(key, None)
            if end > start:
                self.received.add(start, end)
            self.touched = time.monotonic()

    def _account(self, data: bytes, position: int) -> None:
        """Line counts (order does not matter) and the last byte of the file."""
        if self.count_lines:
            self.newlines += bytes(data).count(b"\n")
        if position + len(data) == self.total and len(data):
            self.last_byte = bytes(data[-1:])

    def advance_hash(self, data: bytes | None = None, position: int = -1) -> None:
        """Hash what is contiguous from the frontier: ``data`` (written at ``position``) from
        memory when it starts there, the rest read back from the file. Never waits."""
        if not self._hash_lock.acquire(blocking=False):
            return
        try:
            if data is not None and position == self.hashed_to:
                self.sha256.update(data)
                self.hashed_to += len(data)
            self._catch_up()
        finally:
            self._hash_lock.release()

    def _available_to(self) -> int:
        """The end of the bytes on disk contiguous from ``hashed_to``."""
        with self._lock:
            spans = sorted(
                [*self.received.items, *(s for s in self.writing.values() if s[1] > s[0])]
            )
        frontier = self.hashed_to
        for begin, stop in spans:
            if begin <= frontier < stop:
                frontier = stop
        return frontier

    def _catch_up(self) -> None:
        end = self._available_to()
        if end <= self.hashed_to:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            while self.hashed_to < end:
                chunk = os.pread(fd, min(READ_BACK, end - self.hashed_to), self.hashed_to)
                if not chunk:
                    break
                self.sha256.update(chunk)
                self.hashed_to += len(chunk)
        finally:
            os.close(fd)

    def finish_hash(self) -> str:
        """Hash the rest (every byte has arrived) and return the hex digest."""
        with self._hash_lock:
            self._catch_up()
        if self.hashed_to != self.total:  # pragma: no cover - complete() checked the ranges
            raise InvalidRequest("the upload's bytes could not all be read back")
        return str(self.sha256.hexdigest())


class SliceWriter:
    """Writes one slice's bytes at its offset, as they arrive (call from a worker thread)."""

    def __init__(self, upload: SlicedUpload, key: int, offset: int, length: int):
        self.upload = upload
        self.key = key
        self.offset = offset
        self.length = length
        self.written = 0
        self._fd = os.open(upload.path, os.O_WRONLY)
        os.lseek(self._fd, offset, os.SEEK_SET)
        direct = DirectWrites(self._fd) if offset % 4096 == 0 else None
        self._direct = direct if direct is not None and direct.enabled else None
        self._closed = False

    @property
    def flushed(self) -> int:
        """Bytes of this slice really in the file (a direct stage may hold the rest)."""
        return self.written - (self._direct.fill if self._direct is not None else 0)

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.length:
            raise PayloadTooLarge(
                f"the slice sends more than its Content-Length of {self.length} bytes"
            )
        position = self.offset + self.written
        try:
            if self._direct is not None:
                self._direct.write(data)
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
        except OSError as exc:
            if _is_no_space(exc):
                raise no_space(self.upload.path.parent, self.length - self.written) from None
            raise
        self.written += len(data)
        self.upload._account(data, position)
        self.upload._written(self.key, self.offset, self.offset + self.flushed)
        self.upload.advance_hash(data, position)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._direct is not None:
                self._direct.finish()
        finally:
            os.close(self._fd)
        self.upload._end_slice(self.key, self.offset, self.offset + self.written)
        self.upload.advance_hash()

    def finish(self) -> None:
        """The request body has ended: it must have carried the whole slice."""
        self._close()
        if self.written != self.length:
            raise InvalidRequest(
                f"the slice at offset {self.offset} ended after {self.written} of its "
                f"{self.length} bytes"
            )

    def abort(self) -> None:
        """The request broke off: what was written stays received (the upload's ``received``
        ranges tell a client what is left), the rest of the slice is free to be sent again."""
        self._close()


class SlicedUploads:
    """The uploads in progress of one store, in memory (a restart forgets them; the store
    deletes their partial files at start-up)."""

    def __init__(self, tmp_dir: Path, ttl: float = UPLOAD_TTL):
        self.tmp_dir = tmp_dir
        self.ttl = ttl
        self._uploads: dict[str, SlicedUpload] = {}
        self._lock = threading.Lock()

    def create(
        self,
        filename: str,
        size: int,
        purpose: str,
        *,
        max_bytes: int,
        mime_type: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> SlicedUpload:
        """Start an upload of ``size`` bytes: 413 over the limit, 507 if the disk cannot hold it."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidRequest("'bytes' must be the file's size: an integer >= 0")
        if size > max_bytes:
            raise PayloadTooLarge(upload_too_large(max_bytes, size))
        name = clean_filename(filename)
        path = self.tmp_dir / f"{uuid.uuid4().hex}.slices.part"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                if size and hasattr(os, "posix_fallocate"):
                    try:
                        os.posix_fallocate(fd, 0, size)
                    except OSError as exc:
                        if _is_no_space(exc):
                            raise
                        os.ftruncate(fd, size)  # a file system without fallocate
                else:
                    os.ftruncate(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:
            path.unlink(missing_ok=True)
            if _is_no_space(exc):
                raise no_space(self.tmp_dir, size) from None
            raise
        upload = SlicedUpload(
            id=f"upload-{uuid.uuid4().hex}",
            filename=name,
            purpose=purpose,
            total=size,
            path=path,
            fields={**(fields or {}), "purpose": purpose},
            mime_type=mime_type,
            count_lines=name.lower().endswith(LINE_FORMATS),
        )
        with self._lock:
            self._uploads[upload.id] = upload
        return upload

    def get(self, upload_id: str) -> SlicedUpload:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise NotFound(
                f"no upload in progress with id {upload_id[:80]!r} (it may have been completed, "
                "cancelled or expired)"
            )
        return upload

    def begin_complete(self, upload_id: str) -> SlicedUpload:
        """Check that every byte has arrived and no slice is still being written; the upload
        then takes no more slices and leaves the registry."""
        upload = self.get(upload_id)
        with upload._lock:
            upload._check_open()
            if upload.writing:
                raise Conflict(
                    f"{len(upload.writing)} slice(s) of upload {upload.id} are still being "
                    "received; complete it after they have been answered"
                )
            gaps = upload.received.missing(upload.total)
            if gaps:
                shown = ", ".join(f"[{begin}, {stop})" for begin, stop in gaps[:5])
                more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
                missing = sum(stop - begin for begin, stop in gaps)
                raise InvalidRequest(
                    f"upload {upload.id} is missing {missing} bytes: {shown}{more}; "
                    "send those slices, then complete it"
                )
            upload.status = "completing"
        with self._lock:
            self._uploads.pop(upload.id, None)
        return upload

    def cancel(self, upload_id: str) -> SlicedUpload:
        """Forget the upload and delete its partial file (slices still arriving then fail)."""
        upload = self.get(upload_id)
        with upload._lock:
            upload._check_open()
            upload.status = "cancelled"
        with self._lock:
            self._uploads.pop(upload.id, None)
        upload.discard()
        return upload

    def expire(self, now: float | None = None) -> list[str]:
        """Cancel the uploads with no activity for ``ttl`` seconds; return their ids."""
        cutoff = (time.monotonic() if now is None else now) - self.ttl
        with self._lock:
            stale = [u.id for u in self._uploads.values() if u.touched < cutoff and not u.writing]
        gone = []
        for upload_id in stale:
            try:
                self.cancel(upload_id)
            except (NotFound, Conflict):
                continue
            gone.append(upload_id)
        return gone

    def close(self) -> None:
        """Delete every partial file (the server stops)."""
        with self._lock:
            uploads, self._uploads = list(self._uploads.values()), {}
        for upload in uploads:
            upload.status = "cancelled"
            upload.discard()
