"""A stand-in for ``jupyter_modelfiles.downloads.manager`` until that branch is merged.

Same interface (``DownloadRequest``, ``register_hook``, ``submit``, ``get``, ``list``, ``pause``,
``resume``, ``cancel``, ``Job.to_status`` ...) with a plain one-connection httpx download that
verifies size and SHA-256 before renaming into ``dest`` and running the completion hook.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx


@dataclass
class DownloadRequest:
    url: str
    dest: Path
    sha256: str | None = None
    size: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    model_id: str | None = None
    file: str | None = None
    hook: str | None = None
    hook_args: dict[str, Any] = field(default_factory=dict)


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat() if t else None


@dataclass
class Job:
    job_id: str
    status: str
    url: str
    dest: Path
    model_id: str | None
    file: str | None
    sha256: str | None
    hook: str | None
    hook_args: dict[str, Any]
    downloaded_bytes: int = 0
    total_size_bytes: int | None = None
    bytes_per_second: float = 0.0
    estimated_completion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None

    def to_status(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "status": self.status,
            "downloaded_bytes": self.downloaded_bytes,
            "total_size_bytes": self.total_size_bytes or 0,
            "started_at": self.started_at, "bytes_per_second": self.bytes_per_second,
            "estimated_completion": self.estimated_completion,
            "completed_at": self.completed_at, "error": self.error,
            "model_id": self.model_id, "file": self.file, "url": self.url,
            "sha256": self.sha256,
        }


class StandInDownloadManager:
    request_type = DownloadRequest

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self.hooks: dict[str, Callable[[Job], Awaitable[None]]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.gate = gate  # when set, downloads wait for it (to observe in-progress states)

    def register_hook(self, name: str, fn: Callable[[Job], Awaitable[None]]) -> None:
        self.hooks[name] = fn

    async def submit(self, request: DownloadRequest) -> Job:
        for job in self.jobs.values():
            if job.dest == request.dest and job.status in ("queued", "downloading", "paused"):
                return job
        job = Job(uuid.uuid4().hex, "queued", request.url, Path(request.dest), request.model_id,
                  request.file, request.sha256, request.hook, dict(request.hook_args),
                  total_size_bytes=request.size, started_at=_iso(time.time()))
        self.jobs[job.job_id] = job
        self.tasks[job.job_id] = asyncio.ensure_future(self._run(job, request.headers))
        return job

    async def _run(self, job: Job, headers: dict[str, str]) -> None:
        try:
            if self.gate is not None:
                await self.gate.wait()
            job.status = "downloading"
            part = job.dest.with_name(job.dest.name + ".part")
            part.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            async with httpx.AsyncClient(follow_redirects=True) as client:
                async with client.stream("GET", job.url, headers=headers) as response:
                    response.raise_for_status()
                    with open(part, "wb") as fh:
                        async for chunk in response.aiter_raw():
                            fh.write(chunk)
                            digest.update(chunk)
                            job.downloaded_bytes += len(chunk)
            if job.total_size_bytes is not None and job.downloaded_bytes != job.total_size_bytes:
                raise ValueError("size mismatch")
            if job.sha256 and digest.hexdigest() != job.sha256:
                raise ValueError("sha256 mismatch")
            job.total_size_bytes = job.downloaded_bytes
            os.replace(part, job.dest)
            if job.hook:
                await self.hooks[job.hook](job)
            job.status = "completed"
            job.completed_at = _iso(time.time())
        except asyncio.CancelledError:
            job.status = "cancelled"
        except Exception as exc:
            job.status = "failed"
            job.error = str(exc)

    async def get(self, job_id: str) -> Job:
        return self.jobs[job_id]

    async def list(self, *, model_id: str | None = None, status: str | None = None) -> list[Job]:
        return [j for j in self.jobs.values()
                if (model_id is None or j.model_id == model_id)
                and (status is None or j.status == status)]

    async def pause(self, job_id: str) -> Job:
        job = self.jobs[job_id]
        if job.status in ("queued", "downloading"):
            job.status = "paused"
        return job

    async def resume(self, job_id: str) -> Job:
        job = self.jobs[job_id]
        if job.status == "paused":
            job.status = "queued"
        return job

    async def cancel(self, job_id: str) -> Job:
        job = self.jobs[job_id]
        task = self.tasks.get(job_id)
        if task is not None and not task.done():
            task.cancel()
        job.status = "cancelled"
        return job
