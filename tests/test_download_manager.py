"""The job manager without the server: restart recovery and a full disk (a real tmpfs)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.downloads import DownloadManager, DownloadRequest, EngineConfig
from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.state import Database

from .conftest import eventually
from .origin import Origin

MiB = 1024 * 1024


def manager(tmp_path: Path, partial_dir: Path, **kwargs: object) -> DownloadManager:
    db = Database(tmp_path / "state.sqlite3")
    return DownloadManager(db, EventBus(), partial_dir, stall_timeout=2.0, **kwargs)  # type: ignore[arg-type]


async def test_disk_full_before_start_fails_clearly(
    tmp_path: Path, small_disk: Path, origin: Origin
) -> None:
    origin.add("big.bin", 12 * MiB)
    jobs = manager(tmp_path, small_disk / ".partial")
    await jobs.start()
    dest = small_disk / "out" / "big.bin"
    job = await jobs.submit(DownloadRequest(url=origin.url("big.bin"), dest=dest))
    await eventually(lambda: job.status == "failed", timeout=10)
    assert job.error is not None and job.error.startswith("no space left on device")
    assert not dest.exists()
    assert len(origin.data_requests()) == 0  # refused before downloading anything
    await jobs.close()


async def test_disk_full_mid_download_frees_partial_and_does_not_retry(
    tmp_path: Path, small_disk: Path, origin: Origin
) -> None:
    origin.ranges = False
    origin.chunked = True  # the size is unknown: the disk fills up while writing
    origin.add("big.bin", 12 * MiB)
    jobs = manager(tmp_path, small_disk / ".partial")
    await jobs.start()
    dest = small_disk / "out" / "big.bin"
    job = await jobs.submit(DownloadRequest(url=origin.url("big.bin"), dest=dest))
    await eventually(lambda: job.status == "failed", timeout=10)
    assert job.error is not None and job.error.startswith("no space left on device")
    assert job.error.endswith("the partial file was deleted to free the space")
    part = small_disk / ".partial" / f"{job.job_id}.part"
    assert not part.exists()  # no ranges: it could not resume, so the space is freed
    assert not dest.exists()
    assert len(origin.data_requests()) == 1  # ENOSPC is never retried
    listed = await jobs.list_jobs(status="failed")
    assert [j.job_id for j in listed] == [job.job_id]
    await jobs.close()


async def test_disk_full_mid_resumable_download_keeps_partial_and_resumes(
    tmp_path: Path, small_disk: Path, origin: Origin
) -> None:
    data = origin.add("big.bin", 3 * MiB)
    origin.rate = 1 * MiB
    jobs = manager(tmp_path, small_disk / ".partial", connections=1)
    await jobs.start()
    dest = tmp_path / "out" / "big.bin"
    job = await jobs.submit(DownloadRequest(url=origin.url("big.bin"), dest=dest))
    await eventually(lambda: job.downloaded_bytes > 0, timeout=10)
    filler = small_disk / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:  # something else fills the disk
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    await eventually(lambda: job.status == "failed", timeout=10)
    assert job.error is not None and job.error.startswith("no space left on device")
    assert "was kept so the download can resume once space is freed" in job.error
    assert (small_disk / ".partial" / f"{job.job_id}.part").exists()
    done = job.downloaded_bytes
    await jobs.resume(job.job_id)  # still full: fails again, and still keeps what it has
    await eventually(lambda: job.status == "failed", timeout=10)
    assert "was kept so the download can resume" in (job.error or "")
    assert (small_disk / ".partial" / f"{job.job_id}.part").exists()
    filler.unlink()
    origin.rate = None
    await jobs.resume(job.job_id)
    await eventually(lambda: job.status == "completed", timeout=15)
    assert dest.read_bytes() == data
    ranges = [r["range"] for r in origin.data_requests()]
    assert ranges[-1].startswith(f"bytes={done}-")  # resumed from what was kept
    await jobs.close()


async def test_restart_recovers_jobs_and_paused_stay_paused(tmp_path: Path, origin: Origin) -> None:
    a = origin.add("a.bin", 4 * MiB, seed=1)
    b = origin.add("b.bin", 4 * MiB, seed=2)
    origin.rate = 1 * MiB
    partial_dir = tmp_path / ".partial"
    first = manager(tmp_path, partial_dir)
    await first.start()
    job_a = await first.submit(DownloadRequest(url=origin.url("a.bin"), dest=tmp_path / "a"))
    job_b = await first.submit(
        DownloadRequest(url=origin.url("b.bin"), dest=tmp_path / "b", model_id="m")
    )
    await eventually(lambda: job_a.downloaded_bytes > 0 and job_b.downloaded_bytes > 0, 10)
    await first.pause(job_b.job_id)
    await first.close()
    first.db.close()
    assert not (tmp_path / "a").exists()

    origin.rate = None
    second = manager(tmp_path, partial_dir)
    await second.start()
    again_a = await second.get(job_a.job_id)
    await eventually(lambda: again_a.status == "completed", timeout=15)
    assert again_a.sha256 == hashlib.sha256(a).hexdigest()
    assert (tmp_path / "a").read_bytes() == a
    again_b = await second.get(job_b.job_id)
    await asyncio.sleep(0.3)
    assert again_b.status == "paused" and not (tmp_path / "b").exists()
    assert [j.job_id for j in await second.list_jobs(model_id="m")] == [job_b.job_id]
    await second.resume(job_b.job_id)
    await eventually(lambda: again_b.status == "completed", timeout=15)
    assert (tmp_path / "b").read_bytes() == b
    await second.close()


async def test_progress_events_are_throttled_and_monotonic(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("p.bin", 3 * MiB)
    origin.rate = 1 * MiB  # about 1.5 s with 2 connections
    jobs = manager(tmp_path, tmp_path / ".partial", connections=2)
    jobs.engine_config.min_piece = 256 * 1024
    jobs.engine_config.commit_interval = 0.02  # more commits than the throttle lets through
    await jobs.start()
    subscription = jobs.events.subscribe(lambda e: e.topic == "job")
    seen: list[dict[str, object]] = []

    async def collect() -> None:
        async for event in subscription:
            seen.append(event.payload)
            if event.payload["status"] == "completed":
                return

    began = asyncio.get_running_loop().time()
    collector = asyncio.ensure_future(collect())
    job = await jobs.submit(DownloadRequest(url=origin.url("p.bin"), dest=tmp_path / "p.bin"))
    await asyncio.wait_for(collector, 20)
    elapsed = asyncio.get_running_loop().time() - began
    progress = [e for e in seen if e["status"] == "downloading"]
    assert len(progress) >= 3
    assert len(progress) <= elapsed * 10 + 3  # ~10/s per job, plus the state changes
    sizes = [int(e["downloaded_bytes"]) for e in progress]  # type: ignore[call-overload]
    assert sizes == sorted(sizes)
    assert seen[-1]["sha256"] == hashlib.sha256(data).hexdigest()
    assert job.status == "completed"
    subscription.close()
    await jobs.close()


async def test_engine_config_given_is_kept_and_never_changed(
    tmp_path: Path, origin: Origin
) -> None:
    """``engine_config`` is the caller's: fields it sets survive, the object is not mutated."""
    given = EngineConfig(connections=7, stall_timeout=5.0, rate_limit=123_456, min_piece=MiB)
    jobs = DownloadManager(
        Database(tmp_path / "state.sqlite3"), EventBus(), tmp_path / ".partial", engine_config=given
    )
    assert (jobs.engine_config.connections, jobs.engine_config.stall_timeout) == (7, 5.0)
    assert jobs.engine_config.rate_limit == 123_456
    assert jobs.engine_config.min_piece == MiB
    # Explicit arguments still win, on a copy.
    tuned = DownloadManager(
        Database(tmp_path / "other.sqlite3"),
        EventBus(),
        tmp_path / ".partial2",
        connections=2,
        engine_config=given,
    )
    assert tuned.engine_config.connections == 2
    assert tuned.engine_config.stall_timeout == 5.0
    assert given == EngineConfig(
        connections=7, stall_timeout=5.0, rate_limit=123_456, min_piece=MiB
    )
    # The config reaches the engine that runs a job: the file downloads with its settings.
    origin.add("small.bin", 2 * MiB)
    await jobs.start()
    job = await jobs.submit(
        DownloadRequest(url=origin.url("small.bin"), dest=tmp_path / "out" / "small.bin")
    )
    await eventually(lambda: job.status == "completed", timeout=30)
    await jobs.close()


