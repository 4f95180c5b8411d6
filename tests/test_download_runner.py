"""Each running download's engine in a worker process of its own: control through the worker,
a worker that dies fails its job clearly, and a worker dies with its server (even kill -9)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from pathlib import Path

import psutil

from jupyter_modelfiles.downloads import DownloadManager, DownloadRequest, EngineConfig
from jupyter_modelfiles.downloads.destinations import DestinationPolicy
from jupyter_modelfiles.downloads.spec import config_from_json, config_to_json
from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.state import Database

from .conftest import eventually
from .jupyter_process import JupyterServerProcess
from .origin import Origin

MiB = 1024 * 1024
WORKER = "jupyter_modelfiles.downloads.worker"


def workers_of(pid: int) -> list[psutil.Process]:
    """The download worker processes whose parent is ``pid``."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if WORKER in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


def manager(tmp_path: Path) -> DownloadManager:
    db = Database(tmp_path / "state.sqlite3")
    return DownloadManager(db, EventBus(), tmp_path / ".partial", stall_timeout=5.0)


async def test_pause_resume_and_cancel_go_through_the_worker(
    tmp_path: Path, origin: Origin
) -> None:
    data = origin.add("model.gguf", 6 * MiB)
    origin.rate = 2 * MiB
    jobs = manager(tmp_path)
    await jobs.start()
    try:
        job = await jobs.submit(
            DownloadRequest(
                url=origin.url("model.gguf"),
                dest=tmp_path / "out" / "model.gguf",
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
        worker = (await eventually(lambda: workers_of(os.getpid()), timeout=10))[0]
        await eventually(lambda: worker.nice() > os.nice(0))  # lower priority than the server
        await eventually(lambda: job.downloaded_bytes >= MiB, timeout=10)
        await jobs.pause(job.job_id)
        assert job.status == "paused"
        await eventually(lambda: not worker.is_running() or worker.status() == "zombie")
        paused_at = job.downloaded_bytes
        assert paused_at > 0
        journal = tmp_path / ".partial" / f"{job.job_id}.journal"
        assert journal.exists()  # the worker committed its journal when it stopped
        await asyncio.sleep(0.5)
        assert job.downloaded_bytes == paused_at and job.status == "paused"

        await jobs.resume(job.job_id)
        await eventually(lambda: job.status == "completed", timeout=20)
        assert (tmp_path / "out" / "model.gguf").read_bytes() == data
        resumed = [r for r in origin.data_requests() if not r["range"].startswith("bytes=0-")]
        assert resumed, "the resumed run did not continue from the journal"
        assert not workers_of(os.getpid())

        origin.add("other.gguf", 6 * MiB, seed=3)
        other = await jobs.submit(
            DownloadRequest(url=origin.url("other.gguf"), dest=tmp_path / "out" / "other.gguf")
        )
        await eventually(lambda: other.downloaded_bytes > 0, timeout=10)
        await jobs.cancel(other.job_id)
        assert other.status == "cancelled"
        assert not (tmp_path / ".partial" / f"{other.job_id}.part").exists()
        await eventually(lambda: not workers_of(os.getpid()))
    finally:
        await jobs.close()


async def test_a_killed_worker_fails_its_job_clearly_and_resume_continues(
    tmp_path: Path, origin: Origin
) -> None:
    data = origin.add("model.gguf", 6 * MiB)
    origin.rate = 2 * MiB
    jobs = manager(tmp_path)
    await jobs.start()
    try:
        job = await jobs.submit(
            DownloadRequest(url=origin.url("model.gguf"), dest=tmp_path / "out" / "model.gguf")
        )
        worker = (await eventually(lambda: workers_of(os.getpid()), timeout=10))[0]
        await eventually(lambda: job.downloaded_bytes >= 2 * MiB, timeout=10)
        worker.send_signal(signal.SIGKILL)
        await eventually(lambda: job.status == "failed", timeout=10)
        assert job.error is not None
        assert f"download worker {worker.pid} was killed by SIGKILL" in job.error
        assert "resume" in job.error

        await jobs.resume(job.job_id)
        await eventually(lambda: job.status == "completed", timeout=20)
        assert (tmp_path / "out" / "model.gguf").read_bytes() == data
        resumed = [r for r in origin.data_requests() if not r["range"].startswith("bytes=0-")]
        assert resumed, "the resume after the crash started over"
    finally:
        await jobs.close()


async def test_closing_the_manager_stops_workers_and_keeps_the_journal(
    tmp_path: Path, origin: Origin
) -> None:
    origin.add("model.gguf", 8 * MiB)
    origin.rate = 2 * MiB
    jobs = manager(tmp_path)
    await jobs.start()
    job = await jobs.submit(
        DownloadRequest(url=origin.url("model.gguf"), dest=tmp_path / "out" / "model.gguf")
    )
    await eventually(lambda: workers_of(os.getpid()), timeout=10)
    await eventually(lambda: job.downloaded_bytes >= MiB, timeout=10)
    await jobs.close()
    assert not workers_of(os.getpid())
    assert (tmp_path / ".partial" / f"{job.job_id}.journal").exists()
    assert job.status == "downloading"  # recorded as interrupted: the next start resumes it


def test_the_destination_policy_crosses_to_the_worker_as_json() -> None:
    policy = DestinationPolicy(["example.org", "10.0.0.0/8"], ["169.254.0.0/16"], server_port=8888)
    config = EngineConfig(connections=3, rate_limit=1000, policy=policy)
    again = config_from_json(config_to_json(config))
    assert again.connections == 3 and again.rate_limit == 1000
    assert again.policy is not None
    assert again.policy.server_port == 8888
    assert again.policy.refusal("evil.com", None, 80) is not None
    assert again.policy.refusal("cdn.example.org", None, 80) is None
    assert again.policy.to_json() == policy.to_json()


def test_a_worker_dies_with_its_server_after_kill_9(tmp_path: Path) -> None:
    with Origin() as origin:
        origin.add("model.gguf", 32 * MiB)
        origin.rate = 2 * MiB
        server = JupyterServerProcess(tmp_path)
        server.start()
        try:
            assert server.process is not None
            pid = server.process.pid
            with server.client() as client:
                client.post("downloads", json={"url": origin.url("model.gguf")}).raise_for_status()
            deadline = time.monotonic() + 20
            found: list[psutil.Process] = []
            while not found and time.monotonic() < deadline:
                found = workers_of(pid)
                time.sleep(0.05)
            assert found, "no download worker process under the server"
            worker = found[0]
            server.kill()
            _gone, alive = psutil.wait_procs([worker], timeout=10)
            assert not alive, f"worker {worker.pid} outlived the killed server"
        finally:
            server.stop()
