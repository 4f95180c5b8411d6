"""``POST v1/models/{model_id}/load`` and ``/unload`` through the real Jupyter server.

The catalog is the server's own: a YAML manifest lists the models (their URLs are never
fetched) and the test puts the files where the catalog keeps downloaded files
(``<root>/models/<model key>/<file>``); Hub-shaped unknown ids reach a local fake Hub (404).
The catalog resolves an id to its format and local files (404 unknown, 409 not downloaded),
the runtime loads them in a worker process, and both answer with the model snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from jupyter_modelfiles.catalog.local import model_key

from .conftest import body
from .hub_server import FakeHub
from .model_files import MiB, make_gguf, make_onnx, make_safetensors
from .openapi_check import validate_response

SIZE = 24 * MiB
BUDGET = 400 * MiB
NOWHERE = "http://127.0.0.1:9"  # manifest URLs: the files are placed, never downloaded

#: Model id -> (its file's name, the key of ``files`` placed as that file, or ``None``).
MODELS: dict[str, tuple[str, str | None]] = {
    "org/tiny-gguf": ("tiny-q8.gguf", "gguf"),
    "org/tiny-safetensors": ("model.safetensors", "safetensors"),
    "tiny-onnx": ("model.onnx", "onnx"),
    "org/huge": ("huge.gguf", "huge"),
    "org/pickled": ("pytorch_model.bin", "pickle"),
    "org/remote-only": ("remote.gguf", None),
    "org/broken": ("broken.gguf", None),  # placed by the crash test
}


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub()  # knows no repository: Hub-shaped unknown ids are 404
    yield server
    server.close()


@pytest.fixture
def modelfiles_config(tmp_path: Path, hub: FakeHub) -> dict[str, Any]:
    manifest = tmp_path / "runtime-models.yaml"
    models = [
        {
            "id": model_id,
            "name": model_id.rsplit("/", 1)[-1],
            "files": [{"url": f"{NOWHERE}/{name}"}],
        }
        for model_id, (name, _) in MODELS.items()
    ]
    manifest.write_text(yaml.safe_dump({"models": models}))
    return {
        "ram_budget": BUDGET,
        "unload_after": 600,
        "manifests": [str(manifest)],
        "hf_endpoint": hub.url,
        "hf_cache_dir": str(tmp_path / "hf-cache"),
    }


def place(services: Any, model_id: str, source: Path) -> Path:
    """Put ``source`` where the catalog keeps the downloaded file of ``model_id``."""
    link = services.catalog.models_dir / model_key(model_id) / MODELS[model_id][0]
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, link)
    return link


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("api-models")
    huge = root / "huge.gguf"
    with huge.open("wb") as f:  # sparse: larger than the budget on paper only
        f.truncate(BUDGET + 100 * MiB)
    pickled = root / "pytorch_model.bin"
    pickled.write_bytes(b"\x80\x04K\x01.")
    return {
        "gguf": make_gguf(root / "tiny-q8.gguf", SIZE),
        "safetensors": make_safetensors(root / "model.safetensors", SIZE),
        "onnx": make_onnx(root / "model.onnx", SIZE),
        "huge": huge,
        "pickle": pickled,
    }


@pytest.fixture
def catalog(services: Any, files: dict[str, Path]) -> Any:
    """The server's catalog, with the files of every model but the remote-only one placed."""
    for model_id, (_, key) in MODELS.items():
        if key is not None:
            place(services, model_id, files[key])
    return services.catalog


def server_total_rss() -> int:
    me = psutil.Process()
    return me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))


async def test_load_and_unload_through_the_api(api: Any, services: Any, catalog: Any) -> None:
    assert services.runtime.ram_budget_bytes == BUDGET
    assert services.runtime.unload_after == 600
    before = server_total_rss()
    response = await api("POST", "v1/models/org/tiny-gguf/load")
    assert response.code == 200, response.body
    loaded = body(response)
    assert loaded["id"] == "org/tiny-gguf" and loaded["loaded"] is True
    assert loaded["loaded_rss_bytes"] > SIZE and loaded["load_time_ms"] > 0
    assert psutil.pid_exists(loaded["pid"]) and loaded["pid"] != psutil.Process().pid
    loaded_total = server_total_rss()
    assert loaded_total - before > SIZE

    again = body(await api("POST", "v1/models/org/tiny-gguf/load"))
    assert again["pid"] == loaded["pid"]  # idempotent

    unloaded = body(await api("POST", "v1/models/org/tiny-gguf/unload"))
    assert unloaded["loaded"] is False and unloaded["loaded_rss_bytes"] == 0
    assert services.runtime.info("org/tiny-gguf") is None
    assert loaded_total - server_total_rss() > SIZE
    # unloading what is not loaded is fine
    assert body(await api("POST", "v1/models/org/tiny-gguf/unload"))["loaded"] is False


