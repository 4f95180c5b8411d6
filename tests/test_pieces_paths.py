"""Pieces: the seed's singular paths (``model/{id}``...) are aliases of the plural ones, and a
model whose source gives no creation time keeps the time it was first seen."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest

from jupyter_modelfiles.openapi import PIECES_SINGULAR, build_document, singular

from .conftest import body
from .test_models_api import REPO, hub, modelfiles_config  # noqa: F401  (fixtures)


async def test_a_manifest_models_created_is_stable(api: Any, services: Any) -> None:
    first = body(await api("GET", "v1/models/team/disk-model"))["created"]
    await asyncio.sleep(1.1)
    again = body(await api("GET", "v1/models/team%2Fdisk-model"))["created"]
    listed = body(await api("GET", "v1/models", params={"source": "manifest"}))["iterable"]
    assert again == first
    assert next(m for m in listed if m["id"] == "team/disk-model")["created"] == first
    # stored: a later first sighting (a restart, a re-read manifest) keeps the first time
    stored = await services.catalog.state.first_seen("team/disk-model", "2099-01-01T00:00:00Z")
    assert stored == first["value"]


def test_every_singular_path_of_the_seed_is_documented_as_an_alias() -> None:
    paths = build_document()["paths"]
    seed = {
        "/v1/model/{model_id}",
        "/v1/model/{model_id}/download",
        "/v1/model/{model_id}/download/cancel",
        "/v1/model/{model_id}/download/progress",
        "/v1/model/{model_id}/load",
        "/v1/model/{model_id}/unload",
        "/v1/model/update",
    }
    assert {singular(p) for p in PIECES_SINGULAR} == seed
    for plural in PIECES_SINGULAR:
        alias = paths[singular(plural)]
        assert set(alias) == set(paths[plural])
        for method, operation in alias.items():
            assert f"alias of `{plural}`" in operation["description"]
            assert operation["responses"] == paths[plural][method]["responses"]


@pytest.mark.parametrize("encoded", [False, True])
async def test_singular_paths_answer_as_the_plural_ones(
    api: Any, jp_ws_fetch: Any, encoded: bool
) -> None:
    model = quote(REPO, safe="") if encoded else REPO
    plural = body(await api("GET", f"v1/models/{model}"))
    single = await api("GET", f"v1/model/{model}")
    assert single.code == 200 and body(single) == plural

    r = await api("POST", f"v1/model/{model}/load")
    assert r.code == 409 and body(r)["error"]["code"] == "CONFLICT"  # not downloaded yet
    r = await api("POST", f"v1/model/{model}/unload")
    assert r.code == 200 and body(r)["loaded"] is False

    progress = await jp_ws_fetch("modelfiles", "v1", "model", model, "download", "progress")
    r = await api("POST", f"v1/model/{model}/download", json={"files": ["tiny.Q8_0.gguf"]})
    assert r.code == 200 and body(r)["id"] == REPO
    assert (body(r)["downloading"] or body(r)["downloaded"]) is True
    if body(r)["downloading"]:
        message = await asyncio.wait_for(progress.read_message(), 20)
        assert '"model_id": "org/tiny-GGUF"' in message
    progress.close()
    r = await api("POST", f"v1/model/{model}/download/cancel")
    assert r.code == 200 and body(r)["downloading"] is False

    r = await api(
        "POST",
        "v1/models",
        json={"name": "Alias", "files": [{"url": "http://127.0.0.1:9/a.Q4_0.gguf"}]},
    )
    assert r.code == 201
    r = await api("POST", "v1/model/update", json={"id": "custom/alias", "description": "new"})
    assert r.code == 200 and body(r)["description"] == "new"
