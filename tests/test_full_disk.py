"""A full disk never breaks the extension: a real 8 MiB filesystem holds ``root_dir``.

The filesystem is a real tmpfs mounted by the test (the suite runs as root; a fixture that
cannot mount fails, it does not skip), the server a real ``jupyter server`` process restarted
by the test, the origin a real HTTP server on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .jupyter_process import JupyterServerProcess
from .origin import Origin

MiB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path, small_disk: Path) -> Iterator[JupyterServerProcess]:
    process = JupyterServerProcess(tmp_path / "server")
    process.root = small_disk / "root"
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wait_job(client: httpx.Client, job_id: str, status: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"downloads/{job_id}").json()
        if job["status"] == status:
            return job
        assert time.monotonic() < deadline, f"job stayed {job['status']}: {job}"
        time.sleep(0.1)


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem is full (ENOSPC)."""
    filler = directory / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(block)
        except OSError:
            pass
    with open(filler, "ab", buffering=0) as handle:  # the last, partial block
        try:
            for _ in range(65536):
                handle.write(b"\0")
        except OSError:
            pass
    return filler


def part_files(root: Path) -> list[str]:
    partial = root / ".partial"
    return sorted(p.name for p in partial.rglob("*") if p.is_file()) if partial.exists() else []


def upload(client: httpx.Client, size: int) -> httpx.Response:
    files = {"file": ("data.bin", b"x" * size)}
    return client.post("files", files=files, data={"purpose": "batch"})


def assert_json_error_or_success(response: httpx.Response, what: str) -> None:
    assert response.status_code != 500, f"{what}: 500 {response.text}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"], what


def test_unknown_size_download_filling_the_disk_fails_durably(
    server: JupyterServerProcess, origin: Origin
) -> None:
    origin.add("endless.bin", 12 * MiB)
    origin.ranges = False
    origin.chunked = True  # no size anywhere: the engine learns it has no room only by writing
    with server.client() as client:
        created = client.post("downloads", json={"url": origin.url("endless.bin")})
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        job = wait_job(client, job_id, "failed")
        assert job["error"].startswith("no space left on device"), job["error"]
        assert "partial file was deleted" in job["error"]
        assert part_files(server.root) == []  # the space was freed
        assert client.get("downloads/partials").json()["data"] == []

        # While the disk is full, every route answers: reads work, writes say 507.
        filler = fill(server.root)
        try:
            refused = upload(client, 256 * 1024)
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error["code"] == "INSUFFICIENT_STORAGE"
            assert "needs" in error["message"] and "free" in error["message"]
            for path in ("files", "downloads", "models/download/status", "downloads/partials"):
                response = client.get(path)
                assert response.status_code == 200, (path, response.text)
            assert client.get(f"downloads/{job_id}").json()["status"] == "failed"
            origin.add("small.bin", 512 * 1024, seed=3)
            for what, response in (
                ("new download", client.post("downloads", json={"url": origin.url("small.bin")})),
                ("resume", client.post(f"downloads/{job_id}/resume")),
                ("cancel", client.post(f"downloads/{job_id}/cancel")),
                ("upload", upload(client, 64)),
            ):
                assert_json_error_or_success(response, what)
        finally:
            filler.unlink()
        for _ in range(100):  # a resumed job fails again for lack of space; let it settle
            statuses = {j["status"] for j in client.get("downloads").json()["data"]}
            if not statuses & {"queued", "downloading"}:
                break
            time.sleep(0.1)
        assert upload(client, 1024).status_code == 200  # space again: everything works
        before = {j["job_id"]: j["status"] for j in client.get("downloads").json()["data"]}
    assert "Task exception was never retrieved" not in server.log_path.read_text()

    # Recorded durably: a restart starts nothing by itself.
    seen = len(origin.requests)
    server.restart()
    time.sleep(2)
    with server.client() as client:
        after = {j["job_id"]: j["status"] for j in client.get("downloads").json()["data"]}
    assert after == before
    assert after[job_id] in ("failed", "cancelled")
    assert len(origin.requests) == seen  # nothing was fetched again
    assert part_files(server.root) == []


def test_what_cannot_fit_is_refused_before_writing(
    server: JupyterServerProcess, origin: Origin
) -> None:
    origin.add("big.bin", 12 * MiB)
    with server.client() as client:
        created = client.post("downloads", json={"url": origin.url("big.bin")})
        assert created.status_code == 202, created.text
        job = wait_job(client, created.json()["job_id"], "failed")
        assert job["error"].startswith("no space left on device"), job["error"]
        assert origin.data_requests() == []  # only the probe: no byte was fetched
        assert part_files(server.root) == []  # no 0-byte partial left behind
        assert client.get("downloads/partials").json()["data"] == []

        refused = upload(client, 10 * MiB)  # the declared size does not fit: refused at once
        assert refused.status_code == 507, refused.text
        message = refused.json()["error"]["message"]
        assert "10.0 MiB" in message and "free" in message
        assert client.get("files").json()["total"] == 0
        assert list((server.root / "files" / ".tmp").iterdir()) == []
