"""SHA-256 of the contiguous prefix of a partial file, in one thread, as the prefix grows."""

from __future__ import annotations

import hashlib
import os
import threading

CHUNK = 4 * 1024 * 1024


class PrefixHasher:
    """Hashes bytes ``[0, frontier)`` of ``fd`` while writers advance the frontier.

    Reads back from the page cache with ``preadv`` into one reused buffer; ``hashlib`` and
    ``preadv`` release the GIL, so this runs in parallel with the connections.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.hashed = 0
        self._frontier = 0
        self._final = False
        self._stopped = False
        self._error: BaseException | None = None
        self._sha = hashlib.sha256()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="modelfiles-hasher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def advance(self, frontier: int, *, final: bool = False) -> None:
        with self._cond:
            if frontier > self._frontier:
                self._frontier = frontier
            if final:
                self._final = True
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join()

    def result(self) -> str:
        """Wait for the final frontier to be hashed; return the hex digest."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._sha.hexdigest()

    def _run(self) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        try:
            while True:
                with self._cond:
                    while self.hashed >= self._frontier and not self._final and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    frontier, final = self._frontier, self._final
                while self.hashed < frontier:
                    want = min(CHUNK, frontier - self.hashed)
                    n = os.preadv(self.fd, [view[:want]], self.hashed)
                    if n <= 0:
                        raise OSError(f"short read at {self.hashed} while hashing")
                    self._sha.update(view[:n])
                    self.hashed += n
                    with self._cond:
                        if self._stopped:
                            return
                if final and self.hashed >= self._frontier:
                    return
        except BaseException as exc:
            self._error = exc
