"""Write-behind for a file written front to back: the disk writes while the bytes still arrive.

Without it a large upload fills the page cache with dirty pages that the kernel writes late
(or all at once in the ``fsync`` before the file is published), and every new page of cache
costs a fresh page of memory: the last part of a 1 GiB upload slowed down and the final fsync
was long. Here, every ``WINDOW`` bytes, the writer starts the writeback of the window just
written (``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which does not wait), waits for the window
before it (written meanwhile, so the wait is short unless the disk is the bottleneck), and drops
its now clean pages (``posix_fadvise(DONTNEED)``). At most two windows are ever dirty, so the
final fsync is short. That fsync is still what makes the file durable: this only moves the
work earlier. Where ``sync_file_range`` is missing (not Linux), nothing is done here.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

__all__ = ["WINDOW", "WriteBehind"]

WINDOW = 16 << 20

_WAIT_BEFORE = 1
_WRITE = 2
_WAIT_AFTER = 4

_SyncRange = Callable[[int, int, int, int], int]


def _load_sync_file_range() -> _SyncRange | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range  # libc, already loaded
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_sync_file_range = _load_sync_file_range()


class WriteBehind:
    """Track how far a file has been written; keep its writeback a window behind."""

    def __init__(self, fd: int, window: int = WINDOW):
        self.fd = fd
        self.window = window
        self.started = 0  # bytes [0, started) have had their writeback started
        self.enabled = _sync_file_range is not None
        self._unwaited: tuple[int, int] | None = None  # the last window started

    def advance(self, size: int) -> None:
        """The file now holds ``size`` bytes: start writing a full window out if there is one."""
        if not self.enabled or size - self.started < self.window:
            return
        assert _sync_file_range is not None
        begin, self.started = self.started, size
        if _sync_file_range(self.fd, begin, size - begin, _WRITE) != 0:
            self.enabled = False  # e.g. a file system without it: the final fsync does all
            return
        previous, self._unwaited = self._unwaited, (begin, size - begin)
        if previous is None:
            return
        _sync_file_range(self.fd, *previous, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.fd, *previous, os.POSIX_FADV_DONTNEED)
