"""Team mode around one job's engine run: one transfer per file for every server of a team.

The manager calls :meth:`SharedTransfers.run` instead of running the engine itself when a job
is shared (``hook_args["shared"]``). The file's content key (its SHA-256 when known, else the
final URL + strong ETag + size from a probe) decides, through the coordinator:

- published and verified in the shared store: the job completes at once, nothing transferred;
- another server transfers it: this job joins, shows that server's progress and completes when
  it publishes (or takes the transfer over when that server dies, resuming from its journal);
- nobody does: this server claims it and runs the engine into the store's ``partial/<key>``
  files, publishes through the store (a hard link that never replaces: two servers publishing
  at once leave one blob) and records the key ``done``.

A file with no content key (weak or no ETag, no size, no SHA-256) is not shared: the engine
runs as in single-server mode. The engine is reached only through :class:`JobRunner`, so it
may run in a thread or another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..team import (
    Claim,
    CoordinationError,
    Coordinator,
    NoContentKey,
    SharedStore,
    TransferRecord,
    content_key,
)
from ..team.keys import ContentKey
from ..team.permissions import share_file
from .engine import DownloadError, DownloadResult, Stopped
from .jobs import Job

if TYPE_CHECKING:
    from .runner import JobRunner

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[int, "int | None"], None]

#: how long a transfer that failed while cut off from PostgreSQL waits to learn whether another
#: server took it over (then its job joins that server instead of failing)
LOST_FAILURE_WAIT = 30.0


def is_shared(job: Job) -> bool:
    return bool(job.hook_args.get("shared"))


class SharedTransfers:
    """The store + coordinator pair of a server in team mode; see the module docstring."""

    def __init__(self, store: SharedStore, coordinator: Coordinator) -> None:
        self.store = store
        self.coordinator = coordinator
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect the coordinator (the extension checked it at start; retried when lost)."""
        async with self._open_lock:
            if not self._opened:
                await self.coordinator.open()
                self._opened = True

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.coordinator.close()

    # -- one job ----------------------------------------------------------------------------
    async def run(
        self,
        job: Job,
        runner: JobRunner,
        on_progress: Progress,
        stop: asyncio.Event,
    ) -> DownloadResult | None:
        """Complete ``job`` through the team (see the module docstring); None when the file
        has no content key (the manager runs it alone). Raises ``Stopped`` when ``stop`` is
        set while waiting, ``DownloadError`` when the file fails."""
        try:
            await self.open()
        except CoordinationError as error:
            raise DownloadError(str(error)) from None
        key, size = await self._key(job, runner)
        if key is None:
            return None
        while True:
            done = await self._published(job, key, size)
            if done is not None:
                await asyncio.to_thread(self._drop_stale_journal, key)
                return done

            def remote(record: TransferRecord) -> None:
                on_progress(record.bytes_done, record.total)

            got = await _until_stopped(
                self.coordinator.acquire(key, total=size, on_progress=remote), stop
            )
            if isinstance(got, TransferRecord):
                result = await self._verified(job, key, got)
                if result is not None:
                    await asyncio.to_thread(self._drop_stale_journal, key)
                    return result
                await self._forget(key)  # done but the file is gone: transfer it again
                continue
            transferred = await self._transfer(job, key, got, runner, on_progress, stop)
            if transferred is not None:
                return transferred
            # taken over while this server was cut off from PostgreSQL: join the new owner

    def _drop_stale_journal(self, key: ContentKey) -> None:
        """The file is published: a journal without its partial file is a leftover (written
        by a server that lost its lock while cut off, before it noticed)."""
        if not self.store.partial_path(key).exists():
            self.store.journal_path(key).unlink(missing_ok=True)

    async def _key(self, job: Job, runner: JobRunner) -> tuple[ContentKey | None, int | None]:
        if job.expected_sha256:
            return content_key(sha256=job.expected_sha256), job.expected_size
        probe = await runner.probe()
        try:
            return content_key(url=probe.final_url, etag=probe.etag, size=probe.size), probe.size
        except NoContentKey as why:
            log.info("%s is not shared between servers: %s", job.url, why)
            return None, probe.size

    def _target(self, job: Job, sha256: str) -> Path:
        """Where the file is published: the job's destination when it lies in the store
        (a Hub blob, ``blobs/<sha256>``), else ``blobs/<sha256>``."""
        if self.store.contains(job.dest):
            return Path(job.dest)
        return self.store.blob_path(sha256)

    async def _published(
        self, job: Job, key: ContentKey, size: int | None
    ) -> DownloadResult | None:
        """The file is already in the store (published earlier, any server)."""
        candidates = [Path(job.dest)] if self.store.contains(job.dest) else []
        if key.sha256:
            candidates.append(self.store.blob_path(key.sha256))
        for path in candidates:
            found = await asyncio.to_thread(_size_of, path)
            if found is not None and found > 0 and (size is None or found == size):
                return DownloadResult(path, found, key.sha256 or _sha_of(path) or "")
        return None

    async def _verified(
        self, job: Job, key: ContentKey, record: TransferRecord
    ) -> DownloadResult | None:
        if not record.path:
            return None
        path = Path(record.path)
        found = await asyncio.to_thread(_size_of, path)
        if found is None or (record.total is not None and found != record.total):
            return None
        return DownloadResult(path, found, key.sha256 or _sha_of(path) or "")

    async def _forget(self, key: ContentKey) -> None:
        try:
            await self.coordinator.forget(key)
        except Exception as error:  # a role without DELETE: the record stays, say so
            raise DownloadError(
                f"the shared record of {key} says done but its file is gone, and it cannot be "
                f"reset: {error}"
            ) from None

    async def _transfer(
        self,
        job: Job,
        key: ContentKey,
        claim: Claim,
        runner: JobRunner,
        on_progress: Progress,
        stop: asyncio.Event,
    ) -> DownloadResult | None:
        """Transfer as the claim's holder; None when another server took it over meanwhile
        (this server had been cut off from PostgreSQL): the job then joins that server."""
        loop = asyncio.get_running_loop()
        partial = self.store.partial_path(key)
        journal = self.store.journal_path(key)
        verified = self.store.partial_dir / f"{key}.{secrets.token_hex(4)}.verified"
        writing: list[asyncio.Task[None]] = []

        def report(done: int, total: int | None) -> None:
            if writing and not writing[-1].done():
                claim.bytes_done = done  # the write in flight is enough; the next one catches up
                return
            writing[:] = [loop.create_task(claim.progress(done, total))]

        shared = [False]

        def progress(done: int, total: int | None) -> None:  # engine threads
            if not shared[0]:
                shared[0] = True
                _share(partial)  # group-writable: a server of another user may take over
            on_progress(done, total)
            loop.call_soon_threadsafe(report, done, total)

        async with claim:
            while True:
                download = asyncio.ensure_future(
                    runner.download(partial, journal, verified, progress)
                )
                await _run_watched(download, claim, runner)
                if claim.taken_over.is_set():
                    await self._joined_instead(key, verified)
                    return None
                error = download.exception()
                if error is None:
                    result = download.result()
                    break
                if isinstance(error, Stopped) and claim.cut_off.is_set() and not stop.is_set():
                    # paused while cut off from PostgreSQL: resume with the lock, or join
                    if await _lock_back(claim, stop):
                        runner.rearm()  # the stop was this transfer's, not the job's
                        continue
                    if claim.taken_over.is_set():
                        await self._joined_instead(key, verified)
                        return None
                    error = Stopped("stop")
                if isinstance(error, Stopped):
                    await claim.release()  # paused or cancelled here: the next asker takes over
                    raise error
                if isinstance(error, DownloadError) and await _taken_over_meanwhile(claim):
                    await self._joined_instead(key, verified)
                    return None
                raise error
            target = self._target(job, result.sha256)
            await asyncio.to_thread(self.store.publish, verified, target)
            for task in writing:
                with contextlib.suppress(Exception):
                    await task
            await claim.complete(str(target))
        return DownloadResult(target, result.size, result.sha256)

    async def _joined_instead(self, key: ContentKey, verified: Path) -> None:
        """Another server took ``key`` over: this one wrote nothing more; it joins."""
        log.warning("%s: another server took the transfer over; this one joins it", key)
        await asyncio.to_thread(verified.unlink, missing_ok=True)


