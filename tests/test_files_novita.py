"""The files list as Novita shapes it: ``{code, message, data}`` beside OpenAI's and Mistral's
fields, ``metadata.total_requests`` of batch inputs, ``expires_at`` of batch outputs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jupyter_modelfiles.files.models import count_requests

from .conftest import body
from .test_files_api import upload


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    return {"batch_output_expiry_hours": 2.0}


async def test_the_list_carries_novitas_code_and_message(api: Any) -> None:
    created = body(await upload(api, b"{}\n", filename="in.jsonl", purpose="batch"))
    listing = body(await api("GET", "v1/files"))
    assert listing["code"] == "200" and listing["message"] == "success"
    assert listing["object"] == "list" and [f["id"] for f in listing["data"]] == [created["id"]]
    cursor = body(await api("GET", "v1/files", params={"limit": "1", "order": "asc"}))
    assert cursor["code"] == "200" and cursor["message"] == "success"


@pytest.mark.parametrize(
    ("content", "requests", "lines"),
    [
        (b'{"a": 1}\n{"a": 2}\n{"a": 3}\n\n', 3, 4),
        (b'{"a": 1}\n\n{"a": 2}\n   \n{"a": 3}', 3, 5),
        (b'\n\n{"a": 1}\r\n\r\n', 1, 4),
        (b"\n", 0, 1),
    ],
)
async def test_total_requests_counts_only_non_blank_lines(
    api: Any, content: bytes, requests: int, lines: int
) -> None:
    created = body(await upload(api, content, filename="in.jsonl", purpose="batch"))
    assert created["metadata"] == {"total_requests": requests}
    assert created["num_lines"] == lines
    [listed] = body(await api("GET", "v1/files"))["data"]
    assert listed["metadata"] == {"total_requests": requests}


def test_count_requests_across_chunk_boundaries() -> None:
    data = b'{"a": 1}\n  \n{"b": 2}\n\n{"c": 3}  '
    for size in range(1, len(data) + 1):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert count_requests(chunks) == 3, size


async def test_batch_output_expires_by_default_and_others_never(api: Any) -> None:
    output = body(await upload(api, b"{}\n", filename="out.jsonl", purpose="batch_output"))
    assert output["expires_at"] == pytest.approx(time.time() + 2 * 3600, abs=60)
    chosen = body(await upload(api, b"{}\n", purpose="batch_output", expiry="1"))
    assert chosen["expires_at"] == pytest.approx(time.time() + 3600, abs=60)
    plain = body(await upload(api, b"x", purpose="user_data"))
    assert "expires_at" not in plain
    batch = body(await upload(api, b"{}\n", filename="in.jsonl", purpose="batch"))
    assert "expires_at" not in batch
    listed = {f["id"]: f for f in body(await api("GET", "v1/files"))["data"]}
    assert "expires_at" not in listed[plain["id"]] and "expires_at" not in listed[batch["id"]]
    assert listed[output["id"]]["expires_at"] == output["expires_at"]
    assert "expires_at" not in body(await api("GET", f"v1/files/{plain['id']}"))
