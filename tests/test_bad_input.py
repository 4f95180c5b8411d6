"""Bad input answers a clear 4xx JSON error, never a 500, and stores nothing.

Custom models have every field's type checked on the way in; a damaged row already in the
database never breaks a listing; ids that a raw path could not reach are refused.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import body
from .multipart import multipart

URL = "http://127.0.0.1:9/tiny.Q4_K_M.gguf"


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    return {"hf_endpoint": "http://127.0.0.1:9"}  # never the internet


def custom(**fields: Any) -> dict[str, Any]:
    """A valid registration body, with ``fields`` replacing or adding to it."""
    file = {"url": URL, "size": 1000}
    file.update(fields.pop("file", {}))
    return {"name": "Typed", "id": "custom/typed", "files": [file], **fields}


def assert_error(response: Any, status: int, *words: str) -> None:
    assert response.code == status, response.body
    error = body(response)["error"]
    assert set(error) == {"code", "message"}
    for word in words:
        assert word in error["message"], error["message"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"file": {"quantization": 5}}, "'quantization'"),
        ({"file": {"quantization": ["Q4"]}}, "'quantization'"),
        ({"file": {"name": 5}}, "'name'"),
        ({"file": {"format": ["gguf"]}}, "'format'"),
        ({"file": {"size": "10"}}, "'size'"),
        ({"file": {"size": True}}, "'size'"),
        ({"file": {"sha256": "z" * 64}}, "'sha256'"),
        ({"file": {"name": ".."}}, "'name'"),
        ({"file": {"name": "a/../b.gguf"}}, "'name'"),
        ({"file": {"url": "http://127.0.0.1:9/.."}}, "'name'"),
        ({"description": 5}, "'description'"),
        ({"parameters": "7B"}, "'parameters'"),
        ({"context_length": 4096.5}, "'context_length'"),
        ({"context_length": {"n": 1}}, "'context_length'"),
        ({"provider": ["x"]}, "'provider'"),
    ],
)
async def test_custom_model_fields_are_typed_and_nothing_is_stored(
    api: Any, fields: dict[str, Any], named: str
) -> None:
    r = await api("POST", "v1/models", json=custom(**fields))
    assert_error(r, 400, named)
    assert (await api("GET", "v1/models/custom/typed")).code == 404
    listing = await api("GET", "v1/models", params={"source": "custom"})
    assert listing.code == 200 and body(listing)["total"] == 0


async def test_update_checks_types_too(api: Any) -> None:
    assert (await api("POST", "v1/models", json=custom())).code == 201
    r = await api(
        "POST",
        "v1/models/update",
        json={"id": "custom/typed", "files": [{"url": URL, "quantization": 5}]},
    )
    assert_error(r, 400, "'quantization'")
    r = await api("POST", "v1/models/update", json={"id": "custom/typed", "parameters": [1]})
    assert_error(r, 400, "'parameters'")
    [model] = body(await api("GET", "v1/models", params={"source": "custom"}))["iterable"]
    assert model["files"][0]["quantization"] == "Q4_K_M"


async def test_a_damaged_row_never_breaks_a_listing(
    api: Any, services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await api("POST", "v1/models", json=custom())).code == 201
    damaged = {
        "id": "custom/damaged",
        "name": "Damaged",
        "source": "custom",
        "custom": True,
        "files": [
            {
                "id": "x.gguf",
                "name": "x.gguf",
                "format": "gguf",
                "quantization": 5,
                "parts": [{"filename": "x.gguf", "url": URL}],
            }
        ],
    }
    db = services.catalog.state.db
    for model_id, data in (("custom/damaged", json.dumps(damaged)), ("custom/garbage", "{[")):
        await db.execute(
            "INSERT INTO catalog_custom_models (id, data, created_at, updated_at) "
            "VALUES (?, ?, 0, 0)",
            (model_id, data),
        )
    caplog.set_level(logging.WARNING, logger="jupyter_modelfiles.catalog.localstate")
    for params in ({}, {"source": "custom"}, {"downloaded": "false"}):
        r = await api("GET", "v1/models", params=params)
        assert r.code == 200, r.body
        assert [m["id"] for m in body(r)["iterable"] if m["custom"]] == ["custom/typed"]
    skipped = [r.getMessage() for r in caplog.records if "damaged row" in r.getMessage()]
    assert len(skipped) == 2 and any("custom/damaged" in m for m in skipped), skipped
    assert (await api("GET", "v1/models/custom/damaged")).code == 404

    # registering the id again repairs the row
    r = await api("POST", "v1/models", json=custom(id="custom/damaged"))
    assert r.code == 201, r.body
    ids = [m["id"] for m in body(await api("GET", "v1/models"))["iterable"]]
    assert "custom/damaged" in ids


JSON_ROUTES = [
    ("POST", "v1/models"),
    ("POST", "v1/models/update"),
    ("POST", "v1/models/download"),
    ("PATCH", "v1/models/custom%2Ftyped/files/tiny.Q4_K_M.gguf"),
    ("POST", "v1/models/custom%2Ftyped/download"),
    ("POST", "v1/downloads"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_deeply_nested_json_is_400(api: Any, method: str, path: str) -> None:
    assert (await api("POST", "v1/models", json=custom())).code == 201
    deep = b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert_error(await api(method, path, body=deep), 400, "nested")
    deep_list = b"[" * 100_000 + b"]" * 100_000
    assert_error(await api(method, path, body=deep_list), 400)


@pytest.mark.parametrize("purpose", [5, ["batch"], {"a": 1}, True])
async def test_download_purpose_must_be_a_string(api: Any, purpose: Any) -> None:
    r = await api(
        "POST", "v1/downloads", json={"url": "http://127.0.0.1:9/x.bin", "purpose": purpose}
    )
    assert_error(r, 400, "purpose")


async def test_range_with_thousands_of_digits(api: Any) -> None:
    payload, ctype = multipart({"purpose": "user_data"}, b"0123456789")
    file_id = body(await api("POST", "v1/files", body=payload, headers={"Content-Type": ctype}))[
        "id"
    ]
    path = f"v1/files/{file_id}/content"
    r = await api("GET", path, headers={"Range": "bytes=0-" + "9" * 4301})
    assert r.code == 206 and r.body == b"0123456789"
    assert r.headers["Content-Range"] == "bytes 0-9/10"
    r = await api("GET", path, headers={"Range": "bytes=" + "9" * 4301 + "-"})
    assert_error(r, 416)
    r = await api("GET", path, headers={"Range": "bytes=-" + "0" * 4300 + "3"})
    assert r.code == 206 and r.body == b"789"


@pytest.mark.parametrize(
    "model_id",
    [
        "org/files",
        "org/download",
        "org/load",
        "org/unload",
        "org/files/x",
        "org/download/cancel",
        "update",
        "download",
        "org/../x",
        "org//x",
    ],
)
async def test_ids_a_raw_path_cannot_reach_are_refused(api: Any, model_id: str) -> None:
    r = await api("POST", "v1/models", json=custom(id=model_id))
    assert_error(r, 400, "'id'")
    assert body(await api("GET", "v1/models", params={"source": "custom"}))["total"] == 0


async def test_a_name_that_slugs_to_a_route_word_is_refused(api: Any) -> None:
    body_ = custom(name="Files")
    del body_["id"]
    assert_error(await api("POST", "v1/models", json=body_), 400, "'files'")


@pytest.mark.parametrize("encoded", [False, True])
async def test_accepted_ids_are_reached_raw_and_encoded(api: Any, encoded: bool) -> None:
    model_id = "org/files-and-downloads"
    assert (await api("POST", "v1/models", json=custom(id=model_id))).code == 201
    mid = quote(model_id, safe="") if encoded else model_id
    r = await api("GET", f"v1/models/{mid}")
    assert r.code == 200 and body(r)["id"] == model_id
    r = await api("GET", f"v1/models/{mid}/files")
    assert r.code == 200 and [f["id"] for f in body(r)["data"]] == ["tiny.Q4_K_M.gguf"]
    r = await api("GET", f"v1/models/{mid}/files/tiny.Q4_K_M.gguf")
    assert r.code == 200 and body(r)["data"]["id"] == "tiny.Q4_K_M.gguf"