async def _run_watched(
    download: asyncio.Future[DownloadResult], claim: Claim, runner: JobRunner
) -> None:
    """Until ``download`` ends; when the claim is taken over or cut off first, the engine is
    stopped at once (it raises Stopped, or had just finished)."""
    watchers: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(claim.taken_over.wait()),
        asyncio.ensure_future(claim.cut_off.wait()),
    ]
    try:
        await asyncio.wait([download, *watchers], return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        download.cancel()
        raise
    finally:
        for watcher in watchers:
            watcher.cancel()
    if not download.done():
        reason = "taken over" if claim.taken_over.is_set() else "cut off from the coordinator"
        log.warning("%s: %s, stopping this transfer", claim.key, reason)
        runner.stop(reason)
        await asyncio.wait([download])


async def _lock_back(claim: Claim, stop: asyncio.Event) -> bool:
    """Wait until the coordinator took the claim's lock back (True), or another server took
    the transfer over, or the job was stopped (False)."""
    while not (claim.taken_over.is_set() or stop.is_set()):
        if not claim.lost:
            return True
        await asyncio.sleep(0.25)
    return False


async def _taken_over_meanwhile(claim: Claim) -> bool:
    """A transfer failed while its claim was lost (the partial file maybe published by a
    server that took over): wait a while to learn whether it was taken over."""
    for _ in range(int(LOST_FAILURE_WAIT / 0.25)):
        if claim.taken_over.is_set() or not claim.lost:
            break
        await asyncio.sleep(0.25)
    return claim.taken_over.is_set()


async def _until_stopped(
    waiting: Coroutine[Any, Any, Claim | TransferRecord], stop: asyncio.Event
) -> Claim | TransferRecord:
    task = asyncio.ensure_future(waiting)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        got = await task
        if isinstance(got, Claim):  # won the lock just as we stopped: give it back
            await got.release()
    raise Stopped("stop")


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _sha_of(path: Path) -> str | None:
    name = path.name
    return name if _SHA256.match(name) else None


def _share(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_uid == os.geteuid():
            share_file(path)
