"""Who transfers which file: the coordinator interface shared by both implementations.

One record per content key (:class:`TransferRecord`). A server that wants a file calls
:meth:`Coordinator.acquire`: it returns a :class:`Claim` when this server must transfer the file
(nobody else does, or the owner died: resume from the journal named by the key), or the final
record when the file is already done; while another server transfers it, ``on_progress`` sees
that server's progress (at most about a second behind). Only the holder of a claim writes the
key's partial file and journal, and it reports progress through the claim.

The claim is a lock the coordinator frees when the owning process dies (a PostgreSQL session
advisory lock, or a file lock on a local disk): no lease to renew, no stale owner to expire.

Implementations: :class:`~.postgres.PostgresCoordinator` (``coordination_url``) and
:class:`~.local.LocalCoordinator` (several servers on one host, no PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from .keys import ContentKey

log = logging.getLogger(__name__)

#: ``active``: a server holds the lock and transfers; ``released``: its owner stopped (paused,
#: cancelled, restarted) without finishing; ``failed``: its owner gave up with ``error``;
#: ``done``: published at ``path``. Only ``done`` is final: after the others the next server
#: that asks takes the transfer over.
STATUSES = ("active", "released", "failed", "done")

#: how often a waiting server looks for a freed lock (progress itself arrives by notification)
DEFAULT_POLL_INTERVAL = 0.5
#: an owner writes its progress at most this often
DEFAULT_PROGRESS_INTERVAL = 0.5


class CoordinationError(RuntimeError):
    """Coordination cannot work as configured."""


class CoordinationUnavailable(CoordinationError):
    """The coordinator (PostgreSQL) cannot be reached; the message names it, password hidden."""


@dataclass(frozen=True)
class TransferRecord:
    """What every server sees of one shared transfer."""

    key: str
    status: str
    owner: str | None
    bytes_done: int
    total: int | None
    path: str | None
    error: str | None
    updated_at: float

    @property
    def done(self) -> bool:
        return self.status == "done"


def server_identity() -> str:
    """``host:pid:random``: names this server as an owner in the records."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Claim:
    """This server owns a key: it transfers the file and reports through this object.

    ``lost`` is True while the coordinator cannot vouch for the lock (connection to PostgreSQL
    lost); the transfer may go on and publish, and the coordinator takes the lock back when it
    reconnects (``lost`` turns False) unless another server took the transfer over meanwhile:
    then ``taken_over`` is set, the claim is finished (nothing more is written to its record)
    and its holder must stop writing the partial file at once and join the new owner.

    ``cut_off`` is set while the connection was lost by silence (timeouts: this node or the
    database vanished from the network): PostgreSQL may have ended the session and freed the
    lock as well, so another server may be writing the partial file already. The holder pauses
    until ``lost`` turns False (its lock taken back: it resumes) or ``taken_over`` is set. A
    connection closed or refused by PostgreSQL (stopped, restarted) leaves the transfer running.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        key: ContentKey,
        *,
        bytes_done: int,
        total: int | None,
        path: str | None,
    ) -> None:
        self.coordinator = coordinator
        self.key = key
        self.bytes_done = bytes_done
        self.total = total
        self.path = path
        self.status = "active"
        self.error: str | None = None
        self.lost = False
        self.finished = False
        self.taken_over = asyncio.Event()
        self.cut_off = asyncio.Event()
        self._last_write = 0.0

    @property
    def owner(self) -> str:
        return self.coordinator.owner

    async def progress(self, bytes_done: int, total: int | None = None) -> None:
        """Bytes durably written so far; written out at most every ``progress_interval``."""
        self.bytes_done = bytes_done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if now - self._last_write < self.coordinator.progress_interval:
            return
        self._last_write = now
        await self.coordinator._write_claim(self)

    async def complete(self, path: str) -> None:
        """The file is published at ``path``: the record becomes ``done``; lock released."""
        self.path = path
        if self.total is not None:
            self.bytes_done = self.total
        await self._finish("done", None)

    async def fail(self, error: str) -> None:
        """This server gave up; another server asking for the file will take it over."""
        await self._finish("failed", error)

    async def release(self) -> None:
        """Stop owning without finishing (pause, cancel, shutdown)."""
        await self._finish("released", None)

    def revoke(self) -> None:
        """Another server owns the key now (see the class docstring)."""
        self.finished = True
        self.coordinator._forget(self)
        self.taken_over.set()

    async def _finish(self, status: str, error: str | None) -> None:
        if self.finished:
            return
        self.status = status
        self.error = error
        self.finished = True
        await self.coordinator._finish_claim(self)

    async def __aenter__(self) -> Claim:
        return self

    async def __aexit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if not self.finished:
            if error is None or isinstance(error, asyncio.CancelledError):
                await self.release()
            else:
                await self.fail(str(error) or type(error).__name__)


ProgressCallback = Callable[[TransferRecord], None]


class Coordinator(ABC):
    """The interface the download manager uses; see the module docstring."""

    def __init__(
        self,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        owner: str | None = None,
    ) -> None:
        self.owner = owner or server_identity()
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        #: keys this process owns (a second claim from the same process waits like any other)
        self._claims: dict[str, Claim] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None:
        """Connect / prepare; raises :class:`CoordinationError` quickly when it cannot."""

    @abstractmethod
    async def close(self) -> None:
        """Release every claim of this server and disconnect."""

    async def __aenter__(self) -> Coordinator:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- queries -----------------------------------------------------------------------------

    @abstractmethod
    async def get(self, key: ContentKey) -> TransferRecord | None:
        """The key's record, or None when no server ever asked for it."""

    @abstractmethod
    async def records(self) -> list[TransferRecord]:
        """Every record (for start-up: resume the unfinished ones whose claim succeeds)."""

    @abstractmethod
    async def forget(self, key: ContentKey) -> None:
        """Drop a ``done`` record whose file is gone (deleted): the next request transfers
        it again. Records of unfinished transfers are left alone."""

    # -- claiming ----------------------------------------------------------------------------

    async def try_claim(
        self, key: ContentKey, *, total: int | None = None, path: str | None = None
    ) -> Claim | None:
        """Own ``key`` now, or None (another server owns it, or it is done)."""
        if str(key) in self._claims:
            return None
        claim = await self._try_claim(key, total=total, path=path)
        if claim is not None:
            self._claims[str(key)] = claim
        return claim

    async def acquire(
        self,
        key: ContentKey,
        *,
        total: int | None = None,
        path: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Claim | TransferRecord:
        """Wait until this server owns ``key`` (a :class:`Claim`) or it is done (its record).

        While another server transfers it, ``on_progress`` gets each new record.
        """
        seen: TransferRecord | None = None
        while True:
            try:
                record = await self.get(key)
                if record is not None and record.done:
                    return record
                claim = await self.try_claim(key, total=total, path=path)
                if claim is not None:
                    return claim
                record = await self.get(key)
                if record is not None and record.done:
                    return record
            except CoordinationUnavailable as error:
                log.warning("waiting for coordination of %s: %s", key, error)
                record = None
            if on_progress and record is not None and record != seen:
                seen = record
                on_progress(record)
            await self._wait_change(key, self.poll_interval)

    # -- implementation hooks ----------------------------------------------------------------

    @abstractmethod
    async def _try_claim(
        self, key: ContentKey, *, total: int | None, path: str | None
    ) -> Claim | None: ...

    @abstractmethod
    async def _write_claim(self, claim: Claim) -> None:
        """Write the claim's state to its record (and tell the watchers)."""

    @abstractmethod
    async def _finish_claim(self, claim: Claim) -> None:
        """Write the final state, then free the lock."""

    @abstractmethod
    async def _wait_change(self, key: ContentKey, timeout: float) -> None:
        """Return when ``key``'s record may have changed, or after ``timeout`` seconds."""

    def _forget(self, claim: Claim) -> None:
        if self._claims.get(str(claim.key)) is claim:
            del self._claims[str(claim.key)]