async def test_defaults_come_from_the_defaults_module(tmp_path: Path) -> None:
    from jupyter_modelfiles import defaults

    jobs = DownloadManager(Database(tmp_path / "state.sqlite3"), EventBus(), tmp_path / ".p")
    assert jobs.max_concurrent == defaults.MAX_CONCURRENT_DOWNLOADS
    assert jobs.engine_config.connections == defaults.CONNECTIONS_PER_DOWNLOAD
    assert jobs.engine_config.stall_timeout == defaults.DOWNLOAD_STALL_TIMEOUT


@pytest.mark.parametrize(("split_below", "connections"), [(1, 1), (100 * MiB, 4)])
async def test_split_below_opens_the_other_connections_only_when_one_is_slow(
    tmp_path: Path, origin: Origin, split_below: int, connections: int
) -> None:
    """The server's policy (``download_split_below``): one connection first; the others only
    when it is slower than ``split_below`` after ``split_after`` (4 MiB/s here)."""
    data = origin.add("s.bin", 12 * MiB)
    origin.rate = 4 * MiB  # per connection
    jobs = manager(tmp_path, tmp_path / ".p", connections=4, split_below=split_below)
    jobs.engine_config.min_piece = 256 * 1024
    await jobs.start()
    job = await jobs.submit(DownloadRequest(url=origin.url("s.bin"), dest=tmp_path / "s.bin"))
    await eventually(lambda: job.status == "completed", timeout=30)
    assert (tmp_path / "s.bin").read_bytes() == data
    assert len({r["peer"] for r in origin.data_requests()}) == connections
    assert origin.bytes_served("s.bin") == len(data)
    await jobs.close()


