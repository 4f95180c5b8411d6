"""Download jobs and their public shapes (LM Studio status, Pieces progress).

Anaconda's ``Download`` object sums the jobs of a logical file's parts: it is built by
:func:`jupyter_modelfiles.catalog.shapes.anaconda_download`.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, get_args

#: A job's status: the one definition; the API document, the faces and the SQL use it.
JobStatus = Literal["queued", "downloading", "paused", "completed", "failed", "cancelled"]
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
#: Statuses that still hold a transfer (joined by a second request for the same file).
LIVE: tuple[JobStatus, ...] = ("queued", "downloading", "paused")
#: Statuses of a job that is waiting for or moving bytes (it can be paused).
RUNNING: tuple[JobStatus, ...] = ("queued", "downloading")
#: Statuses after which nothing more happens unless the job is resumed.
TERMINAL: tuple[JobStatus, ...] = ("completed", "failed", "cancelled")
#: LM Studio's status groups, in the order the faces list them.
STATUS_GROUPS: tuple[JobStatus, ...] = (
    "downloading",
    "queued",
    "paused",
    "completed",
    "failed",
    "cancelled",
)

_PIECES_STATUS: dict[JobStatus, str] = {
    "queued": "INITIALIZED",
    "downloading": "IN-PROGRESS",
    "paused": "IN-PROGRESS",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "CANCELED",
}


def job_status(value: str) -> JobStatus:
    """``value`` as a :data:`JobStatus`; ``ValueError`` for anything else."""
    if value not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {value!r}")
    return value


def new_job_id() -> str:
    return "job_" + secrets.token_hex(5)


_version_lock = threading.Lock()
_last_version = 0


def next_version() -> int:
    """A server-issued state version: strictly increasing, also across restarts.

    Microseconds since the epoch, bumped by one when two states fall in the same
    microsecond; a front end keeps a job's state with the highest version it has seen,
    so an HTTP reply that arrives after a newer event never replaces it.
    """
    global _last_version
    with _version_lock:
        _last_version = max(_last_version + 1, time.time_ns() // 1000)
        return _last_version


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and ``Z``, as LM Studio writes it."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class DownloadRequest:
    """What to download, where to, and what to run once it is published."""

    url: str
    dest: Path  # final path; published by atomic rename only after size+sha256 verify
    sha256: str | None = None  # expected lowercase hex; None = compute and record
    size: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Authorization
    model_id: str | None = None
    file: str | None = None  # file name within the model (also the ModelFile id)
    hook: str | None = None  # name of a completion hook registered on the manager
    hook_args: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable


@dataclass
class Job:
    """One download job; status in queued|downloading|paused|completed|failed|cancelled."""

    job_id: str
    status: JobStatus
    url: str
    dest: Path
    model_id: str | None = None
    file: str | None = None
    sha256: str | None = None  # expected, or computed once completed
    downloaded_bytes: int = 0
    total_size_bytes: int | None = None
    bytes_per_second: float = 0.0
    estimated_completion: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime = field(default_factory=now)
    error: str | None = None
    hook: str | None = None
    hook_args: dict[str, Any] = field(default_factory=dict)
    expected_sha256: str | None = None
    expected_size: int | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    active_seconds: float = 0.0  # time spent downloading, across pauses and restarts
    version: int = field(default_factory=next_version)  # bumped by :meth:`touch`

    def touch(self) -> None:
        """Mark a change of state: the next status object carries a higher version."""
        self.version = next_version()

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def eta(self) -> datetime | None:
        """When the download should complete: the measured estimate, or, before the speed is
        measured (the first report), one from the average speed since it started. ``None``
        while the total size or the speed is unknown (nothing received yet)."""
        if self.estimated_completion is not None:
            return self.estimated_completion
        total, done = self.total_size_bytes, self.downloaded_bytes
        if not total or self.started_at is None:
            return None
        current = now()
        if done >= total:
            return current
        elapsed = (current - self.started_at).total_seconds()
        if done <= 0 or elapsed <= 0:
            return None
        return current + timedelta(seconds=(total - done) * elapsed / done)

    def to_status(self) -> dict[str, Any]:
        """LM Studio's job status object (only the fields the seed gives for the status)."""
        out: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "downloaded_bytes": self.downloaded_bytes,
            "total_size_bytes": self.total_size_bytes or 0,
            "version": self.version,
        }
        if self.started_at is not None:
            out["started_at"] = iso(self.started_at)
        if self.status == "downloading":
            out["bytes_per_second"] = self.bytes_per_second
            out["estimated_completion"] = iso(self.eta())
        if self.status == "completed" and self.completed_at is not None:
            out["completed_at"] = iso(self.completed_at)
        out.update(
            {
                "error": self.error,
                "model_id": self.model_id,
                "file": self.file,
                "url": self.url,
                "sha256": self.sha256,
            }
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The full job (for ``v1/downloads``): the status object plus our own fields."""
        out = self.to_status()
        out.update(
            {
                "created_at": iso(self.created_at),
                "dest": str(self.dest),
                "hook": self.hook,
                "hook_args": self.hook_args,
            }
        )
        if self.completed_at is not None:
            out["completed_at"] = iso(self.completed_at)
        return out

    def to_pieces_progress(self) -> dict[str, Any]:
        """Pieces ``ModelDownloadProgress`` plus our fields."""
        return pieces_progress(self.to_status())


def pieces_progress(status: dict[str, Any]) -> dict[str, Any]:
    """A Pieces ``ModelDownloadProgress`` from a job status object (see :meth:`Job.to_status`)."""
    total = status.get("total_size_bytes") or 0
    done = status.get("downloaded_bytes") or 0
    if status.get("status") == "completed":
        percentage = 100.0
    else:
        percentage = round(min(100.0, 100.0 * done / total), 2) if total else 0.0
    return {
        "status": _PIECES_STATUS.get(status.get("status", ""), "UNKNOWN"),
        "percentage": percentage,
        "job_id": status.get("job_id"),
        "file": status.get("file"),
        "model_id": status.get("model_id"),
        "paused": status.get("status") == "paused",
        "downloaded_bytes": done,
        "total_size_bytes": total,
        "bytes_per_second": status.get("bytes_per_second", 0.0),
        "estimated_completion": status.get("estimated_completion"),
        "error": status.get("error"),
        "version": status.get("version"),
    }
