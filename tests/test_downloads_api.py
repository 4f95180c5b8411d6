"""Download jobs through the real Jupyter server: routes, seeds' fields, control, WebSockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.websocket

from jupyter_modelfiles.downloads import DownloadRequest

from .conftest import body, eventually
from .origin import Origin

MiB = 1024 * 1024

# The seed (LM Studio) fields per status, plus ours.
OURS = {"error", "model_id", "file", "url", "sha256", "version"}
SEED_FIELDS = {
    "downloading": {
        "job_id",
        "status",
        "downloaded_bytes",
        "total_size_bytes",
        "started_at",
        "bytes_per_second",
        "estimated_completion",
    },
    "completed": {
        "job_id",
        "status",
        "downloaded_bytes",
        "total_size_bytes",
        "started_at",
        "completed_at",
    },
    "failed": {"job_id", "status", "downloaded_bytes", "total_size_bytes", "started_at"},
    "paused": {"job_id", "status", "downloaded_bytes", "total_size_bytes", "started_at"},
}


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    return {"connections_per_download": 2, "download_stall_timeout": 2.0}


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as server:
        yield server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def wait_status(api: Any, job_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        response = await api("GET", f"v1/downloads/{job_id}")
        found.update(body(response))
        return found["status"] == status

    for _ in range(int(timeout / 0.05)):
        if await check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} is {found.get('status')}, not {status}: {found}")


async def test_url_download_lands_in_files_store(api: Any, origin: Origin) -> None:
    data = origin.add("data.jsonl", 3 * MiB + 7)
    response = await api(
        "POST",
        "v1/downloads",
        json={"url": origin.url("data.jsonl"), "sha256": sha(data), "purpose": "batch"},
    )
    assert response.code == 202
    job = body(response)
    assert job["job_id"].startswith("job_")
    done = await wait_status(api, job["job_id"], "completed")
    assert done["sha256"] == sha(data)
    assert done["downloaded_bytes"] == done["total_size_bytes"] == len(data)
    file_id = done["hook_args"]["file_id"]
    stored = body(await api("GET", f"v1/files/{file_id}"))
    assert stored["filename"] == "data.jsonl" and stored["purpose"] == "batch"
    assert stored["sha256"] == sha(data) and stored["source"] == "download"
    content = await api("GET", f"v1/files/{file_id}/content")
    assert content.body == data

    status = body(await api("GET", f"v1/models/download/status/{job['job_id']}"))
    assert set(status) == SEED_FIELDS["completed"] | OURS
    assert status["completed_at"].endswith("Z") and status["started_at"].endswith("Z")
    groups = body(await api("GET", "v1/models/download/status"))
    assert [j["job_id"] for j in groups["completed"]] == [job["job_id"]]
    assert groups["downloading"] == groups["paused"] == groups["failed"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"url": "ftp://example.org/file"},
        {"url": "file:///etc/passwd"},
        {"url": "http://127.0.0.1/x", "sha256": "abc"},
        {"url": "http://127.0.0.1/x", "filename": "../evil"},
        {"url": "http://127.0.0.1/x", "purpose": "nonsense"},
    ],
)
async def test_bad_download_requests_are_400(api: Any, payload: dict[str, Any]) -> None:
    response = await api("POST", "v1/downloads", json=payload)
    assert response.code == 400
    assert body(response)["error"]["code"] == "INVALID_REQUEST"


async def test_unknown_job_is_404(api: Any) -> None:
    for path in ("v1/downloads/job_nope", "v1/models/download/status/job_nope"):
        response = await api("GET", path)
        assert response.code == 404
    assert (await api("POST", "v1/downloads/job_nope/pause")).code == 404


async def test_checksum_mismatch_fails_with_clear_error(api: Any, origin: Origin) -> None:
    origin.add("f.bin", 1 * MiB)
    job = body(
        await api("POST", "v1/downloads", json={"url": origin.url("f.bin"), "sha256": "ab" * 32})
    )
    failed = await wait_status(api, job["job_id"], "failed")
    assert failed["error"].startswith(f"checksum mismatch: expected {'ab' * 32} got ")
    status = body(await api("GET", f"v1/models/download/status/{job['job_id']}"))
    assert set(status) == SEED_FIELDS["failed"] | OURS
    assert body(await api("GET", "v1/files"))["data"] == []


async def test_same_target_twice_is_one_job(api: Any, origin: Origin) -> None:
    data = origin.add("same.bin", 2 * MiB)
    origin.rate = 1 * MiB
    first = body(await api("POST", "v1/downloads", json={"url": origin.url("same.bin")}))
    second = body(await api("POST", "v1/downloads", json={"url": origin.url("same.bin")}))
    assert first["job_id"] == second["job_id"]
    jobs = body(await api("GET", "v1/downloads"))["data"]
    assert len(jobs) == 1
    origin.rate = None
    done = await wait_status(api, first["job_id"], "completed")
    assert done["sha256"] == sha(data)


async def test_pause_resume_cancel(api: Any, origin: Origin, services: Any) -> None:
    data = origin.add("big.bin", 6 * MiB)
    origin.rate = 1 * MiB  # per connection: about 3 s in all
    job = body(await api("POST", "v1/downloads", json={"url": origin.url("big.bin")}))
    job_id = job["job_id"]
    await eventually(
        lambda: services.downloads._jobs[job_id].downloaded_bytes > 256 * 1024, timeout=10
    )
    live = body(await api("GET", f"v1/models/download/status/{job_id}"))
    assert live["status"] == "downloading"
    assert set(live) <= SEED_FIELDS["downloading"] | OURS
    assert live["bytes_per_second"] > 0

    paused = await api("POST", f"v1/downloads/{job_id}/pause")
    assert paused.code == 200 and body(paused)["status"] == "paused"
    held = body(paused)["downloaded_bytes"]
    await asyncio.sleep(0.5)
    status = body(await api("GET", f"v1/models/download/status/{job_id}"))
    assert set(status) == SEED_FIELDS["paused"] | OURS
    assert status["downloaded_bytes"] == held and 0 < held < len(data)
    part = services.downloads.partial_dir / f"{job_id}.part"
    assert part.exists()  # pause keeps the partial data
    groups = body(await api("GET", "v1/models/download/status"))
    assert [j["job_id"] for j in groups["paused"]] == [job_id]
    assert (await api("POST", f"v1/downloads/{job_id}/pause")).code == 200  # idempotent

    origin.requests.clear()
    origin.rate = None
    resumed = await api("POST", f"v1/downloads/{job_id}/resume")
    assert resumed.code == 200 and body(resumed)["status"] in ("queued", "downloading")
    done = await wait_status(api, job_id, "completed")
    assert done["sha256"] == sha(data)
    fetched = sum(
        int(r["range"].split("-")[1]) - int(r["range"][6:].split("-")[0]) + 1
        for r in origin.data_requests()
    )
    assert fetched <= len(data) - held  # resumed, not restarted
    assert (await api("POST", f"v1/downloads/{job_id}/pause")).code == 409
    assert (await api("POST", f"v1/downloads/{job_id}/cancel")).code == 409

    origin.rate = 1 * MiB
    other = body(
        await api(
            "POST", "v1/downloads", json={"url": origin.url("big.bin"), "filename": "copy.bin"}
        )
    )
    await eventually(lambda: (services.downloads.partial_dir / f"{other['job_id']}.part").exists())
    cancelled = await api("POST", f"v1/downloads/{other['job_id']}/cancel")
    assert cancelled.code == 200 and body(cancelled)["status"] == "cancelled"
    assert not (services.downloads.partial_dir / f"{other['job_id']}.part").exists()
    assert not (services.downloads.partial_dir / f"{other['job_id']}.journal").exists()
    assert (await api("POST", f"v1/downloads/{other['job_id']}/resume")).code == 409


async def test_every_state_carries_an_increasing_version(
    api: Any, jp_ws_fetch: Any, origin: Origin
) -> None:
    """A download that fails at once: its failed event may beat the POST reply to the client;
    the version tells the client which of the two states is newer."""
    events = await jp_ws_fetch("modelfiles", "v1", "events")
    reply = body(await api("POST", "v1/downloads", json={"url": origin.url("missing.gguf")}))
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["status"] != "failed":
        message = json.loads(await asyncio.wait_for(events.read_message(), 20))
        if message["topic"] == "job" and message["key"] == reply["job_id"]:
            seen.append(message["data"])
    versions = [state["version"] for state in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert isinstance(reply["version"], int) and reply["version"] < versions[-1]
    status = body(await api("GET", f"v1/models/download/status/{reply['job_id']}"))
    assert status["status"] == "failed" and status["version"] == versions[-1]
    # a retry is a newer state again, and so is every state after it
    retried = body(await api("POST", f"v1/downloads/{reply['job_id']}/resume"))
    assert retried["version"] > versions[-1]
    cancelled = body(await api("POST", f"v1/downloads/{reply['job_id']}/cancel"))
    assert cancelled["version"] > retried["version"]
    events.close()


async def test_clear_finished_jobs(api: Any, jp_ws_fetch: Any, origin: Origin) -> None:
    data = origin.add("done.bin", 1000)
    done = body(await api("POST", "v1/downloads", json={"url": origin.url("done.bin")}))
    failed = body(await api("POST", "v1/downloads", json={"url": origin.url("nothing.bin")}))
    origin.add("slow.bin", 4 * MiB)
    origin.rate = 200_000
    live = body(await api("POST", "v1/downloads", json={"url": origin.url("slow.bin")}))

    async def status(job_id: str) -> str:
        return body(await api("GET", f"v1/models/download/status/{job_id}"))["status"]

    for job_id, wanted in ((done["job_id"], "completed"), (failed["job_id"], "failed")):
        for _ in range(200):
            if await status(job_id) == wanted:
                break
            await asyncio.sleep(0.05)
        assert await status(job_id) == wanted
    assert len(data) == 1000
    bad = await api("POST", "v1/downloads/clear", json={"status": ["downloading"]})
    assert bad.code == 400 and body(bad)["error"]["message"].startswith("only completed")
    events = await jp_ws_fetch("modelfiles", "v1", "events")
    cleared = body(await api("POST", "v1/downloads/clear"))
    assert sorted(cleared["cleared"]) == sorted([done["job_id"], failed["job_id"]])
    message = json.loads(await asyncio.wait_for(events.read_message(), 10))
    assert message["topic"] == "job" and message["data"]["cleared"] is True
    assert (await api("GET", f"v1/models/download/status/{done['job_id']}")).code == 404
    groups = body(await api("GET", "v1/models/download/status"))
    assert groups["completed"] == groups["failed"] == []
    assert [j["job_id"] for j in groups["downloading"] + groups["queued"]] == [live["job_id"]]
    await api("POST", f"v1/downloads/{live['job_id']}/cancel")
    events.close()


async def test_orphaned_partials_are_listed_and_deleted(api: Any, services: Any) -> None:
    partial_dir: Path = services.downloads.partial_dir
    partial_dir.mkdir(parents=True, exist_ok=True)
    (partial_dir / "job_0123456789.part").write_bytes(b"x" * 1000)
    (partial_dir / "job_0123456789.journal").write_text(
        json.dumps({"version": 1, "url": "http://x/", "size": 1000, "done": [[0, 400]]})
    )
    listed = body(await api("GET", "v1/downloads/partials"))["data"]
    assert [p["name"] for p in listed] == ["job_0123456789.part"]
    assert listed[0]["downloaded_bytes"] == 400
    for bad in ("..", ".hidden", "a%2F..%2Fb"):
        assert (await api("DELETE", f"v1/downloads/partials/{bad}")).code in (400, 404)
    assert (await api("DELETE", "v1/downloads/partials/job_missing.part")).code == 404
    deleted = await api("DELETE", "v1/downloads/partials/job_0123456789.part")
    assert deleted.code == 200
    assert list(partial_dir.glob("job_0123456789*")) == []
    assert body(await api("GET", "v1/downloads/partials"))["data"] == []


async def test_events_and_model_progress_websockets(
    jp_ws_fetch: Any,
    services: Any,
    origin: Origin,
    tmp_path: Path,
    server_url: str,
    token: str,
) -> None:
    data = origin.add("w.gguf", 2 * MiB)
    events = await jp_ws_fetch("modelfiles", "v1", "events")
    raw = await jp_ws_fetch("modelfiles", "v1", "models", "org/name", "download", "progress")
    encoded_url = (
        server_url.replace("http", "ws") + "modelfiles/v1/models/org%2Fname/download/progress"
    )
    encoded = await tornado.websocket.websocket_connect(
        tornado.httpclient.HTTPRequest(encoded_url, headers={"Authorization": f"token {token}"})
    )
    job = await services.downloads.submit(
        DownloadRequest(
            url=origin.url("w.gguf"),
            dest=tmp_path / "w.gguf",
            sha256=sha(data),
            model_id="org/name",
            file="w.gguf",
        )
    )

    async def until_done(ws: Any) -> list[dict[str, Any]]:
        seen = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.read_message(), 20))
            seen.append(message)
            if (
                message.get("status") == "COMPLETED"
                or message.get("data", {}).get("status") == "completed"
            ):
                return seen

    for ws in (raw, encoded):
        progress = await until_done(ws)
        assert all(m["job_id"] == job.job_id and m["model_id"] == "org/name" for m in progress)
        assert progress[-1]["percentage"] == 100.0
        assert all(0 <= m["percentage"] <= 100 for m in progress)
    changes = await until_done(events)
    assert {m["topic"] for m in changes} == {"job"}
    assert set(changes[-1]) == {"topic", "key", "time", "data"}
    assert changes[-1]["data"]["sha256"] == sha(data)
    assert (tmp_path / "w.gguf").read_bytes() == data
    for ws in (events, raw, encoded):
        ws.close()


async def test_estimated_completion_is_there_from_the_first_report(
    api: Any, origin: Origin, jp_ws_fetch: Any
) -> None:
    """Every report of a downloading job carries estimated_completion, the very first ones
    included: null only while the size or any byte is still unknown (issue 12, item 11)."""
    origin.rate = 512 * 1024  # 2 MiB take about 4 s
    data = origin.add("eta.gguf", 2 * MiB)
    events = await jp_ws_fetch("modelfiles", "v1", "events")
    r = await api("POST", "v1/downloads", json={"url": origin.url("eta.gguf"), "sha256": sha(data)})
    job_id = body(r)["job_id"]
    reports: list[dict[str, Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(events.read_message(), 20))
        status = message.get("data", {})
        if status.get("job_id") != job_id:
            continue
        if status["status"] != "downloading":
            if reports or status["status"] not in ("queued",):
                break
            continue
        reports.append(status)
        polled = body(await api("GET", f"v1/models/download/status/{job_id}"))
        if polled["status"] == "downloading":
            reports.append(polled)
    events.close()
    assert reports
    for report in reports:
        assert "estimated_completion" in report, report
        known = report["downloaded_bytes"] > 0 and report["total_size_bytes"] > 0
        assert (report["estimated_completion"] is not None) == known, report
