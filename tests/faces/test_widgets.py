"""Widget behaviour: set traits, click buttons, check what the widgets show and what they did."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from jupyter_modelfiles.client import ModelFilesClient
from jupyter_modelfiles.widgets import DownloadProgress, FilesBrowser, Job, UploadControl

from ..origin import running_origin
from .conftest import Live


def _upload_many(client: ModelFilesClient, tmp_path: Path, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(os.urandom(2048))
        ids.append(
            client.upload_file(path, "batch" if name.endswith(".jsonl") else "user_data")["id"]
        )
    return ids


async def test_files_browser_lists_searches_pages_deletes_and_signs(
    live: Live, tmp_path: Path
) -> None:
    client = ModelFilesClient(live.url, live.token)
    names = [f"weights-{i}.bin" for i in range(5)] + ["requests.jsonl"]
    ids = await asyncio.to_thread(_upload_many, client, tmp_path, names)

    browser = await asyncio.to_thread(FilesBrowser, client, page_size=4)
    assert browser.total == 6 and browser.pages == 2
    assert len(browser.rows.children) == 4
    assert "page 1 of 2 (6 files)" in browser.page_label.value
    assert browser.prev_button.disabled and not browser.next_button.disabled

    await asyncio.to_thread(browser.next_button.click)
    assert browser.page == 1 and len(browser.rows.children) == 2
    assert browser.next_button.disabled

    # Typing a search (a trait change) goes back to page 0 and filters.
    await asyncio.to_thread(setattr, browser.search, "value", "requests")
    assert browser.page == 0
    assert [r["filename"] for r in browser.records] == ["requests.jsonl"]
    await asyncio.to_thread(setattr, browser.search, "value", "")
    await asyncio.to_thread(setattr, browser.purpose, "value", "batch")
    assert [r["id"] for r in browser.records] == [ids[-1]]

    row = browser.rows.children[0]
    await asyncio.to_thread(row.url_button.click)
    assert browser.url.value.startswith(live.url) and "signature=" in browser.url.value
    import httpx

    async with httpx.AsyncClient() as anonymous:  # the signed URL needs no token
        response = await anonymous.get(browser.url.value)
    assert response.status_code == 200
    assert response.content == (tmp_path / "requests.jsonl").read_bytes()

    # Delete asks first, then deletes on the second click.
    await asyncio.to_thread(row.delete_button.click)
    assert row.delete_button.description == "Confirm"
    assert await asyncio.to_thread(client.get_file, ids[-1])
    await asyncio.to_thread(row.delete_button.click)
    assert "deleted" in browser.message.value
    assert browser.records == []
    await asyncio.to_thread(setattr, browser.purpose, "value", "")
    assert browser.total == 5


async def test_files_browser_shows_server_errors(live: Live) -> None:
    client = ModelFilesClient(live.url, live.token)
    browser = await asyncio.to_thread(FilesBrowser, client)
    assert await asyncio.to_thread(browser.show_url, "file-missing") is None
    assert "file-missing" in browser.message.value
    assert "error-color" in browser.message.value


def test_download_progress_draws_states_and_throttles() -> None:
    client = ModelFilesClient("http://127.0.0.1:9/", "t")
    job = {"job_id": "j1", "status": "queued", "file": "model.gguf", "total_size_bytes": 1000}
    bar = DownloadProgress(job, client, listen=False, min_interval=10.0)
    assert "model.gguf" in bar.title.value and "queued" in bar.title.value
    assert not bar.pause_button.disabled and bar.resume_button.disabled

    bar.update({"status": "downloading", "downloaded_bytes": 250, "bytes_per_second": 100})
    assert bar.bar.value == 25.0 and "ETA 0:08" in bar.info.value
    bar.update({"downloaded_bytes": 500})  # inside the throttle window: held back
    assert bar.bar.value == 25.0 and bar.status["downloaded_bytes"] == 500
    bar.flush()
    assert bar.bar.value == 50.0

    bar.update({"status": "paused"})  # control states always draw
    assert bar.bar.bar_style == "info" and not bar.resume_button.disabled
    assert bar.pause_button.disabled

    bar.update({"status": "failed", "error": "checksum mismatch: expected abc"})
    assert bar.bar.bar_style == "danger"
    assert "checksum mismatch" in bar.error.value
    assert "differs from the expected SHA-256" in bar.error.value  # why a retry cannot help
    assert bar.cancel_button.disabled and bar.job.finished

    done = DownloadProgress(
        {"job_id": "j2", "status": "completed", "downloaded_bytes": 7, "total_size_bytes": 7},
        client,
        listen=False,
    )
    assert done.bar.value == 100.0 and done.bar.bar_style == "success"
    assert done.job.wait(timeout=1)["status"] == "completed"


def test_job_handle_reports_terminal_states() -> None:
    client = ModelFilesClient("http://127.0.0.1:9/", "t")
    job = Job(client, {"job_id": "x", "status": "downloading"})
    assert not job.finished and job.id == "x"
    job._update({"status": "cancelled"})
    assert job.finished and "cancelled" in repr(job)


def test_an_older_state_never_replaces_a_newer_one() -> None:
    client = ModelFilesClient("http://127.0.0.1:9/", "t")
    bar = DownloadProgress(
        {"job_id": "j", "status": "failed", "error": "HTTP 404", "version": 9},
        client,
        listen=False,
    )
    bar.update({"job_id": "j", "status": "downloading", "version": 4})  # a late reply
    assert "failed" in bar.title.value and bar.job.state == "failed"
    bar.update({"job_id": "j", "status": "queued", "version": 10})  # a retry: newer
    assert bar.job.state == "queued" and "queued" in bar.title.value


async def test_a_download_that_fails_at_once_shows_failed(live: Live) -> None:
    client = ModelFilesClient(live.url, live.token)
    with running_origin() as origin:
        reply = await asyncio.to_thread(client.start_download, origin.url("missing.gguf"))
        bar = await asyncio.to_thread(DownloadProgress, reply, client)
        final = await asyncio.to_thread(bar.job.wait, 20)
    assert final["status"] == "failed" and "404" in (final.get("error") or "")
    bar.update(reply)  # the POST reply, older than the failed event, changes nothing
    assert bar.job.state == "failed" and "failed" in bar.title.value
    assert "404" in bar.error.value


def test_upload_control_reports_each_finished_upload_once() -> None:
    control = UploadControl(api_url="http://127.0.0.1:1/modelfiles/")
    seen: list[dict[str, Any]] = []
    control.on_upload(seen.append)
    # What the browser side sends while uploading, then on success (state in either order).
    control.set_state({"status": "uploading", "filename": "a.bin", "total_bytes": 100})
    control.set_state({"uploaded_bytes": 40})
    assert control.progress == 0.4 and seen == []
    control.set_state({"status": "done", "result": {"id": "file-1", "bytes": 100}})
    control.set_state({"uploaded_bytes": 100})
    assert [s["id"] for s in seen] == ["file-1"]
    control.set_state({"result": {"id": "file-2", "bytes": 5}, "status": "uploading"})
    control.set_state({"status": "done"})
    assert [s["id"] for s in seen] == ["file-1", "file-2"]
    control.set_state({"status": "error", "error": "too large (HTTP 413)"})
    assert len(seen) == 2 and control.error.endswith("413)")
    # The browser code posts to the page's own server and never through the comm channel.
    esm = Path(control._esm).read_text() if isinstance(control._esm, Path) else str(control._esm)
    assert "XMLHttpRequest" in esm and "X-XSRFToken" in esm
    assert '"modelfiles/v1/"' in esm and 'root + "uploads"' in esm  # a sliced upload (v1/uploads)