async def test_every_format_and_encoded_ids(
    api: Any, server_url: str, token: str, services: Any, catalog: Any
) -> None:
    # (``api`` starts the HTTP server; raw httpx keeps ``%2F`` as sent)
    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(base_url=server_url, headers=headers, timeout=60) as http:
        for raw in ("org%2Ftiny-safetensors", "tiny-onnx"):
            path = f"modelfiles/v1/models/{raw}/load"
            response = await http.post(path)
            assert response.status_code == 200, response.text
            validate_response(f"/v1/models/{raw}/load", "post", 200, response.json())
            snapshot = response.json()
            assert snapshot["id"] == raw.replace("%2F", "/") and snapshot["loaded"] is True
        loaded = {m["id"]: m for m in services.runtime.loaded()}
        assert set(loaded) == {"org/tiny-safetensors", "tiny-onnx"}
        assert loaded["tiny-onnx"]["format"] == "onnx"
        response = await http.post("modelfiles/v1/models/org%2Ftiny-safetensors/unload")
        assert response.status_code == 200 and response.json()["loaded"] is False
        response = await http.post("modelfiles/v1/models/tiny-onnx/unload")
        assert response.json()["loaded"] is False
    assert services.runtime.loaded() == []


async def test_the_catalog_snapshot_is_returned_with_the_runtime_fields(
    api: Any, services: Any, catalog: Any
) -> None:
    try:
        snapshot = body(await api("POST", "v1/models/org/tiny-safetensors/load"))
        assert snapshot["name"] == "tiny-safetensors" and snapshot["downloaded"] is True
        assert snapshot["loaded"] is True and snapshot["loaded_rss_bytes"] > SIZE
        # the catalog's own snapshot shows the runtime's state too
        seen = body(await api("GET", "v1/models/org/tiny-safetensors"))
        assert seen["loaded"] is True and seen["loaded_rss_bytes"] > SIZE
        listed = body(await api("GET", "v1/models", params={"loaded": "true"}))
        assert [m["id"] for m in listed["iterable"]] == ["org/tiny-safetensors"]
        snapshot = body(await api("POST", "v1/models/org/tiny-safetensors/unload"))
        assert snapshot["loaded"] is False and snapshot["cloud"] is False
        seen = body(await api("GET", "v1/models/org/tiny-safetensors"))
        assert seen["loaded"] is False and seen["loaded_rss_bytes"] == 0
        unknown = await api("POST", "v1/models/org/nope/unload")
        assert unknown.code == 404 and body(unknown)["error"]["code"] == "NOT_FOUND"
    finally:
        await services.runtime.unload("org/tiny-safetensors")


@pytest.mark.parametrize(
    ("model_id", "status", "code", "words"),
    [
        ("org/unknown", 404, "NOT_FOUND", "no model"),
        ("org/remote-only", 409, "CONFLICT", "download it first"),
        ("org/huge", 409, "CONFLICT", "RAM budget"),
        ("org/pickled", 422, "UNSAFE_FORMAT", "pickle"),
    ],
)
async def test_loads_that_cannot_happen_fail_clearly(
    api: Any, services: Any, catalog: Any, model_id: str, status: int, code: str, words: str
) -> None:
    response = await api("POST", f"v1/models/{model_id}/load")
    assert response.code == status, response.body
    error = body(response)["error"]
    assert error["code"] == code and words in error["message"]
    assert services.runtime.loaded() == []


async def test_a_crashing_load_leaves_the_server_up(
    api: Any, services: Any, catalog: Any, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    place(services, "org/broken", broken)
    response = await api("POST", "v1/models/org/broken/load")
    assert response.code == 422
    assert body(response)["error"]["code"] == "LOAD_FAILED"
    # the server answers and loads another model
    response = await api("POST", "v1/models/org/tiny-gguf/load")
    assert response.code == 200 and body(response)["loaded"] is True
    await api("POST", "v1/models/org/tiny-gguf/unload")


async def test_a_model_the_catalog_does_not_know_is_a_clear_404(
    api: Any, services: Any, catalog: Any
) -> None:
    response = await api("POST", "v1/models/anything/load")
    assert response.code == 404
    assert "catalog" in body(response)["error"]["message"]
    assert services.runtime.loaded() == []


async def test_system_memory_tells_the_views_what_fits(api: Any) -> None:
    memory = body(await api("GET", "v1/system/memory"))
    real = psutil.virtual_memory()
    assert memory["total_bytes"] == real.total
    assert 0 < memory["available_bytes"] <= memory["total_bytes"]
    assert memory["ram_budget_bytes"] == BUDGET
