"""Model downloads driven through the catalog routes on the real download manager:
pause/resume/cancel of a slow (rate-limited) download, gated repos, delete while downloading."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from huggingface_hub import try_to_load_from_cache

from jupyter_modelfiles.catalog.hub import HubSource

from .anaconda_schema import MODEL_FILE
from .conftest import body
from .hub_server import FakeHub, Repo, make_gguf

REPO = "org/slow-GGUF"
BIG = "slow.Q4_K_M.gguf"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    server = FakeHub()
    big = make_gguf(tmp_path / "big.gguf", extra_bytes=1_500_000).read_bytes()
    small = make_gguf(tmp_path / "small.gguf", quant_file_type=7).read_bytes()
    server.add(Repo(REPO, {BIG: big}, tags=["gguf"]))
    server.add(Repo("org/gated", {"gated.Q8_0.gguf": small}, gated=True, tags=["gguf"]))
    yield server
    server.close()


@pytest.fixture
def modelfiles_config(hub: FakeHub, tmp_path: Path) -> dict[str, Any]:
    return {
        "hf_endpoint": hub.url,
        "hf_cache_dir": str(tmp_path / "hf-cache"),
        "download_rate_limit": 300_000,  # bytes/s: the 1.5 MB file takes ~5 s
        "connections_per_download": 1,
    }


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


async def test_pause_resume_and_cancel_through_the_model_routes(api: Any, services: Any) -> None:
    enc = quote(REPO, safe="")
    r = await api("POST", f"v1/models/{enc}/download", json={"files": [BIG]})
    assert r.code == 200, r.body
    snap = body(r)
    assert snap["downloading"] is True and snap["downloaded"] is False
    assert [j["file"] for j in snap["jobs"]] == [BIG]

    async def moving() -> bool:
        f = body(await api("GET", f"v1/models/{REPO}/files/{BIG}"))["data"]
        progress = f["downloadStatus"].get("progress") or {}
        return progress.get("transferredBytes", 0) > 0

    await until(moving)
    r = await api("PATCH", f"v1/models/{REPO}/files/{BIG}", json={"action": "pause"})
    assert r.code == 200, r.body
    status = body(r)["data"]
    assert status["status"] == "paused" and status["progress"]["paused"] is True
    f = body(await api("GET", f"v1/models/{enc}/files/{BIG}"))["data"]
    jsonschema.validate(f, MODEL_FILE)
    assert f["downloadStatus"]["status"] == "paused"
    assert 0 < f["downloadStatus"]["progress"]["downloadedRatio"] < 1
    # the time and speed of a paused download stand still (issue 12, item 9)
    paused = f["downloadStatus"]["progress"]
    await asyncio.sleep(1.2)
    again = body(await api("GET", f"v1/models/{enc}/files/{BIG}"))["data"]["downloadStatus"]
    assert again["progress"] == paused
    assert paused["downloadTimeTaken"] > 0 and paused["averageMbps"] > 0

    r = await api("PATCH", f"v1/models/{REPO}/files/{BIG}", json={"action": "resume"})
    assert r.code == 200 and body(r)["data"]["status"] == "in_progress"

    r = await api("POST", f"v1/models/{REPO}/download/cancel")
    assert r.code == 200
    snap = body(r)
    assert snap["downloading"] is False and snap["downloaded"] is False
    assert {j["status"] for j in snap["jobs"]} == {"cancelled"}
    f = body(await api("GET", f"v1/models/{REPO}/files/{BIG}"))["data"]
    assert f["downloadStatus"]["status"] == "not_started" and f["isDownloaded"] is False
    assert "progress" not in f["downloadStatus"]  # a cancelled download starts from nothing
    r = await api("PATCH", f"v1/models/{REPO}/files/{BIG}", json={"action": "resume"})
    assert r.code == 409  # nothing left to resume
    assert try_to_load_from_cache(REPO, BIG, cache_dir=str(services.catalog.hf_cache_dir)) is None
    assert not list((services.catalog.hf_cache_dir / "models--org--slow-GGUF").glob("blobs/*"))


async def test_delete_while_downloading_cancels(api: Any, services: Any) -> None:
    r = await api("POST", f"v1/models/{REPO}/download")
    assert r.code == 200 and body(r)["downloading"] is True
    r = await api("DELETE", f"v1/models/{REPO}")
    assert r.code == 200
    jobs = await services.downloads.list_jobs(model_id=REPO)
    assert jobs and all(j.status == "cancelled" for j in jobs)


async def test_gated_repo_needs_a_token(api: Any, services: Any, hub: FakeHub) -> None:
    r = await api("POST", "v1/models/org/gated/download")
    assert r.code == 403
    error = body(r)["error"]
    assert error["code"] == "GATED_REPO" and "HF_TOKEN" in error["message"]
    assert await services.downloads.list_jobs(model_id="org/gated") == []

    services.catalog.hub = HubSource(hub.url, token="hf_good_token")
    r = await api("POST", "v1/models/org%2Fgated/download")
    assert r.code == 200, r.body

    async def done() -> bool:
        return body(await api("GET", "v1/models/org/gated"))["downloaded"]

    await until(done)
    assert try_to_load_from_cache(
        "org/gated", "gated.Q8_0.gguf", cache_dir=str(services.catalog.hf_cache_dir)
    )


async def test_downloaded_hub_model_works_offline(api: Any, services: Any, hub: FakeHub) -> None:
    services.catalog.hub = HubSource(hub.url, token="hf_good_token")
    assert (await api("POST", "v1/models/org/gated/download")).code == 200

    async def done() -> bool:
        return body(await api("GET", "v1/models/org/gated"))["downloaded"]

    await until(done)
    # The Hub goes away: the downloaded model is still listed, described and loadable.
    services.catalog.hub = HubSource("http://127.0.0.1:9", token=None)
    services.catalog.enricher.cache.clear()
    r = await api("GET", "v1/models/org%2Fgated")
    assert r.code == 200 and body(r)["downloaded"] is True
    listing = body(await api("GET", "v1/models", params={"downloaded": "true"}))
    assert [m["id"] for m in listing["iterable"]] == ["org/gated"]
    fmt, paths = await services.catalog.resolve_local("org/gated")
    assert (
        fmt == "gguf" and paths[0].read_bytes() == hub.repos["org/gated"].files["gated.Q8_0.gguf"]
    )
    r = await api("GET", "v1/models/org/other")
    assert r.code == 404 and "could not be asked" in body(r)["error"]["message"]
