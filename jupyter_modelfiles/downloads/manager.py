"""The job manager: a persistent queue of downloads with pause, resume, cancel and recovery.

Jobs live in SQLite (``downloads`` component). Each running job's engine runs in a worker
process of its own (:class:`~.runner.ProcessRunner`, the default; ``worker_processes=False``
runs it in a thread instead), so the server's event loop and GIL only see a few progress lines
a second; progress is saved to SQLite on the database thread, never on the loop. Every
change is published as ``("job", job_id, job.to_status())``; progress (bytes durably written)
at most ~10 times a second per job. Every change also bumps
the job's ``version`` (see :func:`.jobs.next_version`), so clients order replies and events.

Team mode: a job marked shared runs through :class:`~.shared.SharedTransfers` (``_execute``),
which may complete it from the shared store or from another server's transfer; the engine is
reached through a :class:`~.runner.JobRunner` only (``_runner``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from .. import defaults
from ..errors import Conflict, Forbidden, InvalidRequest, NotFound
from ..events import EventBus, Throttle
from ..state import Database
from . import journal as journal_mod
from .destinations import DestinationPolicy, DestinationRefused, InvalidHost
from .engine import DownloadError, DownloadResult, EngineConfig, Stopped
from .jobs import (
    RUNNING,
    STATUS_GROUPS,
    TERMINAL,
    DownloadRequest,
    Job,
    JobStatus,
    iso,
    job_status,
    new_job_id,
    now,
)
from .runner import JobRunner, ProcessRunner, ThreadRunner, WorkerPool
from .shared import Progress, SharedTransfers, is_shared
from .spec import engine_spec

log = logging.getLogger(__name__)

Hook = Callable[[Job], Awaitable[None]]

SCHEMA_V1 = """
CREATE TABLE download_jobs (
    job_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    url TEXT NOT NULL,
    dest TEXT NOT NULL,
    model_id TEXT,
    file TEXT,
    sha256 TEXT,
    expected_sha256 TEXT,
    expected_size INTEGER,
    headers TEXT NOT NULL DEFAULT '{}',
    downloaded_bytes INTEGER NOT NULL DEFAULT 0,
    total_size_bytes INTEGER,
    started_at REAL,
    completed_at REAL,
    created_at REAL NOT NULL,
    error TEXT,
    hook TEXT,
    hook_args TEXT NOT NULL DEFAULT '{}',
    active_seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX download_jobs_dest ON download_jobs (dest);
CREATE INDEX download_jobs_model ON download_jobs (model_id);
"""

_COLUMNS = [
    "job_id",
    "status",
    "url",
    "dest",
    "model_id",
    "file",
    "sha256",
    "expected_sha256",
    "expected_size",
    "headers",
    "downloaded_bytes",
    "total_size_bytes",
    "started_at",
    "completed_at",
    "created_at",
    "error",
    "hook",
    "hook_args",
    "active_seconds",
]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        valid = False
    if not valid or any(ord(c) < 33 for c in url):
        raise InvalidRequest(f"url must be an http or https URL, got {url[:200]!r}")
    return parts


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.job_id,
        job.status,
        job.url,
        str(job.dest),
        job.model_id,
        job.file,
        job.sha256,
        job.expected_sha256,
        job.expected_size,
        json.dumps(job.headers),
        job.downloaded_bytes,
        job.total_size_bytes,
        _ts(job.started_at),
        _ts(job.completed_at),
        _ts(job.created_at),
        job.error,
        job.hook,
        json.dumps(job.hook_args),
        job.active_seconds,
    )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        job_id=row["job_id"],
        status=job_status(row["status"]),
        url=row["url"],
        dest=Path(row["dest"]),
        model_id=row["model_id"],
        file=row["file"],
        sha256=row["sha256"],
        downloaded_bytes=row["downloaded_bytes"],
        total_size_bytes=row["total_size_bytes"],
        started_at=_dt(row["started_at"]),
        completed_at=_dt(row["completed_at"]),
        created_at=_dt(row["created_at"]) or now(),
        error=row["error"],
        hook=row["hook"],
        hook_args=json.loads(row["hook_args"] or "{}"),
        expected_sha256=row["expected_sha256"],
        expected_size=row["expected_size"],
        headers=json.loads(row["headers"] or "{}"),
        active_seconds=row["active_seconds"] or 0.0,
    )


class _Speed:
    """Bytes per second of durable progress, smoothed."""

    def __init__(self) -> None:
        self.last: tuple[float, int] | None = None
        self.value = 0.0

    def update(self, done: int) -> float:
        t = time.monotonic()
        if self.last is not None and t > self.last[0]:
            instant = max(0, done - self.last[1]) / (t - self.last[0])
            self.value = instant if self.value == 0 else 0.6 * self.value + 0.4 * instant
        self.last = (t, done)
        return self.value


class DownloadManager:
    """Queue, run and control download jobs; see the module docstring."""

    def __init__(
        self,
        db: Database,
        events: EventBus,
        partial_dir: Path,
        *,
        max_concurrent: int = defaults.MAX_CONCURRENT_DOWNLOADS,
        connections: int | None = None,
        split_below: int | None = None,
        stall_timeout: float | None = None,
        rate_limit: int | None = None,
        give_up_after: float | None = None,
        destinations: DestinationPolicy | None = None,
        engine_config: EngineConfig | None = None,
        team: SharedTransfers | None = None,
        worker_processes: bool = True,
        worker_nice: int = defaults.DOWNLOAD_WORKER_NICE,
    ):
        """``connections``, ``split_below`` (0: split at once), ``stall_timeout`` and
        ``rate_limit``, when given, override the same fields of ``engine_config``; the config
        passed in is copied, never changed.
        ``team``: team mode (shared store + coordinator) for jobs marked shared.
        ``worker_processes``: run each engine in a worker process (niced by ``worker_nice``)
        rather than in a thread of the server."""
        self.db = db
        self.events = events
        self.partial_dir = Path(partial_dir)
        self.incoming_dir = self.partial_dir / "incoming"
        self.max_concurrent = max(1, max_concurrent)
        base = engine_config or EngineConfig(
            connections=defaults.CONNECTIONS_PER_DOWNLOAD,
            stall_timeout=defaults.DOWNLOAD_STALL_TIMEOUT,
        )
        overrides: dict[str, Any] = {}
        if connections is not None:
            overrides["connections"] = max(1, connections)
        if split_below is not None:
            overrides["split_below"] = split_below or None
        if stall_timeout is not None:
            overrides["stall_timeout"] = stall_timeout
        if rate_limit is not None:
            overrides["rate_limit"] = rate_limit or None
        if give_up_after is not None:
            overrides["give_up_after"] = give_up_after
        if destinations is not None:
            overrides["policy"] = destinations
        elif base.policy is None:
            overrides["policy"] = DestinationPolicy()  # link-local ranges denied
        self.engine_config = dataclasses.replace(base, **overrides)
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._runners: dict[str, JobRunner] = {}
        self._hooks: dict[str, Hook] = {}
        self.team = team
        self._stops: dict[str, asyncio.Event] = {}  # shared jobs waiting on another server
        self._throttle = Throttle(0.1)
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=self.max_concurrent + 2, thread_name_prefix="modelfiles-download"
        )
        self._loaded = False
        self._closing = False
        self._saving: dict[str, asyncio.Future[None]] = {}  # progress saves in flight
        db.migrate("downloads", [SCHEMA_V1])
        self._pool: WorkerPool | None = None
        if worker_processes:
            self._pool = WorkerPool(nice=worker_nice)
            self._pool.prewarm(self._interrupted_jobs(db))

    def _interrupted_jobs(self, db: Database) -> int:
        """How many workers :meth:`start` will want at once (jobs left queued/downloading)."""
        try:
            row = db.run_sync(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM download_jobs WHERE status IN ('queued', 'downloading')"
                ).fetchone()
            )
        except Exception:  # an unreadable database shows up in start() with a clear error
            return 0
        return min(int(row[0]), self.max_concurrent)

    # -- lifecycle -----------------------------------------------------------------------
    async def _load(self) -> None:
        if self._loaded:
            return
        rows = await self.db.fetchall("SELECT * FROM download_jobs ORDER BY created_at")
        for row in rows:
            job = _job(row)
            if job.status == "downloading":
                job.status = "queued"  # interrupted (restart, kill -9): resume on its own
            self._jobs[job.job_id] = job
        self._loaded = True

    async def start(self) -> None:
        """Recover unfinished jobs (paused stay paused) and run the queue."""
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        await self._load()
        for job in self._jobs.values():
            if job.status == "queued":
                try:
                    await self._save(job)
                except Exception as exc:  # a full disk must not stop the queue from running
                    log.warning("cannot save download job %s: %s", job.job_id, exc)
        self._pump()

    async def close(self) -> None:
        """Stop the running engines; partial data and journals stay for the next start."""
        self._closing = True
        for runner in list(self._runners.values()):
            runner.stop("close")
        for stop in self._stops.values():
            stop.set()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=15)
        if self._pool is not None:
            self._pool.close()
        self._executor.shutdown(wait=False)
        if self.team is not None:
            await self.team.close()

    def register_hook(self, name: str, fn: Hook) -> None:
        """``fn(job)`` runs after the file is published, before the job is ``completed``."""
        self._hooks[name] = fn

    # -- queries -------------------------------------------------------------------------
    async def get(self, job_id: str) -> Job:
        await self._load()
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no download job {job_id!r}")
        return job

    async def list_jobs(
        self, *, model_id: str | None = None, status: str | None = None
    ) -> list[Job]:
        await self._load()
        wanted: JobStatus | None = None
        if status is not None:
            try:
                wanted = job_status(status)
            except ValueError as error:
                raise InvalidRequest(str(error)) from None
        return [
            job
            for job in self._jobs.values()
            if (model_id is None or job.model_id == model_id)
            and (wanted is None or job.status == wanted)
        ]

    async def status_groups(self) -> dict[str, list[dict[str, Any]]]:
        """LM Studio's grouping: downloading, queued, paused, completed, failed, cancelled."""
        groups: dict[str, list[dict[str, Any]]] = {status: [] for status in STATUS_GROUPS}
        for job in await self.list_jobs():
            groups[job.status].append(job.to_status())
        return groups

    # -- commands ------------------------------------------------------------------------
    async def submit(self, request: DownloadRequest) -> Job:
        """Queue a download; a live job for the same ``dest`` is joined instead."""
        await self._load()
        url = await self._check_destination(request.url)
        expected = request.sha256.lower() if request.sha256 else None
        if expected is not None and not _SHA256.match(expected):
            raise InvalidRequest("sha256 must be 64 hexadecimal characters")
        if request.hook is not None and request.hook not in self._hooks:
            raise InvalidRequest(f"no completion hook named {request.hook!r}")
        dest = Path(request.dest).expanduser().absolute()
        async with self._lock:
            for job in self._jobs.values():
                if job.live and job.dest == dest:
                    return job
            job = Job(
                job_id=new_job_id(),
                status="queued",
                url=url,
                dest=dest,
                model_id=request.model_id,
                file=request.file,
                sha256=expected,
                total_size_bytes=request.size,
                hook=request.hook,
                hook_args=dict(request.hook_args),
                expected_sha256=expected,
                expected_size=request.size,
                headers=dict(request.headers),
            )
            self._jobs[job.job_id] = job
            try:
                await self._save(job)
            except Exception:
                del self._jobs[job.job_id]  # not recorded (a full disk): it does not exist
                raise
        self._publish(job, final=True)
        self._pump()
        return job

    async def _check_destination(self, url: str) -> str:
        """The URL with its scheme in lower case, once its destination is allowed."""
        parts = _check_url(url)
        url = url[: len(parts.scheme)].lower() + url[len(parts.scheme) :]
        policy = self.engine_config.policy
        if policy is not None:
            try:
                await asyncio.to_thread(policy.check, url)
            except InvalidHost as exc:
                raise InvalidRequest(exc.message) from None
            except DestinationRefused as exc:
                raise Forbidden(exc.message) from None
        return url

    async def submit_url(
        self,
        url: str,
        *,
        sha256: str | None = None,
        filename: str | None = None,
        purpose: str = "user_data",
        hook: str = "files_store",
    ) -> Job:
        """Download any http(s) URL; the ``hook`` (the files store) adopts it when done."""
        parts = _check_url(url)
        name = filename or unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or "download"
        if "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidRequest(f"filename must be a plain file name, got {name!r}")
        key = hashlib.sha256(f"{url}\n{name}".encode()).hexdigest()[:16]
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100]
        return await self.submit(
            DownloadRequest(
                url=url,
                dest=self.incoming_dir / f"{key}-{safe}",
                sha256=sha256,
                file=name,
                hook=hook,
                hook_args={"filename": name, "purpose": purpose},
            )
        )

    async def pause(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job.status == "paused":
            return job
        if job.status not in RUNNING:
            raise Conflict(f"job {job_id} is {job.status}; only queued or downloading jobs pause")
        previous = job.status
        job.status = "paused"
        job.bytes_per_second = 0.0
        job.estimated_completion = None
        await self._stop_engine(job_id, "pause")
        job.status = "paused"
        await self._save_or_undo(job, previous)
        self._publish(job, final=True)
        self._pump()
        return job

    async def resume(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job.status in RUNNING:
            return job
        if job.status not in ("paused", "failed"):
            raise Conflict(f"job {job_id} is {job.status}; only paused or failed jobs resume")
        previous, error = job.status, job.error
        job.status = "queued"
        job.error = None
        try:
            await self._save(job)
        except Exception:
            job.status, job.error = previous, error
            raise
        self._publish(job, final=True)
        self._pump()
        return job

    async def cancel(self, job_id: str) -> Job:
        """Stop the job and remove its partial data."""
        job = await self.get(job_id)
        if job.status == "cancelled":
            return job
        if job.status == "completed":
            raise Conflict(f"job {job_id} is completed; delete the file instead")
        previous = job.status
        job.status = "cancelled"
        await self._stop_engine(job_id, "cancel")
        job.status = "cancelled"
        job.bytes_per_second = 0.0
        job.estimated_completion = None
        await asyncio.to_thread(self._remove_partial_files, job_id)
        await self._save_or_undo(job, previous)
        self._publish(job, final=True)
        self._pump()
        return job

    async def clear(self, statuses: tuple[str, ...] = TERMINAL) -> list[str]:
        """Forget finished jobs (and a failed job's partial data); returns their ids.

        Each cleared job is published once more with ``cleared: true`` so lists drop it.
        """
        await self._load()
        wrong = [s for s in statuses if s not in TERMINAL]
        if wrong:
            raise InvalidRequest(f"only {', '.join(TERMINAL)} jobs can be cleared, not {wrong}")
        async with self._lock:
            gone = [job for job in self._jobs.values() if job.status in statuses]
            for job in gone:
                del self._jobs[job.job_id]
        ids = [job.job_id for job in gone]
        if not ids:
            return ids
        await self.db.run(
            lambda c: c.executemany(
                "DELETE FROM download_jobs WHERE job_id = ?", [(i,) for i in ids]
            )
        )
        for job in gone:
            await asyncio.to_thread(self._remove_partial_files, job.job_id)
            job.touch()
            self.events.publish("job", job.job_id, {**job.to_status(), "cleared": True})
        return ids

    # -- partial files -------------------------------------------------------------------
    def _partial_paths(self, job_id: str) -> tuple[Path, Path]:
        return self.partial_dir / f"{job_id}.part", self.partial_dir / f"{job_id}.journal"

    def _remove_partial_files(self, stem: str) -> None:
        part, journal = self._partial_paths(stem)
        for path in (part, journal, journal.with_name(journal.name + ".tmp")):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    async def partials(self) -> list[dict[str, Any]]:
        """Partial files that no live job owns (left by deleted or lost jobs)."""
        await self._load()
        live = {job.job_id for job in self._jobs.values() if job.live}

        def scan() -> list[dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            if not self.partial_dir.is_dir():
                return []
            for path in sorted(self.partial_dir.iterdir()):
                if not path.is_file():
                    continue
                stem = path.name.split(".", 1)[0]
                if stem in live:
                    continue
                stat = path.stat()
                entry = found.setdefault(
                    stem,
                    {
                        "name": path.name,
                        "files": [],
                        "size_bytes": 0,
                        "downloaded_bytes": None,
                        "modified_at": iso(datetime.fromtimestamp(stat.st_mtime, timezone.utc)),
                        "job_id": stem if stem in self._jobs else None,
                    },
                )
                entry["files"].append(path.name)
                entry["size_bytes"] += stat.st_size
                if path.suffix == ".part":
                    entry["name"] = path.name
                if path.suffix == ".journal":
                    state = journal_mod.load(path)
                    if state is not None:
                        entry["downloaded_bytes"] = sum(e - s for s, e in state.done)
            return list(found.values())

        return await asyncio.to_thread(scan)

    async def delete_partial(self, name: str) -> None:
        """Delete an orphaned partial file (and its journal); refuses live jobs' files."""
        if not _SAFE_NAME.match(name) or ".." in name:
            raise InvalidRequest(f"not a partial file name: {name!r}")
        stem = name.split(".", 1)[0]
        await self._load()
        job = self._jobs.get(stem)
        if job is not None and job.live:
            raise Conflict(f"{name} belongs to the {job.status} job {stem}; cancel it instead")
        entries = await self.partials()
        entry = next((e for e in entries if name in e["files"] or e["name"] == name), None)
        if entry is None:
            raise NotFound(f"no partial file {name!r}")

        def remove() -> None:
            for file in entry["files"]:
                try:
                    (self.partial_dir / file).unlink()
                except FileNotFoundError:
                    pass

        await asyncio.to_thread(remove)

    # -- running -------------------------------------------------------------------------
    def _pump(self) -> None:
        if self._closing:
            return
        running = len(self._tasks)
        for job in sorted(self._jobs.values(), key=lambda j: j.created_at):
            if running >= self.max_concurrent:
                break
            if job.status == "queued" and job.job_id not in self._tasks:
                job.status = "downloading"
                job.touch()
                self._tasks[job.job_id] = asyncio.get_running_loop().create_task(self._run(job))
                running += 1

    async def _stop_engine(self, job_id: str, reason: str) -> None:
        runner = self._runners.get(job_id)
        if runner is not None:
            runner.stop(reason)
        if job_id in self._stops:
            self._stops[job_id].set()
        task = self._tasks.get(job_id)
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait([task], timeout=30)

    async def _run(self, job: Job) -> None:
        job.error = None
        job.started_at = job.started_at or now()
        try:
            await self._save(job)
        except Exception as exc:  # a full disk: the job fails now rather than hang
            job.status = "failed"
            job.error = f"cannot record the start of the download: {exc}"
            self._tasks.pop(job.job_id, None)
            await self._save_durably(job)
            self._publish(job, final=True)
            self._pump()
            return
        self._publish(job, final=True)
        speed = _Speed()
        last_saved = [0.0]

        def on_progress(done: int, total: int | None) -> None:
            job.downloaded_bytes = done
            if total is not None:
                job.total_size_bytes = total
            job.touch()
            if job.status != "downloading":
                return
            rate = speed.update(done)
            job.bytes_per_second = rate
            if rate > 0 and job.total_size_bytes:
                remaining = max(0, job.total_size_bytes - done)
                job.estimated_completion = now() + timedelta(seconds=remaining / rate)
            if self._throttle.allow(job.job_id):
                self.events.publish("job", job.job_id, job.to_status())
            if time.monotonic() - last_saved[0] > 1.0:
                last_saved[0] = time.monotonic()
                self._save_progress(job)

        began = time.monotonic()
        try:
            result = await self._execute(job, on_progress)
        except Stopped:
            job.active_seconds += time.monotonic() - began
            return  # pause/cancel/close set the status themselves
        except DownloadError as exc:
            job.active_seconds += time.monotonic() - began
            job.status = "failed"
            job.error = exc.message
        except Exception as exc:
            log.exception("download %s failed unexpectedly", job.job_id)
            job.active_seconds += time.monotonic() - began
            job.status = "failed"
            job.error = f"unexpected error: {exc}"
        else:
            job.active_seconds += time.monotonic() - began
            job.sha256 = result.sha256 or job.sha256
            job.downloaded_bytes = job.total_size_bytes = result.size
            job.error = None
            hook_failed = False
            if job.hook:
                hook = self._hooks.get(job.hook)
                try:
                    if hook is None:
                        raise LookupError(f"no completion hook named {job.hook!r}")
                    await hook(job)
                except Exception as exc:
                    log.exception("completion hook %s of %s failed", job.hook, job.job_id)
                    job.status = "failed"
                    job.error = f"completion hook {job.hook} failed: {exc}"
                    hook_failed = True
            if not hook_failed:
                job.status = "completed"
                job.completed_at = now()
        finally:
            self._runners.pop(job.job_id, None)
            self._tasks.pop(job.job_id, None)
            self._saving.pop(job.job_id, None)  # the final save below runs after it (FIFO)
            if job.status != "downloading":
                job.bytes_per_second = 0.0
                job.estimated_completion = None
            if not self._closing or job.status != "downloading":
                await self._save_durably(job)
                self._publish(job, final=True)
            self._pump()

    async def _execute(self, job: Job, on_progress: Progress) -> DownloadResult:
        """The engine run of ``job``; in team mode a shared job goes through the team
        (which may complete it from the store or another server's transfer)."""
        runner = self._runner(job)
        self._runners[job.job_id] = runner
        if job.status != "downloading":
            runner.stop(job.status)  # paused or cancelled before the runner existed
        if self.team is not None and is_shared(job):
            stop = self._stops.setdefault(job.job_id, asyncio.Event())
            if job.status != "downloading":
                stop.set()
            try:
                shared = await self.team.run(job, runner, on_progress, stop)
            finally:
                self._stops.pop(job.job_id, None)
            if shared is not None:
                job.dest = shared.path
                return shared
        part, journal = self._partial_paths(job.job_id)
        return await runner.download(part, journal, job.dest, on_progress)

    # -- persistence and events ----------------------------------------------------------
    def _upsert(self, conn: sqlite3.Connection, job: Job) -> None:
        marks = ", ".join("?" for _ in _COLUMNS)
        conn.execute(
            f"INSERT OR REPLACE INTO download_jobs ({', '.join(_COLUMNS)}) VALUES ({marks})",
            _row(job),
        )

    async def _save(self, job: Job) -> None:
        await self.db.run(lambda c: self._upsert(c, job))

    def _save_progress(self, job: Job) -> None:
        """Save a running job's progress on the database thread without waiting for it (from
        the loop: process runner) or waiting (from an engine thread: thread runner). A save
        still in flight is not doubled; progress is saved again later, so a failure only logs."""

        def saved(future: Any) -> None:
            exc = future.exception()
            if exc is not None:
                log.warning("cannot save the progress of %s: %s", job.job_id, exc)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                self.db.run_sync(lambda c: self._upsert(c, job))
            except Exception as exc:  # never stop the data
                log.warning("cannot save the progress of %s: %s", job.job_id, exc)
            return
        pending = self._saving.get(job.job_id)
        if pending is not None and not pending.done():
            return
        future = loop.create_task(self.db.run(lambda c: self._upsert(c, job)))
        future.add_done_callback(saved)
        self._saving[job.job_id] = future

    async def _save_or_undo(self, job: Job, previous: JobStatus) -> None:
        """Save a command's new status; if it cannot be recorded (a full disk), the job keeps
        its recorded status (a stopped live job queues again) and the error goes up."""
        try:
            await self._save(job)
        except Exception:
            job.status = "queued" if previous in RUNNING else previous
            self._pump()
            raise

    async def _save_durably(self, job: Job, attempts: int = 8) -> None:
        """Save a job's outcome, retrying a while (a full disk may be freed meanwhile): a job
        left ``downloading`` in the database would start again by itself at the next start."""
        for attempt in range(attempts):
            try:
                await self._save(job)
                return
            except Exception as exc:
                if attempt == attempts - 1:
                    log.error("cannot save download job %s as %s: %s", job.job_id, job.status, exc)
                    return
                await asyncio.sleep(min(5.0, 0.25 * 2**attempt))

    def _publish(self, job: Job, *, final: bool = False) -> None:
        job.touch()
        if self._throttle.allow(job.job_id, final=final):
            self.events.publish("job", job.job_id, job.to_status())

    # -- runners -------------------------------------------------------------------------
    def _runner(self, job: Job) -> JobRunner:
        """A runner for ``job``'s engine: a worker process, or a thread of the server."""
        config = self.engine_config

        def spec_for(partial: Path, journal: Path, dest: Path) -> dict[str, Any]:
            return engine_spec(
                url=job.url,
                dest=dest,
                partial=partial,
                journal=journal,
                sha256=job.expected_sha256,
                size=job.expected_size,
                headers=job.headers,
                config=config,
            )

        part, journal = self._partial_paths(job.job_id)
        probe_paths = (part, journal, job.dest)
        if self._pool is not None:
            return ProcessRunner(spec_for, probe_paths, self._pool, self._executor)
        return ThreadRunner(spec_for, probe_paths, self._executor)
