"""The Python client (sync and async) against the real Jupyter server, and server discovery."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles import errors
from jupyter_modelfiles.client import (
    AsyncModelFilesClient,
    ModelFilesClient,
    ServerNotFound,
    discover,
)

from ..origin import running_origin
from .conftest import Live

DISCOVERY_ENV = (
    "JUPYTER_MODELFILES_URL",
    "JUPYTER_MODELFILES_TOKEN",
    "JPY_PARENT_PID",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_SERVICE_URL",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in DISCOVERY_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def test_async_client_round_trip(live: Live, tmp_path: Path) -> None:
    data = write(tmp_path / "weights.bin", 3 * 1024 * 1024 + 5)
    seen: list[tuple[int, int | None]] = []
    async with AsyncModelFilesClient(live.url, live.token) as client:
        created = await client.upload_file(
            tmp_path / "weights.bin", "fine-tune", progress=lambda d, t: seen.append((d, t))
        )
        assert created["bytes"] == len(data)
        assert created["sha256"] == hashlib.sha256(data).hexdigest()
        assert created["purpose"] == "fine-tune"
        assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)

        assert await client.get_file(created["id"]) == created
        listing = await client.list_files(search="weights")
        assert [f["id"] for f in listing["data"]] == [created["id"]]
        assert listing["total"] == 1 and listing["has_more"] is False
        assert (await client.list_files(purpose="batch"))["data"] == []

        assert await client.file_content(created["id"], start=10, end=19) == data[10:20]
        target = await client.download_file(created["id"], tmp_path / "out")
        assert target.read_bytes() == data
        (tmp_path / "dir").mkdir()
        named = await client.download_file(created["id"], tmp_path / "dir")
        assert named == tmp_path / "dir" / "weights.bin"

        url = await client.file_url(created["id"], expiry=1)
        assert url.startswith(live.url) and "signature=" in url

        deleted = await client.delete_file(created["id"])
        assert deleted == {"id": created["id"], "object": "file", "deleted": True}
        with pytest.raises(errors.NotFound) as caught:
            await client.get_file(created["id"])
        assert caught.value.status == 404
        assert caught.value.code == "NOT_FOUND"
        assert created["id"] in caught.value.message


async def test_sync_client_round_trip_and_paging(live: Live, tmp_path: Path) -> None:
    for index in range(5):
        write(tmp_path / f"part-{index}.jsonl", 1000 + index)

    def scenario() -> dict[str, Any]:
        with ModelFilesClient(live.url, live.token) as client:
            ids = [
                client.upload_file(tmp_path / f"part-{i}.jsonl", "batch")["id"] for i in range(5)
            ]
            page0 = client.list_files(page=0, page_size=2, order="asc")
            every = [f["id"] for f in client.iter_files(page_size=2)]
            cursor = client.list_files(limit=2, after=page0["data"][1]["id"], order="asc")
            saved = client.download_file(ids[0], tmp_path / "copy.jsonl")
            return {"ids": ids, "page0": page0, "every": every, "cursor": cursor, "saved": saved}

    result = await asyncio.to_thread(scenario)
    ids = result["ids"]
    assert result["page0"]["total"] == 5 and result["page0"]["has_more"] is True
    assert sorted(result["every"]) == sorted(ids)
    assert len(result["cursor"]["data"]) == 2
    assert result["saved"].read_bytes() == (tmp_path / "part-0.jsonl").read_bytes()


async def test_upload_streams_from_disk_without_holding_the_file(
    live: Live, tmp_path: Path
) -> None:
    size = 48 * 1024 * 1024
    with open(tmp_path / "big.bin", "wb") as handle:
        handle.truncate(size)

    def upload() -> tuple[dict[str, Any], int]:
        tracemalloc.start()
        try:
            with ModelFilesClient(live.url, live.token) as client:
                created = client.upload_file(tmp_path / "big.bin")
            return created, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    created, peak = await asyncio.to_thread(upload)
    assert created["bytes"] == size
    # Bounded by a few 1 MiB chunks, never the whole 48 MiB file.
    assert peak < 12 * 1024 * 1024, peak


async def test_server_errors_become_project_errors(live: Live, tmp_path: Path) -> None:
    async with AsyncModelFilesClient(live.url, live.token) as client:
        with pytest.raises(errors.InvalidRequest) as bad:
            await client.list_files(purpose="no-such-purpose")
        assert bad.value.status == 400 and "purpose" in bad.value.message
        with pytest.raises(errors.InvalidRequest):
            await client.list_files(page_size=0)
        write(tmp_path / "f.bin", 100)
        created = await client.upload_file(tmp_path / "f.bin")
        with pytest.raises(errors.RangeNotSatisfiable) as ranged:
            await client.file_content(created["id"], start=500, end=600)
        assert ranged.value.status == 416
        with pytest.raises(errors.NotFound):
            await client.file_url("file-nope")
    async with AsyncModelFilesClient(live.url, "wrong-token") as intruder:
        with pytest.raises(errors.Forbidden) as denied:
            await intruder.list_files()
        assert denied.value.status in (401, 403)


async def test_clear_downloads_and_system_memory_routes(live: Live) -> None:
    """The routes of issue 14 through both clients: clear finished jobs, the machine's memory."""
    with running_origin() as origin:
        async with AsyncModelFilesClient(live.url, live.token) as client:
            job = await client.start_download(origin.url("not-there.bin"))
            final = await client.wait_download(job["job_id"], timeout=20)
            assert final["status"] == "failed" and isinstance(final["version"], int)
            with pytest.raises(errors.InvalidRequest):
                await client.clear_downloads(["downloading"])
            assert job["job_id"] in await client.clear_downloads(["failed"])
            with pytest.raises(errors.NotFound):
                await client.get_download(job["job_id"])
    with ModelFilesClient(live.url, live.token) as sync_client:  # the server runs in this loop
        memory = await asyncio.to_thread(sync_client.system_memory)
    assert 0 < memory["available_bytes"] <= memory["total_bytes"]
    assert memory["ram_budget_bytes"] > 0


