"""Coordination of several servers on ONE host without PostgreSQL: file locks on a local disk.

``locks/<key>.lock`` is held with ``flock`` by the owning process (the kernel frees it when the
process dies, ``kill -9`` included); ``locks/<key>.json`` is the record, replaced atomically by
the owner and polled by the others. File locks are sound on a local disk only: a store on a
network filesystem (NFS, Lustre, GPFS, CIFS...) is refused, use PostgreSQL there.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path

from ..filesystems import filesystem_type
from .coordinator import Claim, CoordinationError, Coordinator, TransferRecord
from .keys import ContentKey
from .permissions import make_shared_dir, open_shared

#: filesystems whose locks cannot be trusted across hosts (or at all)
NETWORK_FILESYSTEMS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "lustre",
    "gpfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "9p",
    "afs",
    "beegfs",
    "fuse.beegfs",
    "orangefs",
    "pvfs2",
    "ocfs2",
    "gfs2",
    "fuse.juicefs",
    "fuse.ceph",
}


class LocalCoordinator(Coordinator):
    """``flock`` + JSON records in ``directory`` (the store's ``locks/``)."""

    def __init__(self, directory: Path | str, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.directory = Path(directory)
        self._fds: dict[str, int] = {}

    async def open(self) -> None:
        make_shared_dir(self.directory)
        fs_type = filesystem_type(self.directory)
        if fs_type in NETWORK_FILESYSTEMS:
            raise CoordinationError(
                f"{self.directory} is on a network filesystem ({fs_type}), where file locks "
                "cannot be trusted: set ModelFilesApp.coordination_url to a PostgreSQL database"
            )

    async def close(self) -> None:
        for claim in list(self._claims.values()):
            await claim.release()

    def _lock_path(self, key: ContentKey) -> Path:
        return self.directory / f"{key}.lock"

    def _record_path(self, key: ContentKey) -> Path:
        return self.directory / f"{key}.json"

    def _read(self, path: Path) -> TransferRecord | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # being replaced, or garbage: the next poll sees the new one
        return TransferRecord(**data)

    def _write(self, key: ContentKey, record: TransferRecord) -> None:
        target = self._record_path(key)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = open_shared(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        try:
            os.write(fd, json.dumps(asdict(record)).encode())
        finally:
            os.close(fd)
        os.replace(tmp, target)

    def _record_of(self, claim: Claim) -> TransferRecord:
        return TransferRecord(
            key=str(claim.key),
            status=claim.status,
            owner=self.owner,
            bytes_done=claim.bytes_done,
            total=claim.total,
            path=claim.path,
            error=claim.error,
            updated_at=time.time(),
        )

    async def get(self, key: ContentKey) -> TransferRecord | None:
        return await asyncio.to_thread(self._read, self._record_path(key))

    async def records(self) -> list[TransferRecord]:
        def read_all() -> list[TransferRecord]:
            found = (self._read(path) for path in sorted(self.directory.glob("*.json")))
            return [record for record in found if record is not None]

        return await asyncio.to_thread(read_all)

    async def forget(self, key: ContentKey) -> None:
        def drop() -> None:
            record = self._read(self._record_path(key))
            if record is not None and record.done:
                self._record_path(key).unlink(missing_ok=True)

        await asyncio.to_thread(drop)

    async def _try_claim(
        self, key: ContentKey, *, total: int | None, path: str | None
    ) -> Claim | None:
        def claim_now() -> Claim | None:
            fd = open_shared(self._lock_path(key), os.O_CREAT | os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            previous = self._read(self._record_path(key))
            if previous is not None and previous.done:
                os.close(fd)  # closing frees the lock
                return None
            claim = Claim(
                self,
                key,
                bytes_done=previous.bytes_done if previous else 0,
                total=total if total is not None else (previous.total if previous else None),
                path=path or (previous.path if previous else None),
            )
            self._fds[str(key)] = fd
            self._write(key, self._record_of(claim))
            return claim

        return await asyncio.to_thread(claim_now)

    async def _write_claim(self, claim: Claim) -> None:
        await asyncio.to_thread(self._write, claim.key, self._record_of(claim))

    async def _finish_claim(self, claim: Claim) -> None:
        def finish() -> None:
            try:
                self._write(claim.key, self._record_of(claim))
            finally:
                fd = self._fds.pop(str(claim.key), None)
                if fd is not None:
                    os.close(fd)

        try:
            await asyncio.to_thread(finish)
        finally:
            self._forget(claim)

    async def _wait_change(self, key: ContentKey, timeout: float) -> None:
        await asyncio.sleep(min(timeout, 0.25))
