"""Real download jobs (a local origin) seen through the widgets, the magics and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_modelfiles.client import AsyncModelFilesClient, ModelFilesClient
from jupyter_modelfiles.widgets import DownloadProgress, download, listener_for

from ..origin import Origin, running_origin
from .conftest import Live
from .test_cli import cli

MiB = 1024 * 1024


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_origin() as running:
        yield running


async def until(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


async def test_progress_widget_follows_a_real_job_over_the_events_socket(
    live: Live, origin: Origin
) -> None:
    data = origin.add("weights.bin", 6 * MiB, seed=5)
    origin.rate = 3 * MiB  # ~2 s: time to see progress, pause and resume
    client = ModelFilesClient(live.url, live.token)
    job = await asyncio.to_thread(
        client.start_download, origin.url("weights.bin"), sha256=hashlib.sha256(data).hexdigest()
    )
    bar = await asyncio.to_thread(DownloadProgress, job, client)
    listener = listener_for(client)
    await until(lambda: listener.mode == "websocket", what="the events WebSocket")

    await until(lambda: 0 < bar.bar.value < 100, what="partial progress")
    assert "MiB" in bar.info.value and not bar.pause_button.disabled
    await asyncio.to_thread(bar.pause_button.click)
    await until(lambda: bar.job.state == "paused", what="paused")
    assert bar.bar.bar_style == "info" and not bar.resume_button.disabled
    paused_at = bar.status["downloaded_bytes"]
    await asyncio.to_thread(bar.resume_button.click)
    await until(lambda: bar.job.finished, what="completion")
    assert bar.job.state == "completed", bar.status
    assert bar.bar.bar_style == "success" and bar.bar.value == 100.0
    assert bar.status["downloaded_bytes"] == len(data) >= paused_at
    assert bar.pause_button.disabled and bar.cancel_button.disabled
    # The finished download is in the files store.
    listing = await asyncio.to_thread(client.list_files, search="weights")
    assert [f["sha256"] for f in listing["data"]] == [hashlib.sha256(data).hexdigest()]


async def test_failed_and_cancelled_jobs_turn_the_bar_red_and_grey(
    live: Live, origin: Origin
) -> None:
    origin.add("corrupt.bin", 2 * MiB, seed=6)
    client = ModelFilesClient(live.url, live.token)
    handle = await asyncio.to_thread(
        download, origin.url("corrupt.bin"), sha256="0" * 64, client=client, display=False
    )
    bar_job = await asyncio.to_thread(handle.wait, 30)
    assert bar_job["status"] == "failed" and bar_job["error"]

    bar = DownloadProgress(bar_job, client, listen=False)
    assert bar.bar.bar_style == "danger"
    assert bar_job["error"][:20] in bar.error.value

    origin.add("slow.bin", 8 * MiB, seed=7)
    origin.rate = 1 * MiB
    job = await asyncio.to_thread(client.start_download, origin.url("slow.bin"))
    bar = await asyncio.to_thread(DownloadProgress, job, client)
    await asyncio.to_thread(bar.cancel_button.click)
    await until(lambda: bar.job.state == "cancelled", what="cancelled")
    assert bar.bar.bar_style == "warning" and bar.cancel_button.disabled


async def test_async_client_events_and_job_control(live: Live, origin: Origin) -> None:
    data = origin.add("events.bin", 4 * MiB, seed=8)
    origin.rate = 4 * MiB
    async with AsyncModelFilesClient(live.url, live.token) as client:
        seen: list[dict[str, Any]] = []

        async def collect() -> None:
            async for message in client.events():
                if message["topic"] == "job":
                    seen.append(message["data"])
                    if message["data"]["status"] == "completed":
                        return

        listener = asyncio.ensure_future(collect())
        await asyncio.sleep(0.2)
        job = await client.start_download(origin.url("events.bin"))
        await asyncio.wait_for(listener, 30)
        assert seen[-1]["job_id"] == job["job_id"]
        assert seen[-1]["downloaded_bytes"] == len(data)
        assert any(0 < m["downloaded_bytes"] < len(data) for m in seen)

        groups = await client.download_status()
        assert job["job_id"] in [j["job_id"] for j in groups["completed"]]
        one = await client.download_status(job["job_id"])
        assert one["status"] == "completed"
        listing = await client.list_downloads()
        assert job["job_id"] in [j["job_id"] for j in listing["data"]]


@pytest.fixture
def shell(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("JUPYTER_MODELFILES_URL", live.api_url)
    monkeypatch.setenv("JUPYTER_MODELFILES_TOKEN", live.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_modelfiles")
    ip.magics_manager.registry["ModelFilesMagics"]._client = None
    yield ip


async def run_magic(ip: InteractiveShell, name: str, line: str) -> tuple[Any, str]:
    def run() -> tuple[Any, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = ip.run_line_magic(name, line)
        return result, out.getvalue()

    return await asyncio.to_thread(run)


async def test_download_magics(shell: InteractiveShell, origin: Origin) -> None:
    data = origin.add("magic.bin", 3 * MiB, seed=9)
    job, _ = await run_magic(shell, "download", f"{origin.url('magic.bin')} --wait")
    assert job.state == "completed" and job.status["downloaded_bytes"] == len(data)
    _, text = await run_magic(shell, "modelfiles", "status")
    assert job.id in text and "completed" in text and "magic.bin" in text
    _, one = await run_magic(shell, "modelfiles", f"status {job.id}")
    assert one.startswith("completed")

    origin.add("slow.bin", 8 * MiB, seed=10)
    origin.rate = 1 * MiB
    slow, _ = await run_magic(shell, "modelfiles", f"download {origin.url('slow.bin')}")
    _, paused = await run_magic(shell, "modelfiles", f"pause {slow.id}")
    assert paused.startswith("paused")
    _, resumed = await run_magic(shell, "modelfiles", f"resume {slow.id}")
    assert resumed.split()[0] in ("queued", "downloading")
    _, cancelled = await run_magic(shell, "modelfiles", f"cancel {slow.id}")
    assert cancelled.startswith("cancelled")
    with pytest.raises(UsageError, match="NOT_FOUND"):
        await run_magic(shell, "modelfiles", "pause job-that-does-not-exist")


async def test_cli_download_with_progress(live: Live, origin: Origin) -> None:
    data = origin.add("cli.bin", 3 * MiB, seed=11)
    auth = ("--url", live.url, "--token", live.token)
    digest = hashlib.sha256(data).hexdigest()
    code, out, err = await cli(
        *auth, "--json", "download", origin.url("cli.bin"), "--sha256", digest
    )
    assert code == 0, err
    (final,) = json.loads(out)
    assert final["status"] == "completed" and final["downloaded_bytes"] == len(data)
    code, out, _ = await cli(*auth, "status")
    assert code == 0 and final["job_id"] in out and "completed" in out

    origin.add("bad.bin", MiB, seed=12)
    code, out, err = await cli(*auth, "download", origin.url("bad.bin"), "--sha256", "1" * 64)
    assert code == 3 and "failed" in out
