"""Models that huggingface_hub itself put in the cache are local models of the catalog: they
are listed by ``source=local`` and ``downloaded=true``, read from the cache without the Hub."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from .conftest import body
from .hub_server import FakeHub, Repo
from .test_models_api import hub, modelfiles_config  # noqa: F401  (fixtures)

REPO = "org/plain-GGUF"


class PlainRepo(Repo):
    """A repo whose files are served by the Hub itself (no LFS redirect to a CDN host: the
    fake Hub's CDN shares its host, and huggingface_hub follows same-host redirects)."""

    def is_lfs(self, name: str) -> bool:
        return False


async def test_hf_hub_downloads_are_listed_as_local(
    api: Any,
    services: Any,
    hub: FakeHub,  # noqa: F811  (the imported fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = hub.repos["org/tiny-GGUF"].files
    hub.add(PlainRepo(REPO, {"tiny.Q8_0.gguf": tiny["tiny.Q8_0.gguf"], "README.md": b"hi"}))
    split = hub.repos["org/split-GGUF"].files
    hub.add(PlainRepo("org/plain-split-GGUF", dict(split)))
    st = hub.repos["org/st-model"].files
    hub.add(PlainRepo("org/plain-st", dict(st)))
    hub.add(PlainRepo("org/configs-only", {"config.json": b"{}"}))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    cache = str(services.catalog.hf_cache_dir)

    def fetch() -> None:
        hf_hub_download(REPO, "tiny.Q8_0.gguf", cache_dir=cache, endpoint=hub.url)
        snapshot_download("org/plain-st", cache_dir=cache, endpoint=hub.url)
        # one of the two parts of a split model
        hf_hub_download(
            "org/plain-split-GGUF",
            "big-Q4_K_M-00001-of-00002.gguf",
            cache_dir=cache,
            endpoint=hub.url,
        )
        # no weights file: not a model of the catalog
        hf_hub_download("org/configs-only", "config.json", cache_dir=cache, endpoint=hub.url)

    await asyncio.to_thread(fetch)
    asked = len(hub.requests)

    for params in ({"source": "local"}, {"downloaded": "true"}, {}):
        r = await api("GET", "v1/models", params=params)
        assert r.code == 200, r.body
        listed = {m["id"]: m for m in body(r)["iterable"]}
        assert {REPO, "org/plain-st"} <= set(listed), params
        assert "org/configs-only" not in listed
        tiny = listed[REPO]
        assert tiny["downloaded"] is True and tiny["source"] == "hub"
        by_id = {f["id"]: f for f in tiny["files"]}
        assert by_id["tiny.Q8_0.gguf"]["isDownloaded"] is True
        assert listed["org/plain-st"]["downloaded"] is True
    # the split model has one of its two parts: listed, not downloaded
    r = await api("GET", "v1/models", params={"downloaded": "false", "source": "local"})
    assert [m["id"] for m in body(r)["iterable"]] == []
    r = await api("GET", "v1/models", params={"downloaded": "false"})
    assert "org/plain-split-GGUF" in [m["id"] for m in body(r)["iterable"]]
    # the cache alone answered (the fake Hub also serves an HTTP manifest: that one is read)
    assert [q for q in hub.requests[asked:] if "/api/" in q or "/resolve/" in q] == []
