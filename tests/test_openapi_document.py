"""The OpenAPI document describes exactly what the server serves.

Routes: the extension's handler list and the documented paths are the same set, with the same
methods and path parameters. Fields: real responses from a running server validate against
their documented schemas with ``additionalProperties: false`` applied, so a field the server
sends but the document does not name fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from tornado.websocket import WebSocketHandler

from jupyter_modelfiles.handlers import default_handlers

from .conftest import body, eventually
from .hub_server import FakeHub, Repo, make_gguf
from .multipart import multipart
from .openapi_check import component_schema, document

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REPO = "org/strict-GGUF"
BIG = "strict.Q4_K_M.gguf"
SMALL = "strict.Q8_0.gguf"


# -- routes ------------------------------------------------------------------------------
def template(pattern: str) -> str:
    """A route regex as an OpenAPI path: ``(?P<model_id>.+)`` -> ``{model_id}``."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
    path = path.replace("\\.", ".").removesuffix("$").removesuffix("/?")
    assert path.startswith("/modelfiles/"), pattern
    assert not re.search(r"[()\[\]*+?\\$^|]", path), f"cannot normalise {pattern}"
    return path.removeprefix("/modelfiles")


def handler_methods(handler: type) -> set[str]:
    """The HTTP verbs a handler answers: those our own classes define (a WebSocket: GET)."""
    if issubclass(handler, WebSocketHandler):
        return {"get"}
    return {
        method
        for method in HTTP_METHODS
        if any(
            method in vars(cls)
            for cls in handler.__mro__
            if cls.__module__.startswith("jupyter_modelfiles")
        )
    }


def served() -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for pattern, handler, *_ in default_handlers:
        routes.setdefault(template(pattern), set()).update(handler_methods(handler))
    return routes


def documented() -> dict[str, set[str]]:
    return {
        path: {method for method in item if method in HTTP_METHODS}
        for path, item in document()["paths"].items()
    }


def test_served_routes_are_the_documented_paths() -> None:
    routes, paths = served(), documented()
    assert sorted(set(routes) - set(paths)) == [], "served but not documented"
    assert sorted(set(paths) - set(routes)) == [], "documented but not served"
    assert routes == paths  # and each path with the same methods


def test_path_parameters_match_the_templates() -> None:
    for path, item in document()["paths"].items():
        placeholders = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == placeholders, f"{method.upper()} {path}"


def test_every_operation_documents_the_auth_refusal() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            assert "403" in operation["responses"], f"{method.upper()} {path}"


def test_every_reference_resolves() -> None:
    schemas = document()["components"]["schemas"]
    text = json.dumps(document())
    for name in re.findall(r'"#/components/schemas/(\w+)"', text):
        assert name in schemas, name


# -- fields ------------------------------------------------------------------------------
@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    server = FakeHub()
    big = make_gguf(tmp_path / "big.gguf", extra_bytes=1_200_000).read_bytes()
    small = make_gguf(tmp_path / "small.gguf", quant_file_type=7).read_bytes()
    server.add(Repo(REPO, {BIG: big, SMALL: small, "config.json": b"{}"}, tags=["gguf"]))
    server.static["/files/custom.Q4_0.gguf"] = small
    yield server
    server.close()


@pytest.fixture
def modelfiles_config(hub: FakeHub, tmp_path: Path) -> dict[str, Any]:
    return {
        "hf_endpoint": hub.url,
        "hf_cache_dir": str(tmp_path / "hf-cache"),
        "download_rate_limit": 300_000,  # bytes/s: the big file takes ~4 s
        "connections_per_download": 1,
    }


def strictly(name: str, payload: Any) -> None:
    jsonschema.validate(payload, component_schema(name, strict=True))


async def test_file_objects_carry_only_documented_fields(strict_api: Any) -> None:
    data = b'{"a": 1}\n{"a": 2}\n'
    payload, content_type = multipart({"purpose": "batch"}, data, filename="in.jsonl")
    r = await strict_api("POST", "v1/files", body=payload, headers={"Content-Type": content_type})
    assert r.code == 200
    created = body(r)
    assert (await strict_api("GET", f"v1/files/{created['id']}")).code == 200
    listing = body(await strict_api("GET", "v1/files"))
    assert [f["id"] for f in listing["data"]] == [created["id"]]
    cursor = await strict_api("GET", "v1/files", params={"limit": "1", "order": "asc"})
    assert body(cursor)["first_id"] == created["id"]
    url = body(await strict_api("GET", f"v1/files/{created['id']}/url"))
    assert url["url"].startswith("http")
    deleted = body(await strict_api("DELETE", f"v1/files/{created['id']}"))
    assert deleted == {"id": created["id"], "object": "file", "deleted": True}


