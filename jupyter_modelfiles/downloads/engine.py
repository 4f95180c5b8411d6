"""The download engine for ONE file: probe, ranged connections, journal, hash, verify, publish.

Blocking and thread based on purpose: it runs off the Jupyter server's event loop (the job
manager runs :meth:`FileDownload.run` in a worker process, see :mod:`.runner`). Each
connection thread only reads from its socket into a few reused buffers and hands each full
buffer to ONE writer thread (:class:`~.hasher.WriteHasher`), which writes it by offset
(``os.pwrite``; on a device's file system the aligned bytes with ``O_DIRECT``, skipping the
page cache) and hashes the contiguous prefix from the same memory; the coordinating thread
fsyncs data, then writes the journal, then reports durable progress, every
``commit_interval`` seconds and whenever ``commit_bytes`` more were written (so a crash
loses little at any speed).

A ranged download asks for bounded pieces (:class:`~.pieces.Scheduler`), one request per
piece, the next piece on the same keep-alive connection; pieces shrink toward the end of the
file so every connection shares the tail. A request is never cut short in normal operation,
so the origin serves each byte once. With ``split_below`` set, a ranged download starts
with one connection and opens the others only when that one is slower than ``split_below``
and spent most of that time waiting for the origin (splitting pays against origins that limit
each connection, not on a fast link, nor where this side's CPU, disk or rate limit is the
limit); otherwise the rest of the file goes in one request.
See DESIGN.md, "The download engine", for the ten rules.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..filesystems import in_memory
from ..intervals import Intervals
from . import journal as journal_mod
from .destinations import DestinationPolicy, DestinationRefused
from .hasher import WriteHasher
from .http import Connection, HTTPClientError, Response, drain, headers_for
from .journal import JournalState, fsync_dir
from .pieces import MAX_PIECE, MIN_PIECE, Piece, Scheduler

MiB = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
#: ``split_below`` for the standalone CLI: one connection unless it is slower than this
#: (about 0.8 Gbit/s); then the engine opens the others.
DEFAULT_SPLIT_BELOW = 100 * MiB


@dataclass
class EngineConfig:
    """Tunables; the defaults follow aria2 and huggingface_hub."""

    connections: int = 4
    min_piece: int = MIN_PIECE  # the smallest range request (the tail's pieces)
    max_piece: int = MAX_PIECE  # the largest range request while several connections share
    buffer_size: int = MiB
    lone_buffer_size: int = 4 * MiB  # a lone connection found fast: fewer, larger (direct)
    # writes: 0.9-1.2 CPU-s/GiB on this machine's disk, 1.1-1.5 with 1 MiB buffers
    fast_alone: int = 64 * MiB  # bytes/s that count as fast (a 4 MiB buffer then fills in
    # 1/16 s: progress and the journal still move several times a second)
    fast_after: float = 0.25  # seconds of a lone connection measured before it may count as
    # fast (at 900 MiB/s a 1 GiB file is mostly done by ``split_after``)
    buffers_per_connection: int = 2  # one filling from the socket while one is being written
    split_below: int | None = None  # bytes/s: start with 1 connection, add the rest if slower
    split_after: float = 1.0  # seconds of one connection measured before deciding to split
    split_held_below: float = 0.5  # ... and only if it waited on this side (for a free buffer,
    # the rate limit) less than this share of those seconds: measured 0.01-0.02 against an
    # origin throttled per connection, 0.5-0.97 when CPU, disk or the rate limit held it up
    stall_timeout: float = 30.0
    min_speed: int = 1024  # bytes/s averaged over a stall window; slower is a stall (trickle)
    max_attempts: int = 8  # consecutive failed attempts of one range before the file fails
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0
    max_restarts: int = 3
    max_reresolves: int = 10
    commit_interval: float = 0.5
    commit_bytes: int = MIN_PIECE  # also commit once this many bytes were written since the last
    direct_writes: bool = True  # O_DIRECT for aligned writes on a device's file system
    rate_limit: int | None = None  # bytes/s for the whole file, None = unlimited
    give_up_after: float = 180.0  # seconds without a byte of data (all retries included)
    policy: DestinationPolicy | None = None  # where connections may go (None: anywhere)


@dataclass
class ProbeResult:
    final_url: str
    size: int | None
    ranges: bool
    etag: str | None
    last_modified: str | None
    content_type: str


@dataclass
class DownloadResult:
    path: Path
    size: int
    sha256: str


class DownloadError(Exception):
    """The file failed for good; ``message`` says why in words a user can act on."""

    def __init__(self, message: str, *, no_space: bool = False):
        super().__init__(message)
        self.message = message
        self.no_space = no_space


class Stopped(Exception):
    """The download was stopped from outside (``pause``, ``cancel``, ``close``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class _Restart(Exception):
    def __init__(self, message: str, *, no_ranges: bool = False):
        super().__init__(message)
        self.message = message
        self.no_ranges = no_ranges


class _RateLimiter:
    """A token bucket shared by the connections of one file."""

    def __init__(self, rate: int):
        self.rate = float(rate)
        self._lock = threading.Lock()
        self._allowance = 0.0
        self._last = time.monotonic()

    def consume(self, n: int, halt: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            self._allowance = min(self.rate, self._allowance + (now - self._last) * self.rate)
            self._last = now
            self._allowance -= n
            debt = -self._allowance
        if debt > 0:
            halt.wait(debt / self.rate)


ProgressCallback = Callable[[int, "int | None"], None]


def _retry_after(response: Response) -> float | None:
    value = response.header("retry-after").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _open_direct(path: Path) -> int | None:
    """A second descriptor on ``path`` with ``O_DIRECT``, or None where that is refused."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:
        return None


def _strong_etag(value: str) -> str | None:
    value = value.strip()
    if not value or value.startswith("W/"):
        return None
    return value


def _is_html(response: Response, url: str) -> bool:
    kind = response.header("content-type").split(";")[0].strip().lower()
    path = urlsplit(url).path.lower()
    return kind in ("text/html", "application/xhtml+xml") and not path.endswith((".html", ".htm"))


def _encoded(response: Response) -> bool:
    return response.header("content-encoding").strip().lower() not in ("", "identity")


class FileDownload:
    """Download ``url`` to ``dest`` through ``partial`` + ``journal``; call :meth:`run`."""

    def __init__(
        self,
        url: str,
        dest: Path,
        partial: Path,
        journal: Path,
        *,
        sha256: str | None = None,
        size: int | None = None,
        headers: dict[str, str] | None = None,
        config: EngineConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ):
        self.url = url
        self.dest = Path(dest)
        self.partial = Path(partial)
        self.journal = Path(journal)
        self.expected_sha256 = sha256.lower() if sha256 else None
        self.expected_size = size
        self.headers = {k: v for k, v in (headers or {}).items() if k.lower() != "range"}
        self.config = config or EngineConfig()
        self.on_progress = on_progress
        self.size: int | None = None
        self.durable = 0
        self.read_back = 0  # bytes the last attempt hashed back from the page cache
        self.direct_bytes = 0  # bytes the last attempt wrote with O_DIRECT
        self._halt = threading.Event()
        self._stop_reason: str | None = None
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._conns: set[Connection] = set()
        self._written = Intervals()
        self._recorded = 0  # bytes recorded as written by this run (the commit trigger)
        self._recorded_at_commit = 0
        self._wake = threading.Event()  # commit now: enough bytes, or a connection ended
        self._final_url = url
        self._probe: ProbeResult | None = None
        self._resolve_lock = threading.Lock()
        self._reresolves = 0
        self._force_single = False
        self._resumable = False  # ranged with a known size: the partial file can be resumed
        self._last_data = time.monotonic()  # when a byte last arrived (the give-up timer)
        self._last_problem = "the origin sends no data"
        self._fd = -1
        self._direct_fd: int | None = None
        self._bigger_buffers = 0  # set once one connection alone proves fast
        self._sampling = False  # before the split decision: measure what holds the bytes up
        self._held_here = 0.0  # seconds the first connection waited on this side (see below)
        self.held_here = 0.0  # ... as a share of the seconds before the split decision
        self.split_decision = ""  # with split_below: "split", "fast" or "held here"
        self.largest_buffer = 0  # the largest buffer a connection read into
        self._writer: WriteHasher | None = None
        self._limiter = _RateLimiter(self.config.rate_limit) if self.config.rate_limit else None

    # -- control from other threads ---------------------------------------------------------
    def stop(self, reason: str = "pause") -> None:
        """Stop all connections soon; :meth:`run` then raises :class:`Stopped`."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._halt.set()
        self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
        self._halt.set()
        self._close_all()

    def _check_stopped(self) -> None:
        if self._stop_reason is not None:
            raise Stopped(self._stop_reason)

    # -- the whole file -------------------------------------------------------------------
    def run(self) -> DownloadResult:
        """Download, verify and publish; raise DownloadError or Stopped otherwise."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._last_data = time.monotonic()
        restarts = 0
        while True:
            self._check_stopped()
            probe = self._probe_with_retries()
            if None not in (self.expected_size, probe.size) and probe.size != self.expected_size:
                raise DownloadError(
                    f"size mismatch: expected {self.expected_size} bytes, "
                    f"the origin serves {probe.size}"
                )
            if probe.size == 0:
                raise DownloadError("the origin serves an empty file; nothing was published")
            try:
                return self._download(probe)
            except DownloadError as exc:
                if exc.no_space:
                    raise self._out_of_space(exc) from None
                raise
            except _Restart as restart:
                restarts += 1
                if restart.no_ranges:
                    self._force_single = True
                journal_mod.remove(self.journal)
                self._remove_partial()
                if restarts > self.config.max_restarts:
                    raise DownloadError(
                        f"{restart.message}; gave up after {self.config.max_restarts} restarts"
                    ) from None
                self._halt.wait(self._delay(restarts, None))
                self._check_stopped()
                self._failure = None
                self._halt.clear()

    def _remove_partial(self) -> None:
        try:
            self.partial.unlink()
        except FileNotFoundError:
            pass

    def _out_of_space(self, exc: DownloadError) -> DownloadError:
        """The disk is full: free the partial file unless the download can resume from it."""
        if self._resumable and self.durable > 0 and self.partial.exists():
            return DownloadError(
                f"{exc.message}; the partial file ({self.durable} bytes done) was kept so the "
                "download can resume once space is freed (cancel the job to delete it)",
                no_space=True,
            )
        journal_mod.remove(self.journal)
        self._remove_partial()
        return DownloadError(
            f"{exc.message}; the partial file was deleted to free the space", no_space=True
        )

    # -- probe --------------------------------------------------------------------------
    def probe(self) -> ProbeResult:
        """Only the probe (final URL, size, ETag), with retries; team mode keys files by it."""
        return self._probe_with_retries()

    def _probe_with_retries(self) -> ProbeResult:
        failures = 0
        while True:
            self._check_stopped()
            try:
                probe = self._probe_once(self.url)
                self._probe = probe
                self._final_url = probe.final_url
                return probe
            except _Retry as retry:
                failures += 1
                if failures >= self.config.max_attempts:
                    raise DownloadError(
                        f"{retry.message} (gave up after {failures} attempts)"
                    ) from None
                self._give_up_if_silent(retry.message)
                self._halt.wait(min(self._delay(failures, retry.retry_after), self._silence_left()))
                self._give_up_if_silent(retry.message)

    def _silence_left(self) -> float:
        return max(0.0, self.config.give_up_after - (time.monotonic() - self._last_data))

    def _give_up_if_silent(self, why: str) -> None:
        """No byte of data for ``give_up_after`` seconds: the file fails, with the last cause."""
        if self._silence_left() <= 0:
            raise DownloadError(
                f"{why}; gave up after {self.config.give_up_after:g} s without receiving data "
                "(ModelFilesApp.download_give_up_after)"
            )

    def _probe_once(self, url: str) -> ProbeResult:
        timeout = max(0.1, min(self.config.stall_timeout, self._silence_left()))
        conn = Connection(timeout, self.config.policy)
        with self._lock:
            self._conns.add(conn)
        headers = {**self.headers, "Range": "bytes=0-0", "Accept-Encoding": "identity"}
        try:
            response, final = conn.request_following("GET", url, headers)
        except DestinationRefused as exc:
            raise DownloadError(exc.message) from None
        except (HTTPClientError, OSError) as exc:
            self._check_stopped()
            raise _Retry(f"cannot reach the origin: {exc or type(exc).__name__}") from None
        finally:
            with self._lock:
                self._conns.discard(conn)
        try:
            status = response.status
            if status in _RETRYABLE_STATUS:
                raise _Retry(
                    f"the origin answered HTTP {status} {response.reason}", _retry_after(response)
                )
            if status == 416:
                match = re.match(r"^bytes\s+\*/(\d+)$", response.header("content-range").strip())
                if match and int(match.group(1)) == 0:
                    return ProbeResult(final, 0, True, None, None, "")
                raise _Retry("the origin refused the probe range (HTTP 416)")
            if 400 <= status < 500:
                raise DownloadError(f"HTTP {status} {response.reason} from the origin ({url})")
            if status not in (200, 206):
                raise _Retry(f"the origin answered HTTP {status} {response.reason}")
            if _is_html(response, final):
                raise _Retry("the origin answered an HTML page instead of the file")
            if _encoded(response):
                raise _Retry("the origin sent a compressed body despite Accept-Encoding: identity")
            etag = _strong_etag(response.header("etag"))
            modified = response.header("last-modified") or None
            kind = response.header("content-type")
            if status == 206:
                match = _CONTENT_RANGE.match(response.header("content-range").strip())
                if not match or int(match.group(1)) != 0 or int(match.group(2)) != 0:
                    raise _Retry(
                        f"the origin answered the probe with a wrong Content-Range "
                        f"{response.header('content-range')!r}"
                    )
                size = None if match.group(3) == "*" else int(match.group(3))
                return ProbeResult(final, size, size is not None, etag, modified, kind)
            return ProbeResult(final, response.length, False, etag, modified, kind)
        finally:
            conn.close()

    def _reresolve(self, seen_url: str) -> None:
        """A signed redirect target expired: resolve the original URL again."""
        with self._resolve_lock:
            if self._final_url != seen_url:
                return  # another connection already did
            self._reresolves += 1
            if self._reresolves > self.config.max_reresolves:
                raise DownloadError("the origin keeps refusing access (HTTP 401/403)")
            probe = self._probe_once(self.url)
            old = self._probe
            assert old is not None
            if probe.size != old.size or probe.etag != old.etag:
                raise _Restart("the file changed on the origin")
            self._final_url = probe.final_url

    # -- the data ------------------------------------------------------------------------
    def _download(self, probe: ProbeResult) -> DownloadResult:
        cfg = self.config
        ranged = probe.ranges and probe.size is not None and not self._force_single
        self.size = probe.size
        state = journal_mod.load(self.journal)
        done = Intervals()
        if (
            ranged
            and state is not None
            and self.partial.exists()
            and state.matches(probe.size, probe.etag, probe.last_modified)
        ):
            done = Intervals(state.done)
        else:
            journal_mod.remove(self.journal)
            self._remove_partial()
        self._resumable = ranged
        self.durable = done.total()  # what a resume would keep if the space check fails
        if probe.size is not None:
            self._check_space(probe.size)  # before the partial file exists
        memory = in_memory(self.partial.parent)
        try:
            self._fd = os.open(self.partial, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._os_error(exc) from None
        writer: WriteHasher | None = None
        hashed = False
        try:
            if not memory and cfg.direct_writes:
                self._direct_fd = _open_direct(self.partial)
            if probe.size is not None:
                self._preallocate(probe.size, reserve=not memory)
            state = JournalState(self.url, probe.size, probe.etag, probe.last_modified, done.items)
            try:
                journal_mod.save(self.journal, state)
            except OSError as exc:
                raise self._os_error(exc) from None
            self._written = done.copy()
            self.durable = done.total()
            if self.on_progress:
                self.on_progress(self.durable, self.size)
            writer = WriteHasher(self._fd, self._record, self._write_failed, self._direct_fd)
            self._writer = writer
            writer.advance(done.prefix())
            writer.start()
            scheduler: Scheduler | None = None
            if ranged:
                assert probe.size is not None
                min_piece = max(cfg.min_piece, cfg.buffer_size)
                missing = probe.size - done.total()
                count = max(1, min(cfg.connections, -(-missing // min_piece)))
                scheduler = Scheduler(done.missing(probe.size), min_piece, cfg.max_piece, count)
                threads = [
                    threading.Thread(
                        target=self._ranged_worker,
                        args=(scheduler,),
                        name=f"modelfiles-conn-{i}",
                        daemon=True,
                    )
                    for i in range(count)
                ]
            else:
                threads = [
                    threading.Thread(
                        target=self._stream_worker, name="modelfiles-conn", daemon=True
                    )
                ]
            waiting = threads[1:] if ranged and cfg.split_below else []
            self._sampling = bool(waiting)
            started = [t for t in threads if t not in waiting]
            for thread in started:
                thread.start()
            began, base = time.monotonic(), self._written.total()
            grown = False
            while any(t.is_alive() for t in started):
                timeout = cfg.commit_interval
                if not grown:  # wake for the first look at the lone connection's speed
                    timeout = min(timeout, max(0.01, began + cfg.fast_after - time.monotonic()))
                self._wake.wait(timeout)
                self._wake.clear()
                self._commit(state)
                try:
                    self._give_up_if_silent(self._last_problem)
                except DownloadError as silent:
                    self._fail(silent)
                elapsed = time.monotonic() - began
                if waiting and elapsed >= cfg.split_after and not self._halt.is_set():
                    self._sampling = False
                    rate = (self._written.total() - base) / elapsed
                    slow = cfg.split_below is not None and rate < cfg.split_below
                    # Split only where the origin holds the bytes up: a connection that mostly
                    # waited for this side (the writer short of CPU or disk, the rate limit)
                    # would only cost more with others beside it.
                    self.held_here = self._held_here / elapsed
                    if slow and self.held_here < cfg.split_held_below:
                        self.split_decision = "split"
                        self._bigger_buffers = 0  # several connections: the small buffers
                        for thread in waiting:
                            thread.start()
                        started += waiting
                    elif scheduler is not None:
                        self.split_decision = "held here" if slow else "fast"
                        scheduler.set_sharing(1)  # alone: the rest in one request
                    waiting = []
                if not grown and elapsed >= cfg.fast_after and len(started) == 1:
                    # Fast alone: bigger buffers (fewer writes and hand-overs) from now on;
                    # asked again at each wake until ``split_after``, then settled.
                    if (self._written.total() - base) / elapsed >= cfg.fast_alone:
                        self._bigger_buffers = cfg.lone_buffer_size
                        grown = True
                    elif elapsed >= cfg.split_after:
                        grown = True
            writer.drain()
            self._commit(state)
            failure = self._failure
            if isinstance(failure, DestinationRefused):
                raise DownloadError(failure.message)
            if failure is not None:
                if isinstance(failure, _Restart | DownloadError):
                    raise failure
                raise DownloadError(f"unexpected error: {failure}") from failure
            self._check_stopped()
            size = probe.size if probe.size is not None else self._written.total()
            if self._written.missing(size) or self._written.prefix() != size:
                raise DownloadError("the download ended with bytes missing")
            if size == 0:
                raise DownloadError("the origin served an empty file; nothing was published")
            os.ftruncate(self._fd, size)
            writer.advance(size)
            digest = writer.finish()
            hashed = True
            os.fsync(self._fd)
        finally:
            if writer is not None and not hashed:
                writer.stop()
            if writer is not None:
                self.read_back = writer.read_back
                self.direct_bytes = writer.direct_bytes
            self._writer = None
            if self._direct_fd is not None:
                os.close(self._direct_fd)
                self._direct_fd = None
            os.close(self._fd)
            self._fd = -1
        if self.expected_sha256 and digest != self.expected_sha256:
            journal_mod.remove(self.journal)
            self._remove_partial()
            raise DownloadError(
                f"checksum mismatch: expected {self.expected_sha256} got {digest}; "
                "the file was not published"
            )
        self._publish()
        journal_mod.remove(self.journal)
        return DownloadResult(self.dest, size, digest)

    def _check_space(self, size: int) -> None:
        try:
            allocated = self.partial.stat().st_blocks * 512
        except FileNotFoundError:
            allocated = 0
        need = max(0, size - allocated)
        free = shutil.disk_usage(self.partial.parent).free
        if need > free:
            raise DownloadError(
                f"no space left on device: {need} more bytes needed, {free} free in "
                f"{self.partial.parent}",
                no_space=True,
            )

    def _preallocate(self, size: int, *, reserve: bool) -> None:
        """Give the partial file its size; ``reserve`` its blocks too (a device's disk).

        On tmpfs ``posix_fallocate`` allocates and zeroes every page before the first byte
        arrives (0.25 s per GiB here) and there are no extents to keep together, so there the
        file only gets its size; :meth:`_check_space` has checked the room already.
        """
        if not reserve:
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
            return
        try:
            os.posix_fallocate(self._fd, 0, size)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DownloadError(
                    f"no space left on device while reserving {size} bytes", no_space=True
                ) from None
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)

    def _commit(self, state: JournalState) -> None:
        """fsync the data, then record it in the journal, then report it."""
        with self._lock:
            snapshot = self._written.copy()
            self._recorded_at_commit = self._recorded
        if snapshot.total() == self.durable:
            return
        try:
            os.fdatasync(self._fd)
            state.done = snapshot.items
            journal_mod.save(self.journal, state)
        except OSError as exc:
            self._fail(self._os_error(exc))
            return
        self.durable = snapshot.total()
        if self.on_progress:
            self.on_progress(self.durable, self.size)

    def _os_error(self, exc: OSError) -> DownloadError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DownloadError(f"no space left on device in {self.partial.parent}", no_space=True)
        return DownloadError(f"cannot write the partial file: {exc.strerror or exc}")

    def _publish(self) -> None:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.partial, self.dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise DownloadError(f"cannot publish {self.dest}: {exc.strerror}") from None
            temp = self.dest.with_name(f".{self.dest.name}.{os.getpid()}.tmp")
            shutil.copyfile(self.partial, temp)
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.dest)
            self._remove_partial()
        fsync_dir(self.dest.parent)

    # -- helpers for connection threads ---------------------------------------------------
    def _delay(self, failures: int, retry_after: float | None) -> float:
        cfg = self.config
        if retry_after is not None:
            return min(retry_after, cfg.max_retry_after)
        base = min(cfg.backoff_max, cfg.backoff_base * (2 ** (failures - 1)))
        return base * random.uniform(0.5, 1.5)

    def _record(self, start: int, end: int) -> int:
        """Mark bytes as written (by the writer thread); return the contiguous prefix."""
        self._last_data = time.monotonic()
        with self._lock:
            self._written.add(start, end)
            self._recorded += end - start
            if self._recorded - self._recorded_at_commit >= self.config.commit_bytes:
                self._wake.set()
            return self._written.prefix()

    def _write_failed(self, exc: OSError) -> None:
        self._fail(self._os_error(exc))

    def _buffers(self) -> queue.SimpleQueue[memoryview]:
        """A connection's few reused buffers; the writer puts each back once written."""
        pool: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        for _ in range(max(1, self.config.buffers_per_connection)):
            pool.put(memoryview(mmap.mmap(-1, self.config.buffer_size)))  # page-aligned
        return pool

    def _free_buffer(self, pool: queue.SimpleQueue[memoryview]) -> memoryview | None:
        """The next buffer the writer has given back (a bigger one instead once a lone
        connection proved fast), or None once the download halts."""
        while True:
            try:
                view = pool.get(timeout=0.05)
            except queue.Empty:
                if self._halt.is_set():
                    return None
                continue
            bigger = self._bigger_buffers
            if bigger > len(view):
                view = memoryview(mmap.mmap(-1, bigger))
            self.largest_buffer = max(self.largest_buffer, len(view))
            return view

    def _status_error(self, response: Response, seen_url: str) -> None:
        """Turn a non-data status into a retry, a restart or a final error."""
        status = response.status
        retry_after = _retry_after(response)
        drain(response)
        if status in (401, 403):
            self._reresolve(seen_url)
            raise _Retry(f"HTTP {status} {response.reason} (access expired; re-resolved)", 0.0)
        if status in _RETRYABLE_STATUS:
            raise _Retry(f"the origin answered HTTP {status} {response.reason}", retry_after)
        if status == 416:
            with self._resolve_lock:
                probe = self._probe_once(self.url)
            old = self._probe
            if old is None or probe.size != old.size or probe.etag != old.etag:
                raise _Restart("the file changed on the origin")
            raise _Retry("the origin refused a valid range (HTTP 416)")
        if 400 <= status < 500:
            raise DownloadError(f"HTTP {status} {response.reason} from the origin")
        raise _Retry(f"the origin answered HTTP {status} {response.reason}")

    def _read_into_file(
        self,
        response: Response,
        pool: queue.SimpleQueue[memoryview],
        offset: int,
        limit: Callable[[int], int],
    ) -> int:
        """Hand the body to the writer from ``offset`` until ``limit(pos)`` is 0; return the end.

        The return value counts bytes handed over; they are recorded as written (and so
        journalled) only once the writer thread has written them.
        """
        cfg = self.config
        pos = offset
        window_start, window_bytes = time.monotonic(), 0
        while True:
            if limit(pos) <= 0:
                return pos
            sampling = self._sampling
            if sampling:
                asked = time.monotonic()
            view = self._free_buffer(pool)
            if sampling:
                self._held_here += time.monotonic() - asked
            if view is None:
                return pos
            want = min(len(view), limit(pos))
            if want <= 0:
                pool.put(view)
                return pos
            fill = 0
            try:
                while fill < want:
                    n = response.readinto(view[fill:want])
                    if n == 0:
                        break
                    fill += n
                    window_bytes += n
                    now = time.monotonic()
                    if now - window_start >= cfg.stall_timeout:
                        if window_bytes < cfg.min_speed * (now - window_start):
                            raise _Retry(
                                f"stalled: {window_bytes} bytes in {now - window_start:.0f} s"
                            )
                        window_start, window_bytes = now, 0
                    if self._halt.is_set():
                        break
            except TimeoutError:
                self._flush(view, pool, pos, fill, limit)
                raise _Retry(f"stalled: no data for {cfg.stall_timeout:g} s") from None
            except HTTPClientError as exc:
                self._flush(view, pool, pos, fill, limit)
                raise _Retry(f"connection lost: {exc}") from None
            except _Retry:
                self._flush(view, pool, pos, fill, limit)
                raise
            pos = self._flush(view, pool, pos, fill, limit)
            if self._limiter is not None:
                if sampling:
                    asked = time.monotonic()
                self._limiter.consume(fill, self._halt)
                if sampling:
                    self._held_here += time.monotonic() - asked
            if self._halt.is_set():
                return pos
            if fill == 0:
                return pos

    def _flush(
        self,
        view: memoryview,
        pool: queue.SimpleQueue[memoryview],
        pos: int,
        fill: int,
        limit: Callable[[int], int],
    ) -> int:
        """Hand ``view[:fill]`` (cut to the piece's current end) to the writer thread."""
        count = min(fill, max(0, limit(pos)))
        writer = self._writer
        if count and writer is not None:
            writer.submit(view, pos, count, pool)
            return pos + count
        pool.put(view)
        return pos

    # -- connection threads -------------------------------------------------------------
    def _ranged_worker(self, scheduler: Scheduler) -> None:
        with self._connection() as conn:
            try:
                self._take_pieces(conn, scheduler)
            except BaseException as exc:
                self._fail(exc)

    def _take_pieces(self, conn: Connection, scheduler: Scheduler) -> None:
        """Fetch pieces on ``conn`` until none is left, the download halts or a piece fails
        ``max_attempts`` times in a row."""
        pool = self._buffers()
        failures = 0
        while not self._halt.is_set():
            piece = scheduler.take()
            if piece is None:
                return
            before = piece.next
            try:
                self._fetch_range(conn, piece, pool, scheduler)
                scheduler.finish(piece)
                failures = 0
            except _Retry as retry:
                self._last_problem = retry.message
                scheduler.release(piece)
                if piece.next > before:
                    failures = 0
                failures += 1
                if self._halt.is_set():
                    return
                if failures >= self.config.max_attempts:
                    gave_up = f"{retry.message} (gave up after {failures} attempts)"
                    self._fail(DownloadError(gave_up))
                    return
                self._halt.wait(self._delay(failures, retry.retry_after))
            except (DownloadError, _Restart) as exc:
                scheduler.release(piece)
                self._fail(exc)
                return

    def _fetch_range(
        self,
        conn: Connection,
        piece: Piece,
        pool: queue.SimpleQueue[memoryview],
        scheduler: Scheduler,
    ) -> None:
        probe = self._probe
        assert probe is not None and probe.size is not None
        start, end = piece.next, piece.end
        url = self._final_url
        headers = {
            **headers_for(self.headers, self.url, url),
            "Range": f"bytes={start}-{end - 1}",
            "Accept-Encoding": "identity",
        }
        if probe.etag:
            headers["If-Range"] = probe.etag
        response = self._request(conn, url, headers)
        if response.status == 200:
            if _is_html(response, url):
                drain(response)
                raise _Retry("the origin answered an HTML page instead of the file")
            conn.close()
            raise _Restart(
                "the origin answered 200 (the whole file) to a range request", no_ranges=True
            )
        if response.status in (301, 302, 303, 307, 308):
            drain(response)
            self._reresolve(url)
            raise _Retry("the origin redirected a range request; re-resolved", 0.0)
        if response.status != 206:
            self._status_error(response, url)
        match = _CONTENT_RANGE.match(response.header("content-range").strip())
        if match is None or int(match.group(1)) != start or int(match.group(2)) != end - 1:
            conn.close()
            raise _Retry(
                f"the origin answered bytes {response.header('content-range')!r} "
                f"to a request for {start}-{end - 1}"
            )
        if match.group(3) != "*" and int(match.group(3)) != probe.size:
            conn.close()
            raise _Restart("the file changed on the origin (its size differs)")
        etag = _strong_etag(response.header("etag"))
        if probe.etag and etag and etag != probe.etag:
            conn.close()
            raise _Restart("the file changed on the origin (its ETag differs)")
        if _encoded(response) or _is_html(response, url):
            conn.close()
            raise _Retry("the origin answered a range with an encoded or HTML body")
        if response.length is not None and response.length != end - start:
            conn.close()
            raise _Retry("the origin's Content-Length disagrees with its Content-Range")

        def limit(pos: int) -> int:
            with scheduler.lock:
                piece.next = pos
            return end - pos

        final = self._read_into_file(response, pool, start, limit)
        with scheduler.lock:
            piece.next = final
        if final < end:
            conn.close()
            if self._halt.is_set():
                raise _Retry("stopped")
            raise _Retry("the connection ended before the range was complete")
        response.release()  # the whole piece arrived: the next one goes on this connection

    def _stream_worker(self) -> None:
        """No usable ranges: one GET from byte 0; any failure restarts the file from zero."""
        with self._connection() as conn:
            try:
                self._fetch_stream(conn, self._buffers())
            except _Retry as retry:
                if not self._halt.is_set():
                    self._fail(_Restart(retry.message, no_ranges=True))
            except BaseException as exc:
                self._fail(exc)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection that :meth:`stop` can close; closed (and the commit loop woken) after."""
        conn = Connection(self.config.stall_timeout, self.config.policy)
        with self._lock:
            self._conns.add(conn)
        try:
            yield conn
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)
            self._wake.set()

    def _request(self, conn: Connection, url: str, headers: dict[str, str]) -> Response:
        """Send a GET; no answer in time or no connection is a retry."""
        try:
            return conn.request("GET", url, headers)
        except TimeoutError:
            raise _Retry(f"stalled: no answer for {self.config.stall_timeout:g} s") from None
        except HTTPClientError as exc:
            raise _Retry(f"cannot reach the origin: {exc}") from None

    def _fetch_stream(self, conn: Connection, pool: queue.SimpleQueue[memoryview]) -> None:
        probe = self._probe
        assert probe is not None
        url = self._final_url
        headers = {**headers_for(self.headers, self.url, url), "Accept-Encoding": "identity"}
        response = self._request(conn, url, headers)
        if response.status != 200:
            self._status_error(response, url)
        if _is_html(response, url) or _encoded(response):
            drain(response)
            raise _Retry("the origin answered an HTML page or an encoded body instead of the file")
        length = response.length
        if probe.size is not None and length is not None and length != probe.size:
            raise _Restart("the file changed on the origin (its size differs)", no_ranges=True)
        total = probe.size if probe.size is not None else length

        def limit(pos: int) -> int:
            return (total - pos) if total is not None else self.config.buffer_size

        final = self._read_into_file(response, pool, 0, limit)
        if self._halt.is_set():
            return
        if total is not None and final < total:
            raise _Retry("the connection ended before the file was complete")
        if total is None:
            self.size = final
        conn.close()
