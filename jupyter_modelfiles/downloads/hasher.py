"""The one thread that writes received buffers by offset and hashes the file's prefix.

Connection threads only read from their sockets: each fills one of its few reused buffers and
hands it here with :meth:`WriteHasher.submit`. This thread ``os.pwrite``\\ s the buffer, records
the bytes as written, and when the buffer continues the hashed prefix it feeds the same memory
to SHA-256 (on a second thread, while the write runs: the two take about the same time), so a
one-connection download never reads its bytes back. Bytes that land ahead of
the prefix (other connections' ranges, or a resumed partial file) are hashed later from the
page cache with ``preadv``, in the gaps between buffers. ``os.pwrite``, ``os.preadv`` and
``hashlib`` release the GIL, so this runs in parallel with the connections.

Given a second descriptor opened with ``O_DIRECT`` (a file system on a device), the aligned
part of each buffer goes to the disk straight from the buffer (buffers are page-aligned), so
the kernel neither copies it into the page cache nor writes it back later; an unaligned head
or tail (a piece's last bytes) is written through the page cache. One thread does every
write, so direct and cached writes never race on a page. If the file system refuses a direct
write (``EINVAL``, ``EOPNOTSUPP``), every later write goes through the page cache.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

CATCH_UP_CHUNK = 4 * 1024 * 1024
#: offsets and lengths of direct writes are multiples of this (any device's logical block)
DIRECT_ALIGN = 4096

#: ``record(start, end)`` marks bytes as written and returns the new contiguous prefix.
Record = Callable[[int, int], int]
#: Called once, from this thread, when a write or a read-back fails.
OnError = Callable[[OSError], None]


class _HashThread:
    """Feeds buffers to SHA-256 beside the writer: :meth:`begin` one, :meth:`wait` for it."""

    def __init__(self, sha: hashlib._Hash) -> None:
        self._sha = sha
        self._todo: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._done = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._run, name="modelfiles-hash", daemon=True)
        self._thread.start()

    def begin(self, view: memoryview) -> None:
        self._todo.put(view)

    def wait(self) -> None:
        self._done.acquire()

    def close(self) -> None:
        self._todo.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (view := self._todo.get()) is not None:
            try:
                self._sha.update(view)  # releases the GIL: runs beside the writer's pwrite
            finally:
                self._done.release()


@dataclass
class _Item:
    view: memoryview
    offset: int
    count: int
    home: queue.SimpleQueue[memoryview]


class WriteHasher:
    """Writes buffers to ``fd`` in submission order; hashes bytes ``[0, size)`` exactly once."""

    def __init__(self, fd: int, record: Record, on_error: OnError, direct_fd: int | None = None):
        self.fd = fd
        self.direct_fd = direct_fd
        self.direct_bytes = 0  # bytes written with O_DIRECT
        self.hashed = 0
        self.read_back = 0  # bytes hashed from the page cache rather than from a buffer
        self._record = record
        self._on_error = on_error
        self._prefix = 0
        self._items: deque[_Item] = deque()
        self._busy = False
        self._final = False
        self._stopped = False
        self._failed = False
        self._error: OSError | None = None
        self._sha = hashlib.sha256()
        self._hash_thread: _HashThread | None = None
        self._catch_buffer: bytearray | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="modelfiles-writer", daemon=True)

    # -- called by the engine -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def advance(self, prefix: int) -> None:
        """Bytes ``[0, prefix)`` are on disk already (a resumed download): hash them too."""
        with self._cond:
            self._prefix = max(self._prefix, prefix)
            self._cond.notify_all()

    def submit(
        self, view: memoryview, offset: int, count: int, home: queue.SimpleQueue[memoryview]
    ) -> None:
        """Write ``view[:count]`` at ``offset``, then give ``view`` back through ``home``."""
        with self._cond:
            if self._failed or self._stopped:
                home.put(view)
                return
            self._items.append(_Item(view, offset, count, home))
            self._cond.notify_all()

    def drain(self) -> None:
        """Wait until every submitted buffer is written and recorded (or dropped on failure)."""
        with self._cond:
            while (self._items or self._busy) and self._thread.is_alive():
                self._cond.wait(0.1)

    def finish(self) -> str:
        """Write what is queued, hash the prefix to its end, stop; return the hex digest."""
        with self._cond:
            self._final = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._sha.hexdigest()

    def stop(self) -> None:
        """Stop at once; buffers not yet written are dropped (they were never recorded)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            if self._hash_thread is not None:
                self._hash_thread.close()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while (
                    not self._items
                    and not self._stopped
                    and (self._failed or self.hashed >= self._prefix)
                    and not self._final
                ):
                    self._cond.wait()
                if self._stopped:
                    self._return_all()
                    return
                item = self._items.popleft() if self._items else None
                self._busy = item is not None
                if item is None and self._final and (self._failed or self.hashed >= self._prefix):
                    return
            if item is not None:
                try:
                    if not self._failed:
                        self._write(item)
                finally:
                    item.home.put(item.view)
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
            elif not self._failed:
                self._catch_up()

    def _return_all(self) -> None:
        while self._items:
            item = self._items.popleft()
            item.home.put(item.view)
        self._cond.notify_all()

    def _fail(self, exc: OSError) -> None:
        with self._cond:
            self._failed = True
            self._error = exc
            self._cond.notify_all()
        self._on_error(exc)

    def _write(self, item: _Item) -> None:
        view, offset, count = item.view[: item.count], item.offset, item.count
        hashing: _HashThread | None = None
        if offset == self.hashed:  # the buffer continues the hashed prefix
            if self._hash_thread is None:
                self._hash_thread = _HashThread(self._sha)
            hashing = self._hash_thread
            hashing.begin(view)  # hashed from memory while it is written
        done = 0
        try:
            if self.direct_fd is not None and offset % DIRECT_ALIGN == 0:
                done = self._write_direct(view[: count - count % DIRECT_ALIGN], offset)
            while done < count:
                done += os.pwrite(self.fd, view[done:], offset + done)
        except OSError as exc:
            if hashing is not None:
                hashing.wait()
            if done:
                self._set_prefix(self._record(offset, offset + done))
            self._fail(exc)  # the digest is never asked for after a failure
            return
        if hashing is not None:
            hashing.wait()
            self.hashed += count
        self._set_prefix(self._record(offset, offset + count))

    def _write_direct(self, view: memoryview, offset: int) -> int:
        """Write whole blocks of ``view`` with ``O_DIRECT``; return the bytes written."""
        assert self.direct_fd is not None
        done = 0
        while done < len(view):
            try:
                n = os.pwrite(self.direct_fd, view[done:], offset + done)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                self.direct_fd = None  # refused here: the page cache from now on
                return done
            done += n
            self.direct_bytes += n
            if n % DIRECT_ALIGN:
                return done  # a short write left the rest unaligned
        return done

    def _set_prefix(self, prefix: int) -> None:
        with self._cond:
            self._prefix = max(self._prefix, prefix)

    def _catch_up(self) -> None:
        """Hash one chunk of bytes written ahead of the prefix, back from the page cache."""
        want = min(CATCH_UP_CHUNK, self._prefix - self.hashed)
        if want <= 0:
            return
        if self._catch_buffer is None:
            self._catch_buffer = bytearray(CATCH_UP_CHUNK)
        buffer = memoryview(self._catch_buffer)[:want]
        try:
            n = os.preadv(self.fd, [buffer], self.hashed)
            if n <= 0:
                raise OSError(f"short read at byte {self.hashed} while hashing")
        except OSError as exc:
            self._fail(exc)
            return
        self._sha.update(buffer[:n])
        self.hashed += n
        self.read_back += n