async def test_catalog_and_job_objects_carry_only_documented_fields(
    strict_api: Any, jp_ws_fetch: Any, hub: FakeHub
) -> None:
    enc = quote(REPO, safe="")
    snap = body(await strict_api("GET", f"v1/models/{enc}"))
    # The catalog's metadata, documented since this test first found it undocumented.
    for name in ("cpu", "architecture", "context_length", "organization_name", "revision"):
        assert name in snap, name
    assert snap["recommended_file"] == BIG
    listing = body(await strict_api("GET", "v1/models", params={"search": "strict"}))
    assert REPO in [m["id"] for m in listing["iterable"]]
    files = body(await strict_api("GET", f"v1/models/{enc}/files"))["data"]
    assert {f["id"] for f in files} == {BIG, SMALL}

    progress = await jp_ws_fetch("modelfiles", "v1", "models", enc, "download", "progress")
    events = await jp_ws_fetch("modelfiles", "v1", "events")
    try:
        r = await strict_api("PATCH", f"v1/models/{enc}/files/{BIG}", json={"action": "start"})
        assert r.code == 200 and body(r)["data"]["status"] == "in_progress"

        async def moving() -> dict[str, Any] | None:
            data = body(await strict_api("GET", f"v1/models/{REPO}/files/{BIG}"))["data"]
            done = (data["downloadStatus"].get("progress") or {}).get("transferredBytes", 0)
            return data if done > 0 else None

        await eventually(moving, timeout=30)
        snap = body(await strict_api("GET", f"v1/models/{REPO}"))
        assert snap["downloading"] is True
        assert [j["status"] for j in snap["jobs"]] == ["downloading"]
        job_id = snap["jobs"][0]["job_id"]
        groups = body(await strict_api("GET", "v1/models/download/status"))
        assert [j["job_id"] for j in groups["downloading"]] == [job_id]
        assert "bytes_per_second" in groups["downloading"][0]

        r = await strict_api("PATCH", f"v1/models/{REPO}/files/{BIG}", json={"action": "pause"})
        assert body(r)["data"]["status"] == "paused" and body(r)["data"]["progress"]["paused"]
        groups = body(await strict_api("GET", "v1/models/download/status"))
        assert [j["job_id"] for j in groups["paused"]] == [job_id]
        assert (await strict_api("GET", f"v1/models/download/status/{job_id}")).code == 200
        r = await strict_api("PATCH", f"v1/models/{REPO}/files/{BIG}", json={"action": "resume"})
        assert body(r)["data"]["status"] == "in_progress"

        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["status"] != "COMPLETED":
            messages.append(json.loads(await asyncio.wait_for(progress.read_message(), 30)))
        for message in messages:
            strictly("ModelDownloadProgress", message)
        assert {m["job_id"] for m in messages} == {job_id}
        changes = [json.loads(await asyncio.wait_for(events.read_message(), 5))]
        for change in changes:
            strictly("Event", change)
    finally:
        progress.close()
        events.close()

    async def completed() -> bool:
        status = body(await strict_api("GET", f"v1/models/download/status/{job_id}"))
        return status["status"] == "completed"

    await eventually(completed, timeout=30, interval=0.05)
    groups = body(await strict_api("GET", "v1/models/download/status"))
    assert [j["job_id"] for j in groups["completed"]] == [job_id]
    assert "completed_at" in groups["completed"][0]
    data = body(await strict_api("GET", f"v1/models/{REPO}/files/{BIG}"))["data"]
    assert data["isDownloaded"] is True and data["downloadStatus"]["localPath"]
    again = body(await strict_api("POST", "v1/models/download", json={"model": REPO}))
    assert again["status"] == "already_downloaded"
    job = body(
        await strict_api("POST", "v1/models/download", json={"model": REPO, "quantization": "Q8_0"})
    )
    assert job["status"] in ("queued", "downloading", "completed")
    jobs = body(await strict_api("GET", "v1/downloads"))["data"]
    assert {j["job_id"] for j in jobs} >= {job_id, job["job_id"]}

    loaded = body(await strict_api("POST", f"v1/models/{enc}/load"))
    assert loaded["loaded"] is True and loaded["pid"] and loaded["loaded_at"]
    snap = body(await strict_api("GET", f"v1/models/{enc}"))
    assert snap["downloaded"] is True and snap["loaded"] is True
    assert snap["architecture"] == "llama" and snap["context_length"] == 2048
    unloaded = body(await strict_api("POST", f"v1/models/{enc}/unload"))
    assert unloaded["loaded"] is False
    deleted = body(await strict_api("DELETE", f"v1/models/{REPO}/files/{BIG}"))["data"]
    assert deleted["isDownloaded"] is False


async def test_custom_model_objects_carry_only_documented_fields(
    strict_api: Any, hub: FakeHub
) -> None:
    r = await strict_api(
        "POST",
        "v1/models",
        json={
            "id": "team/custom",
            "name": "Custom",
            "description": "registered by URL",
            "files": [{"url": f"{hub.url}/files/custom.Q4_0.gguf"}],
        },
    )
    assert r.code == 201, r.body
    assert body(r)["custom"] is True and body(r)["source"] == "custom"
    r = await strict_api(
        "POST", "v1/models/update", json={"id": "team/custom", "description": "renamed"}
    )
    assert r.code == 200 and body(r)["description"] == "renamed"
    r = await strict_api("DELETE", "v1/models/team/custom", params={"forget": "true"})
    assert body(r) == {"id": "team/custom", "deleted": True}