async def test_the_server_splits_only_where_it_pays(services: Any) -> None:
    from jupyter_modelfiles.downloads.engine import DEFAULT_SPLIT_BELOW

    assert services.downloads.engine_config.split_below == DEFAULT_SPLIT_BELOW


async def test_list_jobs_rejects_an_unknown_status(tmp_path: Path) -> None:
    from jupyter_modelfiles.downloads.jobs import STATUSES
    from jupyter_modelfiles.errors import InvalidRequest

    jobs = DownloadManager(Database(tmp_path / "state.sqlite3"), EventBus(), tmp_path / ".p")
    with pytest.raises(InvalidRequest, match="status must be one of queued, downloading"):
        await jobs.list_jobs(status="done")
    for status in STATUSES:
        assert await jobs.list_jobs(status=status) == []


async def test_state_versions_keep_growing_across_a_restart(tmp_path: Path, origin: Origin) -> None:
    jobs = manager(tmp_path, tmp_path / ".partial")
    await jobs.start()
    job = await jobs.submit(DownloadRequest(url=origin.url("absent.bin"), dest=tmp_path / "a"))
    queued = job.to_status()["version"]
    await eventually(lambda: job.status == "failed", timeout=10)
    failed = job.to_status()["version"]
    assert failed > queued
    await jobs.close()
    again = manager(tmp_path, tmp_path / ".partial")
    await again.start()
    reloaded = await again.get(job.job_id)
    assert reloaded.status == "failed" and reloaded.to_status()["version"] > failed
    await again.close()