async def test_unreachable_server_is_a_clear_error(clean_env: pytest.MonkeyPatch) -> None:
    async with AsyncModelFilesClient("http://127.0.0.1:9/", "t") as client:
        with pytest.raises(ServerNotFound) as caught:
            await client.list_files()
    assert "127.0.0.1:9" in str(caught.value) and "arguments" in str(caught.value)


def test_discovery_order(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ServerNotFound) as none:
        discover()
    message = str(none.value)
    for tried in ("JUPYTER_MODELFILES_URL", "JPY_PARENT_PID", "JUPYTERHUB_API_TOKEN"):
        assert tried in message

    clean_env.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    clean_env.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    clean_env.setenv("JUPYTERHUB_SERVICE_URL", "http://0.0.0.0:8890/user/ada/")
    hub = discover()
    assert hub.api_url == "http://127.0.0.1:8890/user/ada/modelfiles/"
    assert hub.token == "hub-token"

    # A jpserver-<pid>.json in the runtime dir, matched by JPY_PARENT_PID, wins over the Hub.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    info = {
        "url": "http://localhost:8123/base/",
        "token": "server-token",
        "pid": os.getpid(),
        "base_url": "/base/",
    }
    (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(info))
    clean_env.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    clean_env.setenv("JPY_PARENT_PID", str(os.getpid()))
    parent = discover()
    assert parent.api_url == "http://localhost:8123/base/modelfiles/"
    assert parent.token == "server-token"
    assert parent.events_url == "ws://localhost:8123/base/modelfiles/v1/events"

    clean_env.setenv("JUPYTER_MODELFILES_URL", "http://127.0.0.1:7000/x/modelfiles/")
    clean_env.setenv("JUPYTER_MODELFILES_TOKEN", "env-token")
    env = discover()
    assert (env.api_url, env.token) == ("http://127.0.0.1:7000/x/modelfiles/", "env-token")

    explicit = discover("http://h:1/", "t")
    assert (explicit.api_url, explicit.token, explicit.source) == (
        "http://h:1/modelfiles/",
        "t",
        "arguments",
    )


async def test_extension_exports_its_url_for_kernels(live: Live) -> None:
    assert os.environ["JUPYTER_MODELFILES_TOKEN"] == live.token
    assert os.environ["JUPYTER_MODELFILES_URL"].endswith("/modelfiles/")
    async with AsyncModelFilesClient() as client:  # found through the environment
        assert client.server.source == "JUPYTER_MODELFILES_URL"
        listing = await client.list_files()
    assert listing["object"] == "list"
