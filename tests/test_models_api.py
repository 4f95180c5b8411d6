"""The model catalog routes on a real Jupyter server, against a local Hub and manifests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from huggingface_hub import hf_hub_download, try_to_load_from_cache

from jupyter_modelfiles.catalog.hub import HubSource
from jupyter_modelfiles.errors import Conflict

from .anaconda_schema import FILES_RESPONSE, MODEL_FILE
from .conftest import body
from .hub_server import FakeHub, Repo, make_gguf, make_safetensors

REPO = "org/tiny-GGUF"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    server = FakeHub()
    gen = tmp_path / "gen"
    gen.mkdir()
    q4 = make_gguf(gen / "q4.gguf", extra_bytes=300_000).read_bytes()
    q8 = make_gguf(gen / "q8.gguf", quant_file_type=7, extra_bytes=500_000).read_bytes()
    server.add(
        Repo(
            REPO,
            {"tiny.Q4_K_M.gguf": q4, "tiny.Q8_0.gguf": q8, "config.json": b'{"a": 1}'},
            tags=["gguf"],
        )
    )
    server.add(
        Repo(
            "org/st-model",
            {
                "model.safetensors": make_safetensors(gen / "m.safetensors").read_bytes(),
                "config.json": b"{}",
            },
            tags=["safetensors"],
        )
    )
    server.add(
        Repo(
            "org/split-GGUF",
            {
                "big-Q4_K_M-00001-of-00002.gguf": q4,
                "big-Q4_K_M-00002-of-00002.gguf": b"second part " * 1000,
            },
            tags=["gguf"],
        )
    )
    shared = make_gguf(gen / "shared.gguf", name="shared", quant_file_type=2).read_bytes()
    server.static["/files/shared.Q4_0.gguf"] = shared
    server.static["/files/other.Q4_0.gguf"] = q4
    sha = hashlib.sha256(shared).hexdigest()
    manifest = {
        "models": [
            {
                "id": "team/http-model",
                "name": "HTTP manifest model",
                "description": "over http",
                "files": [
                    {
                        "url": f"{server.url}/files/shared.Q4_0.gguf",
                        "size": len(shared),
                        "sha256": sha,
                    }
                ],
            }
        ]
    }
    server.static["/manifest.json"] = json.dumps(manifest).encode()
    yield server
    server.close()


@pytest.fixture
def modelfiles_config(hub: FakeHub, tmp_path: Path) -> dict[str, Any]:
    disk = tmp_path / "catalog.yaml"
    disk.write_text(
        "models:\n"
        "  - id: team/disk-model\n"
        "    name: Disk manifest model\n"
        "    description: from a YAML file\n"
        "    files:\n"
        f"      - url: {hub.url}/files/other.Q4_0.gguf\n"
        f'        sha256: "{hashlib.sha256(hub.static["/files/other.Q4_0.gguf"]).hexdigest()}"\n'
        "      - url: http://127.0.0.1:9/never.Q8_0.gguf\n"
    )
    return {
        "hf_endpoint": hub.url,
        "hf_cache_dir": str(tmp_path / "hf-cache"),
        "manifests": [str(disk), f"{hub.url}/manifest.json", str(tmp_path / "missing.yaml")],
    }


@pytest.fixture
def catalog(services: Any) -> Any:
    return services.catalog


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Poll an async ``check`` until it is truthy (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def mid(model_id: str, encoded: bool) -> str:
    return quote(model_id, safe="") if encoded else model_id


@pytest.mark.parametrize("encoded", [False, True])
async def test_hub_snapshot_files_and_pieces_model(
    api: Any, catalog: Any, hub: FakeHub, encoded: bool
) -> None:
    from pieces_os_client.models.model import Model

    r = await api("GET", f"v1/models/{mid(REPO, encoded)}")
    assert r.code == 200
    snap = body(r)
    assert snap["id"] == REPO and snap["source"] == "hub" and snap["cloud"] is False
    assert snap["custom"] is False and snap["downloaded"] is False
    assert snap["quantization"] == "Q4_K_M"  # the recommended file
    assert snap["recommended_file"] == "tiny.Q4_K_M.gguf"
    # parameters from the GGUF header: 32x64 + 2 x 64x64 + the 300 kB padding tensor (f32)
    assert snap["parameters"] == pytest.approx((32 * 64 + 2 * 64 * 64 + 75_000) / 1e9)
    assert snap["context_length"] == 2048 and snap["architecture"] == "llama"
    assert snap["bytes"]["value"] == len(hub.repos[REPO].files["tiny.Q4_K_M.gguf"])
    parsed = Model.from_dict(snap)
    assert parsed.id == REPO and parsed.cloud is False and parsed.type.value == "BALANCED"
    assert parsed.ram.value == snap["ram"]["value"] > snap["bytes"]["value"]

    r = await api("GET", f"v1/models/{mid(REPO, encoded)}/files")
    files = body(r)
    jsonschema.validate(files, FILES_RESPONSE)
    by_id = {f["id"]: f for f in files["data"]}
    assert set(by_id) == {"tiny.Q4_K_M.gguf", "tiny.Q8_0.gguf"}
    q8 = by_id["tiny.Q8_0.gguf"]
    assert q8["quantization"] == "Q8_0" and q8["format"] == "gguf"
    assert q8["downloadStatus"] == {"status": "not_started"} and q8["isDownloaded"] is False
    assert q8["downloadUrl"].startswith(catalog.hub.endpoint + f"/{REPO}/resolve/")
    # maxRamUsage = weights + KV cache (2 layers * 2048 ctx * 64 * 2 bytes) + overhead
    kv = 2 * 2048 * 64 * 2
    assert q8["maxRamUsage"] == int(q8["sizeBytes"] * 1.05 + kv + 64 * 1024 * 1024)

    r = await api("GET", f"v1/models/{mid(REPO, encoded)}/files/tiny.Q8_0.gguf")
    jsonschema.validate(body(r)["data"], MODEL_FILE)


async def test_download_lands_in_the_hugging_face_cache(
    api: Any, catalog: Any, hub: FakeHub
) -> None:
    cache = catalog.hf_cache_dir
    r = await api("POST", f"v1/models/{REPO}/download", json={"quantization": "Q8_0"})
    assert r.code == 200, r.body
    snap = body(r)
    assert snap["jobs"] and snap["jobs"][0]["file"] == "tiny.Q8_0.gguf"

    async def files() -> dict[str, Any]:
        return {
            f["id"]: f
            for f in body(await api("GET", f"v1/models/{quote(REPO, safe='')}/files"))["data"]
        }

    async def q8_downloaded() -> bool:
        return (await files())["tiny.Q8_0.gguf"]["isDownloaded"]

    await until(q8_downloaded)
    entry = (await files())["tiny.Q8_0.gguf"]
    jsonschema.validate(entry, MODEL_FILE)
    assert entry["downloadStatus"]["status"] == "completed"
    assert entry["downloadStatus"]["progress"]["downloadedRatio"] == 1.0
    found = try_to_load_from_cache(REPO, "tiny.Q8_0.gguf", cache_dir=str(cache))
    assert isinstance(found, str)
    assert entry["downloadStatus"]["localPath"] == found
    data = hub.repos[REPO].files["tiny.Q8_0.gguf"]
    assert Path(found).read_bytes() == data
    link = Path(found)
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve().name == hashlib.sha256(data).hexdigest()  # blobs/<sha256>
    repo_dir = cache / "models--org--tiny-GGUF"
    assert (repo_dir / "refs" / "main").read_text() == hub.repos[REPO].sha
    # huggingface_hub itself finds it without the network
    assert (
        hf_hub_download(REPO, "tiny.Q8_0.gguf", cache_dir=str(cache), local_files_only=True)
        == found
    )

    only = body(await api("GET", f"v1/models/{REPO}/files", params={"downloaded": "true"}))
    assert [f["id"] for f in only["data"]] == ["tiny.Q8_0.gguf"]
    snap = body(await api("GET", f"v1/models/{REPO}"))
    assert snap["downloaded"] is True and snap["quantization"] == "Q8_0"
    fmt, paths = await catalog.resolve_local(REPO)
    assert fmt == "gguf" and paths == [Path(found)]

    # the local copy can be deleted (file route), then the whole model's files
    r = await api("DELETE", f"v1/models/{quote(REPO, safe='')}/files/tiny.Q8_0.gguf")
    assert r.code == 200 and body(r)["data"]["isDownloaded"] is False
    assert (
        not link.exists() and not (repo_dir / "blobs" / hashlib.sha256(data).hexdigest()).exists()
    )
    with pytest.raises(Conflict, match="download it first"):
        await catalog.resolve_local(REPO)
    listing = body(await api("GET", "v1/models", params={"source": "local"}))
    assert REPO not in [m["id"] for m in listing["iterable"]]


async def test_lmstudio_download_by_hub_url(api: Any, catalog: Any, hub: FakeHub) -> None:
    url = f"{hub.url}/{REPO}"
    r = await api("POST", "v1/models/download", json={"model": url, "quantization": "Q4_K_M"})
    assert r.code == 200, r.body
    status = body(r)
    assert status["job_id"] and status["status"] in ("queued", "downloading", "completed")
    job_id = status["job_id"]

    async def completed() -> bool:
        return (await catalog.downloads.get(job_id)).status == "completed"

    await until(completed)

    async def done() -> bool:
        again = body(
            await api("POST", "v1/models/download", json={"model": url, "quantization": "Q4_K_M"})
        )
        return again["status"] == "already_downloaded"

    await until(done)
    assert try_to_load_from_cache(REPO, "tiny.Q4_K_M.gguf", cache_dir=str(catalog.hf_cache_dir))
    # A file URL picks that file
    r = await api(
        "POST", "v1/models/download", json={"model": f"{hub.url}/{REPO}/blob/main/tiny.Q4_K_M.gguf"}
    )
    assert body(r)["status"] == "already_downloaded"
    r = await api("POST", "v1/models/download", json={"model": REPO, "quantization": "Q3_K_S"})
    assert r.code == 404 and "available" in body(r)["error"]["message"]
    r = await api("POST", "v1/models/download", json={})
    assert r.code == 400


async def test_custom_model_lifecycle_and_shared_blob(
    api: Any, catalog: Any, hub: FakeHub, modelfiles_root: Path
) -> None:
    shared = hub.static["/files/shared.Q4_0.gguf"]
    sha = hashlib.sha256(shared).hexdigest()
    r = await api(
        "POST",
        "v1/models",
        json={
            "name": "My Model",
            "description": "mine",
            "files": [
                {"url": f"{hub.url}/files/shared.Q4_0.gguf", "sha256": sha, "size": len(shared)}
            ],
        },
    )
    assert r.code == 201, r.body
    snap = body(r)
    assert snap["id"] == "custom/my-model" and snap["custom"] is True
    assert (
        await api("POST", "v1/models", json={"name": "My Model", "files": [f"{hub.url}/x.gguf"]})
    ).code == 409
    for encoded in (False, True):
        r = await api("GET", f"v1/models/{mid('custom/my-model', encoded)}")
        assert r.code == 200 and body(r)["description"] == "mine"

    r = await api(
        "POST", "v1/models/update", json={"id": "custom/my-model", "description": "edited"}
    )
    assert r.code == 200 and body(r)["description"] == "edited" and body(r)["custom"] is True

    file_id = "shared.Q4_0.gguf"
    r = await api(
        "PATCH",
        f"v1/models/{mid('custom/my-model', True)}/files/{file_id}",
        json={"action": "start"},
    )
    assert r.code == 200 and body(r)["data"]["status"] in ("in_progress", "completed")

    async def downloaded(model_id: str) -> bool:
        r = await api("GET", f"v1/models/{model_id}/files/{file_id}")
        return body(r)["data"]["isDownloaded"]

    await until(lambda: downloaded("custom/my-model"))
    blob = modelfiles_root / "models" / "blobs" / sha
    assert blob.read_bytes() == shared

    # the HTTP manifest's model has the same file: stored once, no second download
    before = sum(1 for q in hub.requests if q.endswith("/files/shared.Q4_0.gguf"))
    r = await api("POST", f"v1/models/{mid('team/http-model', True)}/download")
    assert r.code == 200
    assert body(r)["downloaded"] is True
    assert sum(1 for q in hub.requests if q.endswith("/files/shared.Q4_0.gguf")) == before
    assert sorted(p.name for p in (modelfiles_root / "models" / "blobs").iterdir()) == [sha]
    _, paths = await catalog.resolve_local("team/http-model")
    assert paths[0].read_bytes() == shared and paths[0].resolve() == blob.resolve()

    # deleting one model's files keeps the blob the other still uses
    r = await api("DELETE", "v1/models/team/http-model")
    assert r.code == 200 and body(r)["downloaded"] is False
    assert blob.exists() and await downloaded("custom/my-model")
    r = await api("DELETE", "v1/models/custom%2Fmy-model", params={"forget": "true"})
    assert r.code == 200 and body(r) == {"id": "custom/my-model", "deleted": True}
    assert not blob.exists()
    assert (await api("GET", "v1/models/custom/my-model")).code == 404


async def test_refusals_are_clear_4xx(api: Any, catalog: Any) -> None:
    r = await api("POST", "v1/models/update", json={"id": REPO, "name": "x"})
    assert r.code == 403 and "custom" in body(r)["error"]["message"]
    r = await api("POST", "v1/models/update", json={"id": "team/disk-model", "name": "x"})
    assert r.code == 403
    r = await api("DELETE", "v1/models/team/disk-model", params={"forget": "true"})
    assert r.code == 403 and body(r)["error"]["code"] == "NOT_CUSTOM"
    assert (await api("POST", "v1/models/update", json={"id": "org/nope"})).code == 404
    assert (await api("POST", "v1/models/update", json={})).code == 400
    assert (await api("GET", "v1/models/org/nope")).code == 404
    assert (await api("GET", "v1/models/org%2Fnope/files")).code == 404
    assert (await api("GET", f"v1/models/{REPO}/files/nope.gguf")).code == 404
    r = await api("PATCH", f"v1/models/{REPO}/files/tiny.Q8_0.gguf", json={"action": "explode"})
    assert r.code == 400
    r = await api("PATCH", f"v1/models/{REPO}/files/tiny.Q8_0.gguf", json={"action": "pause"})
    assert r.code == 409
    assert (await api("POST", "v1/models", json={"name": "x", "files": ["ftp://a/b"]})).code == 400
    assert (await api("POST", "v1/models", json={"files": []})).code == 400
    assert (await api("GET", "v1/models", params={"page": "0"})).code == 400
    assert (await api("GET", "v1/models", params={"source": "moon"})).code == 400


async def test_listing_manifests_filters_and_pages(api: Any, catalog: Any) -> None:
    listing = body(await api("GET", "v1/models"))
    ids = [m["id"] for m in listing["iterable"]]
    assert "team/disk-model" in ids and "team/http-model" in ids
    assert any("missing.yaml" in w for w in listing["warnings"])
    disk = next(m for m in listing["iterable"] if m["id"] == "team/disk-model")
    assert {f["quantization"] for f in disk["files"]} == {"Q4_0", "Q8_0"}
    only_q8 = body(await api("GET", "v1/models", params={"quantization": "q8_0"}))
    assert [m["id"] for m in only_q8["iterable"]] == ["team/disk-model"]
    gguf = body(await api("GET", "v1/models", params={"format": "gguf", "source": "manifest"}))
    assert gguf["total"] == 2
    page = body(await api("GET", "v1/models", params={"page_size": "1", "source": "manifest"}))
    assert page["total"] == 2 and len(page["iterable"]) == 1 and page["has_more"] is True
    page2 = body(
        await api("GET", "v1/models", params={"page_size": "1", "page": "2", "source": "manifest"})
    )
    assert page2["iterable"][0]["id"] != page["iterable"][0]["id"] and not page2["has_more"]
    searched = body(await api("GET", "v1/models", params={"search": "tiny"}))
    assert REPO in [m["id"] for m in searched["iterable"]]
    hub_only = body(
        await api("GET", "v1/models", params={"source": "hub", "format": "safetensors"})
    )
    assert [m["id"] for m in hub_only["iterable"]] == ["org/st-model"]
    assert body(await api("GET", "v1/models", params={"loaded": "true"}))["total"] == 0


async def test_hub_unreachable_is_502_and_the_rest_works(api: Any, catalog: Any) -> None:
    """The Hub's own listing is a 502; a model no catalog has is a 404 that says the Hub could
    not be asked (issue 12, item 9); what the catalogs have still works."""
    catalog.hub = HubSource("http://127.0.0.1:9", token=None)
    r = await api("GET", "v1/models", params={"search": "model"})
    assert r.code == 200
    listing = body(r)
    assert {"team/disk-model", "team/http-model"} <= {m["id"] for m in listing["iterable"]}
    assert any("unreachable" in w for w in listing["warnings"])
    r = await api("GET", "v1/models", params={"source": "hub"})
    assert r.code == 502 and body(r)["error"]["code"] == "UPSTREAM_ERROR"
    for path in ("v1/models/org/anything", "v1/models/org%2Fanything/files"):
        r = await api("GET", path)
        assert r.code == 404 and body(r)["error"]["code"] == "NOT_FOUND", path
        message = body(r)["error"]["message"]
        assert "could not be asked" in message and "unreachable" in message
    assert (await api("GET", "v1/models/team%2Fdisk-model")).code == 200


async def test_safetensors_repo_quantization_from_header(api: Any, catalog: Any) -> None:
    files = body(await api("GET", "v1/models/org/st-model/files"))
    jsonschema.validate(files, FILES_RESPONSE)
    [entry] = files["data"]
    assert entry["format"] == "safetensors" and entry["quantization"] == "F16"
    snap = body(await api("GET", "v1/models/org%2Fst-model"))
    assert snap["parameters"] == pytest.approx(136 / 1e9)


async def test_split_gguf_is_one_logical_file(api: Any, catalog: Any, hub: FakeHub) -> None:
    repo = hub.repos["org/split-GGUF"]
    files = body(await api("GET", "v1/models/org%2Fsplit-GGUF/files"))
    jsonschema.validate(files, FILES_RESPONSE)
    [entry] = files["data"]
    assert entry["id"] == "big-Q4_K_M.gguf" and entry["quantization"] == "Q4_K_M"
    assert entry["sizeBytes"] == sum(len(d) for d in repo.files.values())
    r = await api(
        "PATCH", "v1/models/org/split-GGUF/files/big-Q4_K_M.gguf", json={"action": "start"}
    )
    assert r.code == 200, r.body

    async def downloaded() -> bool:
        r = await api("GET", "v1/models/org/split-GGUF/files/big-Q4_K_M.gguf")
        return body(r)["data"]["isDownloaded"]

    await until(downloaded)
    fmt, paths = await catalog.resolve_local("org/split-GGUF")
    assert fmt == "gguf"
    assert [p.name for p in paths] == sorted(repo.files)
    assert [p.read_bytes() for p in paths] == [repo.files[n] for n in sorted(repo.files)]
    data = body(await api("GET", "v1/models/org/split-GGUF/files/big-Q4_K_M.gguf"))["data"]
    assert data["downloadStatus"]["localPath"] == str(paths[0])
    assert data["downloadStatus"]["progress"]["downloadedRatio"] == 1.0


async def test_load_needs_a_download_then_reports_memory(api: Any, catalog: Any) -> None:
    r = await api("POST", f"v1/models/{REPO}/load")
    assert r.code == 409 and "download it first" in body(r)["error"]["message"]
    r = await api(
        "POST", f"v1/models/{quote(REPO, safe='')}/download", json={"files": ["tiny.Q8_0.gguf"]}
    )
    assert r.code == 200

    async def downloaded() -> bool:
        return body(await api("GET", f"v1/models/{REPO}"))["downloaded"]

    await until(downloaded)
    r = await api("POST", f"v1/models/{quote(REPO, safe='')}/load")
    assert r.code == 200, r.body
    snap = body(await api("GET", f"v1/models/{REPO}"))
    assert snap["loaded"] is True and snap["loaded_rss_bytes"] > 0
    listing = body(await api("GET", "v1/models", params={"loaded": "true"}))
    assert [m["id"] for m in listing["iterable"]] == [REPO]
    r = await api("POST", f"v1/models/{REPO}/unload")
    assert r.code == 200
    assert body(await api("GET", f"v1/models/{REPO}"))["loaded"] is False
